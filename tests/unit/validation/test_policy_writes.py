"""EXTERNAL_COMMIT_POLICY writes: the XIP's lifecycle invariants as a post-state rule.

Every commit here is the real ts-mls member commit (the creator, leaf 0) with its proposals
replaced and re-signed by the real leaf key, or the real ts-mls external commit re-signed
by the joiner's real key. Each invariant is accepted at its boundary and rejected one step
past it; XIP test case 26 has its own test.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from invitekit.commit_validation import (
    MEMBER_CHECKS,
    Accepted,
    Check,
    Verdict,
    validate_member_commit,
)
from invitekit.mls import parse_group_info
from invitekit.mls.appdata import build_app_data_dictionary
from invitekit.mls.framing import decode_public_message
from invitekit.mls.proposals import PROPOSAL_GROUP_CONTEXT_EXTENSIONS, Proposal, ProposalOrRef
from invitekit.mls.schema import EXTENSION_APP_DATA_DICTIONARY
from invitekit.pointer import HttpsPointer
from invitekit.policy import ExternalCommitPolicy, enable, revoke
from invitekit.proto import external_commit_policy_pb2 as pb
from invitekit.proto import external_invite_pb2 as invite_pb
from invitekit.xmtp_components import EXTERNAL_COMMIT_POLICY
from tests.support.commits import (
    Group,
    app_data_update,
    by_reference,
    by_value,
    resign,
    revoked,
    shaped,
    tsmls,
)

from .conftest import accepted, rejected, run

LIFECYCLE = Check.POLICY_LIFECYCLE.value
KEY = bytes(range(32))
SLOT = b"slot-0002"


@pytest.fixture
def group() -> Group:
    return tsmls()


def raw_policy(
    *,
    allow: bool,
    key: bytes | None = None,
    slot: bytes = b"",
    expires_at_ns: int = 0,
    expire_in_ns: int = 0,
    max_uses: int = 0,
    pointers: int = 0,
) -> bytes:
    """An ExternalCommitPolicyEntry written with the generated protobuf directly, so it can
    break the invariants that :class:`ExternalCommitPolicy` refuses to construct."""
    v1 = pb.ExternalCommitPolicyV1(
        allow_external_commit=allow,
        expires_at_ns=expires_at_ns,
        expire_in_ns=expire_in_ns,
        external_group_id=slot,
        max_uses=max_uses,
    )
    if key is not None:
        v1.symmetric_key.CopyFrom(invite_pb.SymmetricKey(material=key))
    for i in range(pointers):
        v1.refresh_pointers.add().https_url = f"https://refresh{i}.example.org/v1"
    return pb.ExternalCommitPolicyEntry(v1=v1).SerializeToString()


def member_commit(
    group: Group, proposals: tuple[ProposalOrRef, ...], state: bytes | None = None
) -> bytes:
    """The real member commit carrying ``proposals``, signed against ``state``'s context."""
    message = decode_public_message(group.file("member-commit"))
    context = parse_group_info(state or group.group_info).group_context_bytes
    return resign(message, group.signer, context, proposals)


def write(*entries: bytes | None) -> tuple[ProposalOrRef, ...]:
    """AppDataUpdate(EXTERNAL_COMMIT_POLICY) proposals (None: remove the component)."""
    return tuple(app_data_update(EXTERNAL_COMMIT_POLICY, e) for e in entries)


Check_ = Callable[[bytes], Verdict]


@pytest.fixture
def on_enabled(group: Group) -> Check_:
    """Validate a policy write against the real group (policy enabled, key K, slot 01)."""

    def check(entry: bytes) -> Verdict:
        return validate_member_commit(member_commit(group, write(entry)), group.view)

    return check


@pytest.fixture
def on_revoked(group: Group) -> Check_:
    """Validate a policy write against the group re-signed with its invite revoked."""
    state = revoked(group)

    def check(entry: bytes) -> Verdict:
        return run(member_commit(group, write(entry), state), state)

    return check


def test_case_26_revoke_clears_per_invite_state(group: Group, on_enabled: Check_) -> None:
    """XIP test case 26, at the validator: a revoke leaving any per-invite field is
    rejected, as is planting one while the switch is off; a conforming revoke is
    byte-identical to a policy that never had an invite; a re-enable needs fresh values."""
    live = group.policy
    assert live.allow_external_commit
    assert live.symmetric_key is not None
    durable = {"expire_in_ns": live.expire_in_ns, "max_uses": live.max_uses}
    leftovers = {
        "symmetric_key": raw_policy(allow=False, key=live.symmetric_key, **durable),
        "external_group_id": raw_policy(allow=False, slot=live.external_group_id, **durable),
        "expires_at_ns": raw_policy(allow=False, expires_at_ns=live.expires_at_ns, **durable),
        "refresh_pointers": raw_policy(allow=False, pointers=1, **durable),
        "empty key submessage": raw_policy(allow=False, key=b"", **durable),
    }
    for name, entry in leftovers.items():
        verdict = on_enabled(entry)
        assert rejected(verdict, LIFECYCLE, "policy-disabled-with-invite-fields"), name

    # planting any of them while the switch is already off is rejected too
    off = revoked(group)
    for name, entry in leftovers.items():
        verdict = run(member_commit(group, write(entry), off), off)
        assert rejected(verdict, LIFECYCLE, "policy-disabled-with-invite-fields"), name

    # a conforming revoke: accepted, and byte-identical to a never-enabled policy
    conforming = revoke(live).to_entry_bytes()
    assert conforming == ExternalCommitPolicy(**durable).to_entry_bytes()
    assert conforming == raw_policy(allow=False, **durable)
    verdict = on_enabled(conforming)
    assert isinstance(verdict, Accepted)
    assert verdict.policy_writes == 1

    # re-enabling requires freshly minted values: in one commit, revoke then re-enable
    # with the revoked key is refused; with a fresh key (the setter's enable) accepted
    same_key = raw_policy(allow=True, key=live.symmetric_key, slot=SLOT, **durable)
    commit = member_commit(group, write(conforming, same_key))
    verdict = validate_member_commit(commit, group.view)
    assert rejected(verdict, LIFECYCLE, "policy-key-reused")
    fresh = enable(revoke(live), random_bytes=lambda n: bytes([7]) * n).to_entry_bytes()
    verdict = validate_member_commit(member_commit(group, write(conforming, fresh)), group.view)
    assert accepted(verdict)
    # ... and a re-enable that does not mint the coordinates at all is refused
    assert rejected(
        on_enabled(raw_policy(allow=True, **durable)), LIFECYCLE, "policy-enabled-without-invite"
    )


def test_enable_needs_key_and_slot_id(on_revoked: Check_) -> None:
    assert accepted(on_revoked(raw_policy(allow=True, key=KEY, slot=SLOT)))
    for entry in (
        raw_policy(allow=True, slot=SLOT),  # no key
        raw_policy(allow=True, key=KEY),  # no slot id
        raw_policy(allow=True),  # neither
        raw_policy(allow=True, key=b"", slot=SLOT),  # an empty key submessage
    ):
        assert rejected(on_revoked(entry), LIFECYCLE, "policy-enabled-without-invite")


@pytest.mark.parametrize(
    ("key", "slot", "ok"),
    [
        (KEY, b"abcd", True),  # slot id at its 4-byte floor
        (KEY, b"abc", False),  # one byte short
        (bytes(32), SLOT, True),  # key exactly 32 bytes
        (bytes(31), SLOT, False),
        (bytes(33), SLOT, False),
    ],
)
def test_enabled_field_lengths(on_revoked: Check_, key: bytes, slot: bytes, ok: bool) -> None:
    verdict = on_revoked(raw_policy(allow=True, key=key, slot=slot))
    if ok:
        assert accepted(verdict)
    else:
        assert rejected(verdict, LIFECYCLE, "policy-invite-field-invalid")


@pytest.mark.parametrize(
    ("field", "at_bound", "past_bound"),
    [
        ("expires_at_ns", {"expires_at_ns": 0}, {"expires_at_ns": 1}),
        ("refresh_pointers", {"pointers": 0}, {"pointers": 1}),
        ("external_group_id", {"slot": b""}, {"slot": b"\x00"}),
        ("key", {"key": None}, {"key": b""}),  # an empty SymmetricKey submessage
    ],
)
def test_disabled_carries_no_invite_field(
    on_enabled: Check_, field: str, at_bound: dict[str, object], past_bound: dict[str, object]
) -> None:
    durable = {"expire_in_ns": 5, "max_uses": 7}  # the durable settings survive
    assert accepted(on_enabled(raw_policy(allow=False, **durable, **at_bound)))  # type: ignore[arg-type]
    verdict = on_enabled(raw_policy(allow=False, **durable, **past_bound))  # type: ignore[arg-type]
    assert rejected(verdict, LIFECYCLE, "policy-disabled-with-invite-fields")
    assert field in verdict.detail  # type: ignore[union-attr]


def test_enabled_policy_keeps_its_optional_fields(on_enabled: Check_) -> None:
    """While enabled, expires_at_ns 0 and an empty pointer list stay legal, and so do
    set values: the disabled-state rule does not leak into the enabled state."""
    assert accepted(on_enabled(raw_policy(allow=True, key=KEY, slot=SLOT)))
    full = raw_policy(allow=True, key=KEY, slot=SLOT, expires_at_ns=9, pointers=2, max_uses=1)
    assert accepted(on_enabled(full))


def test_rotation_keeping_the_key_is_not_a_reenable(group: Group, on_enabled: Check_) -> None:
    """An enabled → enabled write (a slot rotation, a settings change) may keep the key:
    only a revoke followed by a re-enable in the same commit shows key reuse."""
    live = group.policy
    assert live.symmetric_key is not None
    same_key = replace(live, external_group_id=SLOT, max_uses=9).to_entry_bytes()
    assert accepted(on_enabled(same_key))


def test_reenable_after_a_revoke_in_the_same_commit(group: Group) -> None:
    live = group.policy
    assert live.symmetric_key is not None
    off = revoke(live).to_entry_bytes()
    first = raw_policy(allow=True, key=KEY, slot=SLOT)
    again = raw_policy(allow=True, key=KEY, slot=b"slot-0003")

    def verdict(*entries: bytes | None) -> Verdict:
        return validate_member_commit(member_commit(group, write(*entries)), group.view)

    # enable K2, revoke, enable K2 again: K2 was revoked in this commit
    assert rejected(verdict(first, off, again), LIFECYCLE, "policy-key-reused")
    # component removal is a revoke too (no policy: the default, disabled one)
    live_again = replace(live, external_group_id=SLOT).to_entry_bytes()
    assert rejected(verdict(None, live_again), LIFECYCLE, "policy-key-reused")
    # enable K2 then rotate to K3 without a revoke between: fine
    assert accepted(verdict(first, raw_policy(allow=True, key=bytes(32), slot=SLOT)))


def test_removing_the_component_is_a_valid_post_state(on_enabled: Check_, group: Group) -> None:
    commit = member_commit(group, write(None))
    assert accepted(validate_member_commit(commit, group.view))


def test_malformed_policy_write(on_enabled: Check_) -> None:
    assert rejected(on_enabled(b"\xff\xff"), LIFECYCLE, "policy-write-malformed")
    too_many = raw_policy(allow=True, key=KEY, slot=SLOT, pointers=65)
    assert rejected(on_enabled(too_many), LIFECYCLE, "policy-write-malformed")


def test_unknown_policy_version_reads_as_default(on_enabled: Check_) -> None:
    """The XIP's tolerance rule: an unknown variant is the default (disabled, no invite)
    policy, which satisfies the invariants."""
    assert accepted(on_enabled(b"\x12\x00"))  # oneof field 2, an empty message


def test_policy_write_by_reference_is_checked(group: Group) -> None:
    bad = app_data_update(EXTERNAL_COMMIT_POLICY, raw_policy(allow=True, slot=SLOT))
    assert bad.proposal is not None
    commit = member_commit(group, (by_reference(b"\x01" * 32),))
    verdict = validate_member_commit(commit, group.view, resolve_reference=lambda _r: bad.proposal)
    assert rejected(verdict, LIFECYCLE, "policy-enabled-without-invite")


def gce(group: Group, policy_entry: bytes | None) -> ProposalOrRef:
    """A GroupContextExtensions proposal: the group's extensions with the dictionary's
    EXTERNAL_COMMIT_POLICY replaced (None: the whole dictionary dropped)."""
    view = group.view
    current = {
        c.component_id: c.data for c in (view.app_data.component_data if view.app_data else ())
    }
    extensions = []
    for extension in view.context.extensions:
        if extension.extension_type != EXTENSION_APP_DATA_DICTIONARY:
            extensions.append(extension)
        elif policy_entry is not None:
            data = build_app_data_dictionary({**current, EXTERNAL_COMMIT_POLICY: policy_entry})
            extensions.append(replace(extension, extension_data=data.to_bytes(), raw=b""))
    return by_value(
        Proposal(proposal_type=PROPOSAL_GROUP_CONTEXT_EXTENSIONS, extensions=tuple(extensions))
    )


def test_group_context_extensions_write_is_checked(group: Group) -> None:
    def verdict(proposal: ProposalOrRef) -> Verdict:
        return validate_member_commit(member_commit(group, (proposal,)), group.view)

    planted = raw_policy(allow=False, key=KEY)
    assert rejected(verdict(gce(group, planted)), LIFECYCLE, "policy-disabled-with-invite-fields")
    assert accepted(verdict(gce(group, revoke(group.policy).to_entry_bytes())))
    assert accepted(verdict(gce(group, None)))  # no dictionary: no policy, the default


def test_member_commit_reports_the_rules_that_ran(group: Group, on_enabled: Check_) -> None:
    verdict = on_enabled(revoke(group.policy).to_entry_bytes())
    assert isinstance(verdict, Accepted)
    assert verdict.checks == MEMBER_CHECKS
    assert (verdict.policy_writes, verdict.membership_updates) == (1, 0)


def test_external_commit_may_not_write_the_policy(group: Group) -> None:
    """An external commit never writes EXTERNAL_COMMIT_POLICY, not even a valid policy and
    not even in place of the membership insert."""
    for entry in (group.policy.to_entry_bytes(), revoke(group.policy).to_entry_bytes(), None):
        beside = shaped(group, extra=write(entry))
        assert rejected(run(beside, group.group_info), "5", "external-policy-write")
    message = decode_public_message(group.file("external-plain"))
    assert message.content.commit is not None
    (init,) = message.content.commit.proposals
    policy = enable(random_bytes=lambda n: b"\x05" * n).to_entry_bytes()
    alone = shaped(group, proposals=(init, *write(policy)))
    assert rejected(run(alone, group.group_info), "5", "external-policy-write")
    # the same shape without the policy write is the accepted atomic shape
    assert accepted(run(shaped(group), group.group_info))


def test_refresh_pointers_survive_only_while_enabled(on_enabled: Check_) -> None:
    enabled = ExternalCommitPolicy(
        allow_external_commit=True,
        symmetric_key=KEY,
        external_group_id=SLOT,
        refresh_pointers=(HttpsPointer("https://refresh.example.org/v1"),),
    )
    assert accepted(on_enabled(enabled.to_entry_bytes()))

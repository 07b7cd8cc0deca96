"""Every check accepted at its boundary and rejected one step past it; the order is fixed."""

from __future__ import annotations

from dataclasses import replace

import pytest

from invitekit.commit_validation import Accepted
from invitekit.mls.framing import (
    CONTENT_APPLICATION,
    SENDER_EXTERNAL,
    decode_public_message,
    encode_public_message,
)
from invitekit.mls.proposals import (
    PROPOSAL_GROUP_CONTEXT_EXTENSIONS,
    PROPOSAL_REINIT,
    PROPOSAL_REMOVE,
    PROPOSAL_UPDATE,
    Proposal,
    ReInit,
)
from invitekit.xmtp_components import (
    GROUP_MEMBERSHIP,
    MUTATION_DELETE,
    MUTATION_INSERT,
    MUTATION_UPDATE,
    MembershipEntry,
    encode_delta,
)
from tests.support.commits import (
    Group,
    add,
    app_data_update,
    by_reference,
    by_value,
    external_init,
    joiner_entry,
    real_external,
    resign,
    revoked,
    self_insert,
    shaped,
    tsmls,
    with_dictionary,
    with_membership,
    with_policy,
)

from .conftest import ENVELOPE, START, accepted, rejected, run


@pytest.fixture
def group() -> Group:
    return tsmls()


# --- checks 8 and 9: the time bounds -------------------------------------------------------


def test_check_8_expiry_exactly_at_the_bound(group: Group) -> None:
    state = with_policy(group, expires_at_ns=ENVELOPE)
    commit = shaped(group, group_info=state)
    assert accepted(run(commit, state, envelope_ns=ENVELOPE))
    assert rejected(run(commit, state, envelope_ns=ENVELOPE + 1), "8", "invite-expired")
    unbounded = with_policy(group, expires_at_ns=0)
    far = 2**64 - 1
    assert accepted(
        run(shaped(group, group_info=unbounded), unbounded, envelope_ns=far, epoch_start_ns=far)
    )


def test_check_9_staleness_exactly_at_the_bound(group: Group) -> None:
    bound = 90 * 10**9
    state = with_policy(group, expire_in_ns=bound)
    commit = shaped(group, group_info=state)
    assert accepted(run(commit, state, envelope_ns=START + bound, epoch_start_ns=START))
    assert rejected(
        run(commit, state, envelope_ns=START + bound + 1, epoch_start_ns=START),
        "9",
        "group-info-stale",
    )
    # an envelope before the recorded epoch start is not stale
    assert accepted(run(commit, state, envelope_ns=START - 1, epoch_start_ns=START))
    off = with_policy(group, expire_in_ns=0, expires_at_ns=0)
    assert accepted(run(shaped(group, group_info=off), off, envelope_ns=START + 10**18))


# --- check 11: max_uses at N-1 and N ------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 3])
def test_check_11_max_uses_at_n_minus_1_and_n(group: Group, n: int) -> None:
    slot = group.policy.external_group_id
    keys = sorted(group.membership())
    for live in (n - 1, n):
        entries = {
            k: MembershipEntry(sequence_id=1, admitted_via=slot if i < live else b"").to_bytes()
            for i, k in enumerate(keys)
        }
        state = with_membership(group, entries, max_uses=n)
        verdict = run(shaped(group, group_info=state), state)
        if live < n:
            assert accepted(verdict), (n, live, verdict)
        else:
            assert rejected(verdict, "11", "max-uses-exhausted"), (n, live, verdict)


def test_check_11_counts_only_the_active_slot(group: Group) -> None:
    entries = {
        k: MembershipEntry(sequence_id=1, admitted_via=b"old-slot").to_bytes()
        for k in group.membership()
    }
    state = with_membership(group, entries, max_uses=1)
    assert accepted(run(shaped(group, group_info=state), state))


# --- check 7 -------------------------------------------------------------------------------


def test_check_7_switch_policy_absent_and_malformed(group: Group) -> None:
    from invitekit.xmtp_components import EXTERNAL_COMMIT_POLICY

    absent = with_dictionary(group, {EXTERNAL_COMMIT_POLICY: None})
    assert rejected(run(shaped(group, group_info=absent), absent), "7", "no-policy")
    junk = with_dictionary(group, {EXTERNAL_COMMIT_POLICY: b"\x0a\x05\x08"})
    assert rejected(run(shaped(group, group_info=junk), junk), "7", "policy-malformed")
    unknown_version = with_dictionary(group, {EXTERNAL_COMMIT_POLICY: b"\x12\x00"})
    assert rejected(
        run(shaped(group, group_info=unknown_version), unknown_version),
        "7",
        "external-commits-disabled",
    )


# --- check 10 ------------------------------------------------------------------------------


def test_check_10_tag_equal_empty_and_different(group: Group) -> None:
    slot = group.policy.external_group_id
    assert accepted(run(shaped(group, admitted_via=slot), group.group_info))
    assert rejected(
        run(shaped(group, admitted_via=b""), group.group_info), "10", "admitted-via-mismatch"
    )
    assert rejected(
        run(shaped(group, admitted_via=slot + b"!"), group.group_info),
        "10",
        "admitted-via-mismatch",
    )


# --- checks 1–6 ----------------------------------------------------------------------------


def test_check_1_sender(group: Group) -> None:
    member = group.file("member-commit")
    from invitekit.commit_validation import validate_external_commit

    verdict = validate_external_commit(
        member, group.view, envelope_ns=ENVELOPE, epoch_start_ns=START
    )
    assert rejected(verdict, "1", "not-new-member-commit")
    message = real_external(group)
    external_sender = replace(
        message.content.sender, sender_type=SENDER_EXTERNAL, sender_index=0, raw=b""
    )
    forged = resign(
        message, group.joiner_key, group.view.group_context_bytes, sender=external_sender
    )
    assert rejected(run(forged, group.group_info), "1", "not-new-member-commit")


def test_check_2_external_init_count(group: Group) -> None:
    init = external_init(group)
    mine = self_insert(group.joiner_inbox, group.policy.external_group_id)
    assert accepted(run(shaped(group, proposals=(init, mine)), group.group_info))
    assert rejected(
        run(shaped(group, proposals=(mine,)), group.group_info), "2", "external-init-missing"
    )
    assert rejected(
        run(shaped(group, proposals=(init, init, mine)), group.group_info),
        "2",
        "external-init-multiple",
    )


def test_check_3_key_binding_callback(group: Group) -> None:
    commit = shaped(group, extra=(add(group.file("kp-joiner-2")),))
    seen: list[tuple[bytes, bytes]] = []

    def binding(inbox: bytes, key: bytes) -> bool:
        seen.append((inbox, key))
        return True

    assert accepted(run(commit, group.group_info, key_binding=binding))
    assert [inbox for inbox, _ in seen] == [group.joiner_inbox] * 2
    joiner_key = bytes.fromhex(group.sidecar["joiner_signature_public_key_hex"])
    assert seen[0][1] == joiner_key
    refuse_second = lambda inbox, key: key == joiner_key  # noqa: E731
    verdict = run(commit, group.group_info, key_binding=refuse_second)
    assert rejected(verdict, "3", "key-not-bound-to-inbox")
    refuse_all = lambda inbox, key: False  # noqa: E731
    assert rejected(
        run(commit, group.group_info, key_binding=refuse_all), "3", "key-not-bound-to-inbox"
    )


def test_check_4_membership_component_required(group: Group) -> None:
    none = with_dictionary(group, {GROUP_MEMBERSHIP: None})
    assert rejected(run(shaped(group, group_info=none), none), "4", "no-group-membership")
    bad = with_dictionary(group, {GROUP_MEMBERSHIP: b"\x05\x00"})
    assert rejected(run(shaped(group, group_info=bad), bad), "4", "group-membership-malformed")


def test_check_5_the_joiners_own_insert_only(group: Group) -> None:
    init = external_init(group)
    me, slot = group.joiner_inbox, group.policy.external_group_id
    other = sorted(group.membership())[0]

    def with_delta(mutations: list[tuple[int, bytes, bytes | None]]) -> bytes:
        return shaped(
            group, proposals=(init, app_data_update(GROUP_MEMBERSHIP, encode_delta(mutations)))
        )

    def verdict(commit: bytes) -> object:
        return run(commit, group.group_info)

    entry = joiner_entry(slot)
    assert accepted(verdict(with_delta([(MUTATION_INSERT, me, entry)])))
    scope = ("5", "app-data-update-out-of-scope")
    assert rejected(verdict(with_delta([(MUTATION_UPDATE, me, entry)])), *scope)
    assert rejected(verdict(with_delta([(MUTATION_DELETE, other, None)])), *scope)
    assert rejected(verdict(with_delta([(MUTATION_INSERT, other, entry)])), *scope)
    assert rejected(verdict(with_delta([])), *scope)
    assert rejected(
        verdict(with_delta([(MUTATION_INSERT, me, entry), (MUTATION_DELETE, other, None)])), *scope
    )
    removal = shaped(group, proposals=(init, app_data_update(GROUP_MEMBERSHIP, None)))
    assert rejected(verdict(removal), "5", "app-data-update-not-update")
    garbage = shaped(group, proposals=(init, app_data_update(GROUP_MEMBERSHIP, b"\x01\x03")))
    assert rejected(verdict(garbage), "5", "app-data-update-malformed")
    bad_entry = with_delta([(MUTATION_INSERT, me, b"\xff\xff")])
    assert rejected(verdict(bad_entry), "5", "membership-entry-malformed")
    no_version = with_delta([(MUTATION_INSERT, me, b"")])
    assert rejected(verdict(no_version), "5", "membership-entry-malformed")


FORBIDDEN = [
    (Proposal(proposal_type=PROPOSAL_REMOVE, removed=1), "forbidden-remove"),
    (
        Proposal(proposal_type=PROPOSAL_GROUP_CONTEXT_EXTENSIONS, extensions=()),
        "forbidden-group-context-extensions",
    ),
    (
        Proposal(
            proposal_type=PROPOSAL_REINIT,
            reinit=ReInit(group_id=b"g", version=1, cipher_suite=3, extensions=()),
        ),
        "forbidden-reinit",
    ),
]


@pytest.mark.parametrize(("proposal", "code"), FORBIDDEN, ids=[c for _, c in FORBIDDEN])
def test_check_6_forbidden_types(group: Group, proposal: Proposal, code: str) -> None:
    assert rejected(run(shaped(group, extra=(by_value(proposal),)), group.group_info), "6", code)


def test_check_6_update_and_by_reference(group: Group) -> None:
    leaf = group.view.members()[1][1]
    update = Proposal(proposal_type=PROPOSAL_UPDATE, leaf_node=leaf)
    assert rejected(
        run(shaped(group, extra=(by_value(update),)), group.group_info), "6", "forbidden-update"
    )
    ref = by_reference(b"\x11" * 32)
    assert rejected(
        run(shaped(group, extra=(ref,)), group.group_info), "6", "proposal-by-reference"
    )


# --- framing --------------------------------------------------------------------------------


def test_framing_epoch_group_and_content(group: Group) -> None:
    message = real_external(group)
    context = group.view.group_context_bytes
    wrong_epoch = resign(message, group.joiner_key, context, epoch=message.content.epoch + 1)
    assert rejected(run(wrong_epoch, group.group_info), "framing", "wrong-epoch")
    wrong_group = resign(message, group.joiner_key, context, group_id=b"another-group")
    assert rejected(run(wrong_group, group.group_info), "framing", "wrong-group")
    application = replace(
        message.content,
        content_type=CONTENT_APPLICATION,
        commit=None,
        application_data=b"hi",
        raw=b"",
    )
    not_commit = encode_public_message(replace(message, content=application, confirmation_tag=None))
    assert rejected(run(not_commit, group.group_info), "framing", "not-a-commit")
    assert message.content.commit is not None
    no_path = resign(message, group.joiner_key, context)
    pathless = decode_public_message(no_path)
    assert pathless.content.commit is not None
    stripped = replace(pathless.content.commit, path=None, raw=b"")
    without = encode_public_message(
        replace(pathless, content=replace(pathless.content, commit=stripped, raw=b""))
    )
    assert rejected(run(without, group.group_info), "framing", "missing-update-path")
    trailing = group.file("external-plain") + b"\x00"
    assert rejected(run(trailing, group.group_info), "framing", "malformed-commit")
    assert rejected(
        run(b"\x00\x01\x00\x02" + bytes(8), group.group_info), "framing", "malformed-commit"
    )


def test_key_package_signature_is_verified(group: Group) -> None:
    kp = bytearray(group.file("kp-joiner-2"))
    kp[-3] ^= 0x40
    commit = shaped(group, extra=(add(bytes(kp)),))
    assert rejected(run(commit, group.group_info), "framing", "key-package-invalid")


# --- determinism ---------------------------------------------------------------------------


def test_first_failing_check_wins_in_a_fixed_order(group: Group) -> None:
    """A commit breaking checks 3, 6, 7 and 10 at once reports check 3, always."""
    off = revoked(group)
    remove = Proposal(proposal_type=PROPOSAL_REMOVE, removed=1)
    commit = shaped(
        group,
        group_info=off,
        extra=(add(group.file("kp-stranger")), by_value(remove)),
        admitted_via=b"",
    )
    verdicts = {run(commit, off, envelope_ns=2**63) for _ in range(3)}
    assert len(verdicts) == 1
    (verdict,) = verdicts
    assert rejected(verdict, "3", "add-foreign-inbox")
    fixed = shaped(group, group_info=off, extra=(by_value(remove),), admitted_via=b"")
    assert rejected(run(fixed, off), "6", "forbidden-remove")


def test_accepted_reports_the_joiner(group: Group) -> None:
    verdict = run(shaped(group), group.group_info)
    assert isinstance(verdict, Accepted)
    assert verdict.joiner_inbox_id == group.joiner_inbox
    assert verdict.added_installations == 0

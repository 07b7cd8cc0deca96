"""XIP-82 test cases 2, 3, 9, 10, 11, 12, 16, 18, 19, 20 and 22 on real and layer-B bytes."""

from __future__ import annotations

import ast
import inspect
import time
from dataclasses import replace

import pytest

from invitekit import commit_validation, xmtp_components
from invitekit.commit_validation import Accepted, validate_member_commit
from invitekit.mls import framing, parse_group_info, proposals
from invitekit.mls.framing import decode_public_message
from invitekit.mls.proposals import PROPOSAL_PSK, PSK_EXTERNAL, PreSharedKeyId, Proposal
from invitekit.xmtp_components import (
    GROUP_MEMBERSHIP,
    MUTATION_DELETE,
    MUTATION_INSERT,
    MUTATION_UPDATE,
    MembershipEntry,
    credential_inbox_id,
    decode_entry,
    encode_delta,
)
from tests.support.commits import (
    Group,
    add,
    app_data_update,
    by_value,
    joiner_entry,
    key,
    resign,
    revoked,
    shaped,
    tsmls,
    with_membership,
    with_policy,
)

from .conftest import ENVELOPE, START, accepted, rejected, run

GROUP_NAME = 0x8004


@pytest.fixture
def group() -> Group:
    return tsmls()


def tagged(group: Group) -> dict[bytes, bytes]:
    """The group's membership entries carrying the active tag."""
    slot = group.policy.external_group_id
    return {k: v for k, v in group.membership().items() if decode_entry(v).admitted_via == slot}


def test_case_02_multi_installation_joiner(group: Group) -> None:
    commit = shaped(group, extra=(add(group.file("kp-joiner-2")), add(group.file("kp-joiner-3"))))
    verdict = run(commit, group.group_info)
    assert isinstance(verdict, Accepted)
    assert verdict.joiner_inbox_id == group.joiner_inbox
    assert verdict.added_installations == 2


def test_case_03_master_switch_off(group: Group) -> None:
    off = revoked(group)
    assert rejected(run(shaped(group, group_info=off), off), "7", "external-commits-disabled")
    assert accepted(run(shaped(group), group.group_info))


def test_case_09_rename_via_group_name(group: Group) -> None:
    both = shaped(group, extra=(app_data_update(GROUP_NAME, b"renamed"),))
    assert rejected(run(both, group.group_info), "5", "app-data-update-multiple")
    message_only = shaped(
        group,
        proposals=(
            decode_public_message(group.file("external-plain")).content.commit.proposals[0],  # type: ignore[union-attr]
            app_data_update(GROUP_NAME, b"renamed"),
        ),
    )
    assert rejected(run(message_only, group.group_info), "5", "app-data-update-wrong-component")


def test_case_10_add_for_another_inbox(group: Group) -> None:
    commit = shaped(group, extra=(add(group.file("kp-joiner-2")), add(group.file("kp-stranger"))))
    verdict = run(commit, group.group_info)
    assert rejected(verdict, "3", "add-foreign-inbox")
    assert "Add 1" in verdict.detail  # type: ignore[union-attr]


def test_case_11_single_active_invited_member(group: Group) -> None:
    members = group.membership()
    (first,) = tagged(group)
    untagged_state = {**members, first: MembershipEntry(sequence_id=3).to_bytes()}
    # no invited member yet: the first join is accepted
    state = with_membership(group, untagged_state, max_uses=1)
    assert accepted(run(shaped(group, group_info=state), state))
    # one live invited member: a second concurrent join is rejected
    state = with_membership(group, members, max_uses=1)
    assert rejected(run(shaped(group, group_info=state), state), "11", "max-uses-exhausted")
    # the invited member was removed (entry gone): the slot is free again
    removed = {k: v for k, v in members.items() if k != first}
    state = with_membership(group, removed, max_uses=1)
    assert accepted(run(shaped(group, group_info=state), state))


def test_case_12_bounded_invite_and_rotation(group: Group) -> None:
    slot = group.policy.external_group_id
    members = {
        k: MembershipEntry(sequence_id=1, admitted_via=slot).to_bytes() for k in group.membership()
    }  # 3 live members tagged with the active slot
    at_cap = with_membership(group, members, max_uses=3)
    assert rejected(run(shaped(group, group_info=at_cap), at_cap), "11", "max-uses-exhausted")
    below = with_membership(group, members, max_uses=4)
    assert accepted(run(shaped(group, group_info=below), below))
    # rotating external_group_id starts a fresh budget (old tags no longer count)
    rotated = with_membership(group, members, max_uses=3, external_group_id=b"fixture-slot-02")
    commit = shaped(group, group_info=rotated, admitted_via=b"fixture-slot-02")
    assert accepted(run(commit, rotated))
    # ... and a joiner still recording the old slot id is refused by check 10
    stale_tag = shaped(group, group_info=rotated, admitted_via=slot)
    assert rejected(run(stale_tag, rotated), "10", "admitted-via-mismatch")


def test_case_16_max_uses_converges_for_a_late_joiner(group: Group) -> None:
    """A member that joined after the invite was issued has no history; it holds the same
    GROUP_MEMBERSHIP and entered the epoch by a Welcome a few seconds later. Its verdicts
    equal the older member's, at the cap and below it."""
    for max_uses, expect_accept in ((1, False), (2, True)):
        state = with_policy(group, max_uses=max_uses)
        commit = shaped(group, group_info=state)
        older = run(commit, state, epoch_start_ns=START)
        late = run(commit, state, epoch_start_ns=START + 3 * 10**9)
        assert older == late
        assert accepted(older) is expect_accept


def test_case_18_already_member(group: Group) -> None:
    # real: a new installation of m1's inbox, and m1's own resync
    for name in ("external-same-inbox", "external-resync"):
        assert rejected(run(group.file(name), group.group_info), "4", "joiner-already-member")
    # the inbox only in the ratchet tree (its GROUP_MEMBERSHIP entry gone) is still refused
    same_inbox = decode_public_message(group.file("external-same-inbox"))
    assert same_inbox.content.commit is not None
    assert same_inbox.content.commit.path is not None
    m1 = credential_inbox_id(same_inbox.content.commit.path.leaf_node.credential)
    members = group.membership()
    assert m1 in members
    state = with_membership(group, {k: v for k, v in members.items() if k != m1})
    twin = key(group.sidecar["fixture_only_same_inbox_private_key_hex"][-64:])
    commit = resign(same_inbox, twin, parse_group_info(state).group_context_bytes)
    verdict = run(commit, state)
    assert rejected(verdict, "4", "joiner-already-member")
    assert "leaf" in verdict.detail  # type: ignore[union-attr]
    # the inbox only in GROUP_MEMBERSHIP (no leaf): the joiner's own inbox pre-registered
    state = with_membership(group, {**members, group.joiner_inbox: joiner_entry(b"")})
    assert rejected(run(shaped(group, group_info=state), state), "4", "joiner-already-member")


def member_commit(group: Group, mutations: list[tuple[int, bytes, bytes | None]]) -> bytes:
    """The real ts-mls member commit (creator, leaf 0) carrying one GROUP_MEMBERSHIP delta."""
    message = decode_public_message(group.file("member-commit"))
    delta = encode_delta(mutations)
    return resign(
        message,
        group.signer,
        group.view.group_context_bytes,
        (app_data_update(GROUP_MEMBERSHIP, delta),),
    )


def test_case_19_tag_immutability(group: Group) -> None:
    state = group.view
    (invited,) = tagged(group)
    old = decode_entry(group.membership()[invited])
    plain = next(k for k, v in group.membership().items() if not decode_entry(v).admitted_via)

    def verdict(mutations: list[tuple[int, bytes, bytes | None]]) -> object:
        return validate_member_commit(member_commit(group, mutations), state)

    cleared = replace(old, admitted_via=b"").to_bytes()
    altered = replace(old, admitted_via=b"another-slot").to_bytes()
    set_on_plain = MembershipEntry(sequence_id=5, admitted_via=old.admitted_via).to_bytes()
    assert rejected(
        verdict([(MUTATION_UPDATE, invited, cleared)]), "member-tag", "admitted-via-cleared"
    )
    assert rejected(
        verdict([(MUTATION_UPDATE, invited, altered)]), "member-tag", "admitted-via-altered"
    )
    assert rejected(
        verdict([(MUTATION_UPDATE, plain, set_on_plain)]), "member-tag", "admitted-via-set"
    )
    # delete then re-insert without the tag is clearing it too
    assert rejected(
        verdict([(MUTATION_DELETE, invited, None), (MUTATION_INSERT, invited, cleared)]),
        "member-tag",
        "admitted-via-cleared",
    )
    # an installation change that carries the tag through unchanged is accepted
    rewrite = replace(old, sequence_id=old.sequence_id + 1, failed_installations=(b"\x01" * 32,))
    assert accepted(verdict([(MUTATION_UPDATE, invited, rewrite.to_bytes())]))
    # removing the member removes the entry, and the tag with it
    assert accepted(verdict([(MUTATION_DELETE, invited, None)]))
    # a member adding a new member by Welcome writes no tag
    fresh = MembershipEntry(sequence_id=1).to_bytes()
    assert accepted(verdict([(MUTATION_INSERT, b"\xab" * 32, fresh)]))
    assert rejected(
        verdict([(MUTATION_INSERT, b"\xab" * 32, joiner_entry(b"fixture-slot-01"))]),
        "member-tag",
        "admitted-via-set",
    )


def test_case_20_timestamp_convergence(group: Group, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two members process the same commit days apart: the verdict depends only on the
    envelope and epoch-start timestamps, never on the validator's clock."""
    state = with_policy(group, expires_at_ns=ENVELOPE + 10, expire_in_ns=120 * 10**9)
    commit = shaped(group, group_info=state)
    cases = [(ENVELOPE, START), (ENVELOPE + 11, START), (ENVELOPE, ENVELOPE - 121 * 10**9)]
    results = []
    for offset_days in (0, 9):
        fake = time.time() + offset_days * 86400
        monkeypatch.setattr(time, "time", lambda fake=fake: fake)
        monkeypatch.setattr(time, "time_ns", lambda fake=fake: int(fake * 1e9))
        results.append([run(commit, state, envelope_ns=e, epoch_start_ns=s) for e, s in cases])
    assert results[0] == results[1]
    assert accepted(results[0][0])
    assert rejected(results[0][1], "8", "invite-expired")
    assert rejected(results[0][2], "9", "group-info-stale")


def test_case_20_no_clock_is_read_by_the_validator() -> None:
    for module in (commit_validation, xmtp_components, framing, proposals):
        tree = ast.parse(inspect.getsource(module))
        imported = {
            alias.name.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.Import | ast.ImportFrom)
            for alias in node.names
        } | {
            (node.module or "").split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom)
        }
        assert not imported & {"time", "datetime", "random", "secrets"}, module.__name__


def test_case_22_psk_proposal(group: Group) -> None:
    psk = Proposal(
        proposal_type=PROPOSAL_PSK,
        psk=PreSharedKeyId(psktype=PSK_EXTERNAL, psk_id=b"psk", psk_nonce=bytes(32)),
    )
    assert rejected(
        run(shaped(group, extra=(by_value(psk),)), group.group_info), "6", "forbidden-psk"
    )
    # and it decodes as exactly that
    parsed = decode_public_message(shaped(group, extra=(by_value(psk),)))
    kinds = [p.proposal.proposal_type for p in parsed.content.commit.proposals if p.proposal]  # type: ignore[union-attr]
    assert PROPOSAL_PSK in kinds

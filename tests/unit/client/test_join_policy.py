"""Issue 8 case 6 in the sans-IO join machine: no policy is a refusal, and ``max_uses`` is
counted from the GroupInfo's own GROUP_MEMBERSHIP when the caller gives no tags — or said
to be uncountable, never a silent 0. Real ts-mls GroupInfos re-signed by their real signer
(``tests/support/commits.py``), real sealed blobs; the test plays the driver."""

from __future__ import annotations

from dataclasses import replace

from invitekit.groupinfo_policy import PolicySource
from invitekit.join import JoinMachine, JoinMode, PrecommitAborted, ReadyToCommit
from invitekit.mls import parse_group_info
from invitekit.needs import CandidatesFetched, Finished
from invitekit.payload import InvitePayload
from invitekit.precommit import PrecommitCode
from invitekit.selection import Candidate
from invitekit.xmtp_components import GROUP_MEMBERSHIP
from tests.support.commits import (
    Group,
    joiner_entry,
    tsmls,
    with_dictionary,
    with_membership,
)
from tests.support.groupinfos import NOW, rine, seal_gi


def check(group_info: bytes, payload: InvitePayload, **kw: object) -> object:
    m = JoinMachine(payload, NOW, mode=JoinMode.CHECK, **kw)  # type: ignore[arg-type]
    blob = seal_gi(group_info, payload.symmetric_key).to_bytes()
    done = m.send(CandidatesFetched((Candidate.of(blob),), ("https://s.example/v1",)))
    assert isinstance(done, Finished)
    return done.outcome


def test_issue8_case6_plain_mls_group_without_policy_is_refused() -> None:
    payload = InvitePayload(b"slot-1234", b"k" * 32)
    outcome = check(rine("rine-classic-epochs-e3"), payload)
    assert isinstance(outcome, PrecommitAborted)  # was "ready"
    assert outcome.code is PrecommitCode.NO_POLICY
    assert outcome.policy_source is PolicySource.NONE
    assert outcome.to_json()["code"] == "no-policy"


def test_issue8_case6_max_uses_counted_from_group_membership() -> None:
    group = tsmls()
    policy = group.policy
    assert policy.symmetric_key is not None
    slot = policy.external_group_id
    payload = InvitePayload(slot, policy.symmetric_key)
    one = with_membership(
        group, {b"\x01" * 32: entry(slot), b"\x02" * 32: entry(b"")}, max_uses=2
    )
    ready = check(one, payload)
    assert isinstance(ready, ReadyToCommit)
    assert (ready.max_uses, ready.uses, ready.uses_unknown) == (2, 1, False)
    full = with_membership(
        group, {b"\x01" * 32: entry(slot), b"\x02" * 32: entry(slot)}, max_uses=2
    )
    aborted = check(full, payload)
    assert isinstance(aborted, PrecommitAborted)
    assert (aborted.code, aborted.uses, aborted.max_uses) == (
        PrecommitCode.MAX_USES_EXHAUSTED, 2, 2
    )
    # The caller's tags win over the component.
    told = check(full, payload, membership_tags=lambda view: [])
    assert isinstance(told, ReadyToCommit)
    assert told.uses == 0


def test_issue8_case6_uncountable_max_uses_is_said_so() -> None:
    group = tsmls()
    policy = group.policy
    assert policy.symmetric_key is not None
    payload = InvitePayload(policy.external_group_id, policy.symmetric_key)
    limited = with_membership(group, {}, max_uses=3)
    no_component = with_dictionary(group, {GROUP_MEMBERSHIP: None})
    assert parse_group_info(no_component).app_data is not None
    for gi, expect_unknown in ((limited, False), (no_component, policy.max_uses != 0)):
        ready = check(gi, payload)
        assert isinstance(ready, ReadyToCommit)
        assert ready.uses_unknown is expect_unknown
    broken = with_dictionary(group, {GROUP_MEMBERSHIP: b"\xff\xff"})
    limited_broken = with_dictionary(
        group,
        {GROUP_MEMBERSHIP: b"\xff\xff", 0x800C: _with_max_uses(group, 3)},
    )
    for gi in (broken, limited_broken):
        ready = check(gi, payload)
        assert isinstance(ready, ReadyToCommit)
        assert ready.uses is None  # never a silent 0
    last = check(limited_broken, payload)
    assert isinstance(last, ReadyToCommit)
    assert last.uses_unknown
    assert last.to_json()["uses"] is None


def entry(admitted_via: bytes) -> bytes:
    return joiner_entry(admitted_via)


def _with_max_uses(group: Group, max_uses: int) -> bytes:
    return replace(group.policy, max_uses=max_uses).to_entry_bytes()

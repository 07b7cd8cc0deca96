"""The sans-IO join machine: every state, every need it emits, every way it ends.

No I/O: the test plays the driver, answering each need by hand with real sealed blobs of
real rine-mls GroupInfos. The policy reaches the machine through a provider (rine groups
carry no app_data_dictionary) or through ``CommitAccepted.policy``.
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

import pytest

from invitekit.blob import open_blob, parse_blob
from invitekit.errors import FlowStateError, InvalidSetting
from invitekit.groupinfo_policy import PolicySource
from invitekit.join import (
    AllExpired,
    Joined,
    JoinMachine,
    JoinMode,
    JoinOptions,
    NoCandidates,
    PrecommitAborted,
    ReadyToCommit,
    RejectedAfterForks,
    check_instant,
)
from invitekit.mls import GroupInfoView, parse_group_info
from invitekit.mls.errors import MlsError
from invitekit.needs import (
    CandidatesFetched,
    Commit,
    CommitAccepted,
    CommitRejected,
    FetchCandidates,
    Finished,
    Phase,
    ResolveTargets,
    TargetsResolved,
    Upload,
    Uploaded,
)
from invitekit.payload import InvitePayload
from invitekit.pointer import HttpsPointer, OpaquePointer
from invitekit.policy import ExternalCommitPolicy, revoke, rotate
from invitekit.precommit import PrecommitCode
from invitekit.protocol import SlotKind
from invitekit.refresh import SkipReason
from invitekit.selection import Candidate
from tests.support.groupinfos import NOW, FakeUpload, enabled_policy, rine, seal_gi

KEY = os.urandom(32)
SLOT = os.urandom(16)
POINTER = HttpsPointer("https://scanned.example/v1")
PAYLOAD = InvitePayload(SLOT, KEY, POINTER)
SCANNED = "https://scanned.example/v1"
MIRROR = "https://mirror.example/v1"




def blob_of(epoch: int, **kw: Any) -> Candidate:
    return Candidate.of(seal_gi(rine(f"rine-classic-epochs-e{epoch}"), KEY, **kw).to_bytes())


def fetched(*cands: Candidate, errors: tuple[str, ...] = ()) -> CandidatesFetched:
    return CandidatesFetched(tuple(cands), (SCANNED,), errors, fetches=1)


def machine(
    policy: ExternalCommitPolicy | None,
    *,
    mode: JoinMode = JoinMode.JOIN,
    now: int = NOW,
    options: JoinOptions = JoinOptions(),  # noqa: B008 - frozen value
) -> JoinMachine:
    def provider(_view: GroupInfoView) -> ExternalCommitPolicy | None:
        return policy

    return JoinMachine(PAYLOAD, now, mode=mode, options=options, policy_provider=provider)


def policy(**kw: Any) -> ExternalCommitPolicy:
    return enabled_policy(KEY, SLOT, **kw)


def test_first_need_is_the_fetch_of_the_scanned_slot() -> None:
    m = machine(policy(), options=JoinOptions(max_candidates=5, fetch_kinds=(SlotKind.OPEN,)))
    need = m.need
    assert m.phase is Phase.FETCH
    assert isinstance(need, FetchCandidates)
    assert need.pointer == POINTER
    assert need.external_group_id == SLOT
    assert need.symmetric_key == KEY
    assert need.kinds == (SlotKind.OPEN,)
    assert need.max_candidates == 5


def test_a_wrong_answer_is_refused_and_changes_nothing() -> None:
    m = machine(policy())
    with pytest.raises(FlowStateError):
        m.send(CommitRejected())
    assert isinstance(m.need, FetchCandidates)
    with pytest.raises(FlowStateError):
        _ = m.outcome  # not finished yet


def test_empty_slot_finishes_with_no_candidates() -> None:
    m = machine(policy())
    done = m.send(fetched(errors=("svc lane: service-unreachable",)))
    assert isinstance(done, Finished)
    assert m.phase is Phase.DONE
    assert isinstance(m.outcome, NoCandidates)
    assert m.outcome.fetch_errors == ("svc lane: service-unreachable",)
    with pytest.raises(FlowStateError):
        m.send(fetched())


def test_check_mode_stops_before_the_commit() -> None:
    m = machine(policy(), mode=JoinMode.CHECK)
    done = m.send(fetched(blob_of(2), blob_of(3)))
    assert isinstance(done, Finished)
    outcome = m.outcome
    assert isinstance(outcome, ReadyToCommit)
    assert outcome.epoch == 3
    assert outcome.policy_source is PolicySource.PROVIDER


def test_join_asks_for_the_commit_of_the_freshest_and_falls_through() -> None:
    m = machine(policy())
    need = m.send(fetched(blob_of(2), blob_of(3)))
    assert isinstance(need, Commit)
    assert m.phase is Phase.COMMIT
    assert need.survivor.epoch == 3
    assert need.survivor.group_info == rine("rine-classic-epochs-e3")
    with pytest.raises(FlowStateError):
        m.send(Uploaded(()))
    lower = m.send(CommitRejected("epoch-conflict"))
    assert isinstance(lower, Commit)
    assert lower.survivor.epoch == 2  # fall-through to a lower epoch (step 5)
    m.send(CommitRejected("epoch-conflict"))
    outcome = m.outcome
    assert isinstance(outcome, RejectedAfterForks)
    assert outcome.attempts == 2
    assert [d.code for d in outcome.discarded] == ["epoch-conflict"] * 2


def test_commit_attempts_are_bounded() -> None:
    m = machine(policy(), options=JoinOptions(max_commit_attempts=1))
    m.send(fetched(blob_of(2), blob_of(3)))
    m.send(CommitRejected())
    assert isinstance(m.outcome, RejectedAfterForks)
    assert m.outcome.attempts == 1


def test_accepted_commit_refreshes_every_target_with_the_new_state() -> None:
    day = 86_400 * 10**9
    pol = policy(
        expire_in_ns=day,
        refresh_pointers=(HttpsPointer(MIRROR), HttpsPointer(SCANNED + "/"), OpaquePointer(b"x")),
    )
    m = machine(pol)
    m.send(fetched(blob_of(3)))
    new_state = rine("rine-classic-epochs-e4")
    resolve = m.send(CommitAccepted(new_state, NOW + 7, pol))
    assert isinstance(resolve, ResolveTargets)
    assert m.phase is Phase.RESOLVE
    assert resolve.pointers == (OpaquePointer(b"x"),)
    upload = m.send(TargetsResolved(("https://app.example/v1",)))
    assert isinstance(upload, Upload)
    assert m.phase is Phase.UPLOAD
    # The scanned service first; the trailing-slash copy of it is the same target.
    assert upload.services == (SCANNED, MIRROR, "https://app.example/v1")
    assert upload.kinds == (SlotKind.LANE, SlotKind.OPEN)  # the open slot always too
    assert (upload.external_group_id, upload.symmetric_key) == (SLOT, KEY)
    blob = parse_blob(upload.body).blob
    assert blob.epoch == 4
    assert blob.expires_at_ns == NOW + 7 + day  # effective expiry from the commit's time
    assert open_blob(blob, KEY, NOW) == new_state
    results = tuple(FakeUpload(s) for s in upload.services)
    m.send(Uploaded(results))
    outcome = m.outcome
    assert isinstance(outcome, Joined)
    assert (outcome.epoch, outcome.attempts, outcome.refresh) == (4, 1, results)
    assert outcome.refresh_skipped is None
    assert outcome.stale_check is not None
    assert outcome.stale_check.ok


def test_an_error_inside_the_flow_stops_the_machine_for_good() -> None:
    m = machine(policy())
    m.send(fetched(blob_of(3)))
    with pytest.raises(MlsError):  # the caller's "new GroupInfo" is not a GroupInfo
        m.send(CommitAccepted(b"not a group info", NOW, policy()))
    with pytest.raises(FlowStateError):
        m.send(CommitAccepted(rine("rine-classic-epochs-e4"), NOW, policy()))


def test_stale_qr_after_commit_joins_but_uploads_nothing() -> None:
    pol = policy()
    m = machine(pol)
    m.send(fetched(blob_of(3)))
    rotated = rotate(pol, new_slot=True)
    m.send(CommitAccepted(rine("rine-classic-epochs-e4"), NOW, rotated))
    outcome = m.outcome
    assert isinstance(outcome, Joined)
    assert outcome.refresh_skipped is SkipReason.STALE_QR
    assert outcome.refresh == ()
    assert outcome.stale_check is not None
    assert not outcome.stale_check.group_id_matches


def test_revoked_after_commit_is_a_stale_qr_too() -> None:
    pol = policy()
    m = machine(pol)
    m.send(fetched(blob_of(3)))
    m.send(CommitAccepted(rine("rine-classic-epochs-e4"), NOW, revoke(pol)))
    assert isinstance(m.outcome, Joined)
    assert m.outcome.refresh_skipped is SkipReason.STALE_QR


def test_no_policy_for_the_new_state_skips_the_refresh() -> None:
    pol = policy()
    # The provider knows the selected state's policy, not the committed one's.
    m = JoinMachine(PAYLOAD, NOW, policy_provider=lambda v: pol if v.epoch == 3 else None)
    m.send(fetched(blob_of(3)))
    assert isinstance(m.need, Commit)
    m.send(CommitAccepted(rine("rine-classic-epochs-e4"), NOW))
    assert isinstance(m.outcome, Joined)
    assert m.outcome.refresh_skipped is SkipReason.NO_POLICY
    assert m.outcome.policy_source is PolicySource.NONE


@pytest.mark.parametrize("mode", list(JoinMode))
def test_precommit_abort_never_asks_for_a_commit(mode: JoinMode) -> None:
    m = machine(revoke(policy()), mode=mode)
    done = m.send(fetched(blob_of(3)))
    assert isinstance(done, Finished)
    outcome = m.outcome
    assert isinstance(outcome, PrecommitAborted)
    assert outcome.code is PrecommitCode.SWITCH_OFF
    assert outcome.epoch == 3


def test_max_uses_reads_the_membership_tags() -> None:
    pol = policy(max_uses=1)
    m = JoinMachine(
        PAYLOAD,
        NOW,
        policy_provider=lambda _v: pol,
        membership_tags=lambda _v: [SLOT, None],
    )
    m.send(fetched(blob_of(3)))
    outcome = m.outcome
    assert isinstance(outcome, PrecommitAborted)
    assert outcome.code is PrecommitCode.MAX_USES_EXHAUSTED
    assert (outcome.uses, outcome.max_uses) == (1, 1)


# --- the one clock rule ----------------------------------------------------------------


def proceeds(m: JoinMachine, mode: JoinMode) -> bool:
    """The machine got past step 6: it asks for the commit (join) or is ready (check)."""
    if mode is JoinMode.JOIN:
        return isinstance(m.need, Commit)
    return isinstance(m.need, Finished) and isinstance(m.outcome, ReadyToCommit)


def test_check_instant_adds_the_margin() -> None:
    assert check_instant(NOW, JoinOptions()) == NOW
    assert check_instant(NOW, JoinOptions(expiry_margin_ns=10)) == NOW + 10
    with pytest.raises(InvalidSetting):
        JoinOptions(expiry_margin_ns=-1)


@pytest.mark.parametrize("mode", list(JoinMode))
def test_blob_expiry_uses_the_margin_in_both_modes(mode: JoinMode) -> None:
    candidate = blob_of(3, expires_at_ns=NOW + 5)
    lax = machine(policy(), mode=mode)
    lax.send(fetched(candidate))
    assert proceeds(lax, mode)
    strict = machine(policy(), mode=mode, options=JoinOptions(expiry_margin_ns=5))
    strict.send(fetched(candidate))
    assert isinstance(strict.outcome, AllExpired)


@pytest.mark.parametrize("mode", list(JoinMode))
def test_policy_expiry_uses_the_same_instant_in_both_modes(mode: JoinMode) -> None:
    pol = policy(expires_at_ns=NOW + 5)
    early = machine(pol, mode=mode, options=JoinOptions(expiry_margin_ns=4))
    early.send(fetched(blob_of(3)))
    assert proceeds(early, mode)
    late = machine(pol, mode=mode, options=JoinOptions(expiry_margin_ns=5))
    late.send(fetched(blob_of(3)))
    outcome = late.outcome
    assert isinstance(outcome, PrecommitAborted)
    assert outcome.code is PrecommitCode.POLICY_EXPIRED
    assert outcome.expires_at_ns == NOW + 5


def test_the_clock_is_read_once_per_machine() -> None:
    # The machine keeps the instant it was built with; nothing later can move it.
    m = machine(policy(), options=JoinOptions(expiry_margin_ns=3))
    assert m.at_ns == NOW + 3
    m.send(fetched(blob_of(3)))
    assert m.at_ns == NOW + 3


def test_outcome_json_is_data_only() -> None:
    m = machine(replace(policy(), max_uses=0), mode=JoinMode.CHECK)
    m.send(fetched(blob_of(3)))
    data = m.outcome.to_json()
    assert data["outcome"] == "ready"
    assert data["epoch"] == 3
    assert "message" not in data
    assert parse_group_info(rine("rine-classic-epochs-e3")).digest.hex() == data[
        "group_state_hash"
    ]

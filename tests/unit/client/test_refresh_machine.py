"""The sans-IO refresh machine: each role's needs, retries, stand-down and deep check.

The test plays the driver. Blobs and GroupInfos are real (rine-mls fixtures).
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from invitekit.blob import parse_blob
from invitekit.errors import PolicyNotEnabled
from invitekit.needs import (
    CheckExists,
    Existence,
    FetchSlot,
    Finished,
    Phase,
    ResolveTargets,
    Slept,
    SlotFetched,
    TargetsResolved,
    Upload,
    Uploaded,
    Wait,
)
from invitekit.pointer import HttpsPointer, OpaquePointer
from invitekit.policy import revoke
from invitekit.protocol import SlotKind
from invitekit.refresh import (
    Backoff,
    RefreshMachine,
    RefreshRole,
    SkipReason,
    TargetAction,
    member_state,
)
from invitekit.selection import Candidate
from tests.support.groupinfos import NOW, FakeUpload, enabled_policy, rine, seal_gi

KEY = os.urandom(32)
SLOT = os.urandom(16)
A = "https://a.example/v1"
B = "https://b.example/v1"
GI = rine("rine-classic-epochs-e4")




def policy(*pointers: HttpsPointer | OpaquePointer):  # type: ignore[no-untyped-def]
    return enabled_policy(KEY, SLOT, refresh_pointers=pointers)


def make(role: RefreshRole, *pointers: HttpsPointer | OpaquePointer, **kw: Any) -> RefreshMachine:
    # One kind keeps these passes short; the default (lane and open slot) has its own test.
    kw.setdefault("kinds", (SlotKind.LANE,))
    return RefreshMachine(role, GI, policy(*pointers), NOW, NOW, **kw)


@pytest.mark.parametrize("role", list(RefreshRole))
def test_every_role_needs_an_active_invite(role: RefreshRole) -> None:
    with pytest.raises(PolicyNotEnabled):
        RefreshMachine(role, GI, revoke(policy()), NOW, NOW)


def test_committer_uploads_one_blob_everywhere_at_once() -> None:
    m = make(RefreshRole.COMMITTER, HttpsPointer(B), OpaquePointer(b"app"), OpaquePointer(b"?"))
    resolve = m.need
    assert isinstance(resolve, ResolveTargets)
    assert m.phase is Phase.RESOLVE
    upload = m.send(TargetsResolved((A,), unresolved=(OpaquePointer(b"?"),)))
    assert isinstance(upload, Upload)
    assert upload.services == (B, A)
    assert parse_blob(upload.body).blob.epoch == 4
    m.send(Uploaded((FakeUpload(B), FakeUpload(A, ok=False))))
    report = m.outcome
    assert report.role is RefreshRole.COMMITTER
    assert [(t.service, t.action) for t in report.targets] == [
        (B, TargetAction.UPLOADED),
        (A, TargetAction.ERROR),  # the refusal is in the target's uploads
        ("opaque:" + b"?".hex(), TargetAction.SKIPPED),
    ]
    assert report.targets[2].skipped is SkipReason.NO_RESOLVER
    assert report.uploaded == 1


def test_committer_without_targets_finishes_without_io() -> None:
    m = make(RefreshRole.COMMITTER)
    assert isinstance(m.need, Finished)
    assert m.outcome.targets == ()


def test_backstop_waits_then_checks_then_stands_down_or_uploads() -> None:
    draws = iter([0.5] * 10).__next__
    m = make(
        RefreshRole.BACKSTOP, HttpsPointer(A), HttpsPointer(B),
        backoff=Backoff(jitter_s=20.0), random_unit=draws,
    )
    wait = m.need
    assert isinstance(wait, Wait)
    assert m.phase is Phase.WAIT
    assert wait.seconds == 10.0
    check = m.send(Slept())
    assert isinstance(check, CheckExists)
    assert m.phase is Phase.CHECK
    assert (check.service, check.kind) == (A, SlotKind.LANE)
    assert (check.epoch, check.digest) == member_state(GI).pair
    nxt = m.send(Existence(True))
    assert isinstance(nxt, CheckExists)
    assert nxt.service == B
    upload = m.send(Existence(False))
    assert isinstance(upload, Upload)
    assert (upload.services, upload.kinds) == ((B,), (SlotKind.LANE,))
    m.send(Uploaded((FakeUpload(B),)))
    report = m.outcome
    assert [t.action for t in report.targets] == [TargetAction.STAND_DOWN, TargetAction.UPLOADED]


def test_backstop_retries_are_bounded_and_backed_off() -> None:
    draws = iter([1.0] * 10).__next__
    m = make(
        RefreshRole.BACKSTOP, HttpsPointer(A),
        backoff=Backoff(attempts=3, base_s=1.0, cap_s=8.0, jitter_s=0.0), random_unit=draws,
    )
    waits: list[float] = []
    need = m.need
    uploads = 0
    while not isinstance(need, Finished):
        if isinstance(need, Wait):
            waits.append(need.seconds)
            need = m.send(Slept())
        elif isinstance(need, CheckExists):
            need = m.send(Existence(False))
        else:
            assert isinstance(need, Upload)
            uploads += 1
            need = m.send(Uploaded((FakeUpload(A, ok=False, retryable=True),)))
    assert uploads == 3
    assert waits == [0.0, 1.0, 2.0]  # start jitter, then full-jitter backoff per retry
    assert [t.action for t in m.outcome.targets] == [TargetAction.ERROR]


def test_backstop_failed_query_is_an_error_after_the_last_try() -> None:
    m = make(RefreshRole.BACKSTOP, HttpsPointer(A), backoff=Backoff(attempts=2, jitter_s=0.0))
    m.send(Slept())
    m.send(Existence(None))
    assert isinstance(m.need, Wait)
    m.send(Slept())
    m.send(Existence(None, "fetch-timeout"))
    target = m.outcome.targets[0]
    assert (target.action, target.error) == (TargetAction.ERROR, "fetch-timeout")


def test_backstop_refusal_is_not_retried() -> None:
    m = make(RefreshRole.BACKSTOP, HttpsPointer(A), backoff=Backoff(attempts=3, jitter_s=0.0))
    m.send(Slept())
    m.send(Existence(False))
    m.send(Uploaded((FakeUpload(A, ok=False, retryable=False),)))
    assert isinstance(m.need, Finished)


def test_deep_check_reuploads_only_where_no_valid_current_blob() -> None:
    m = make(RefreshRole.DEEP_CHECK, HttpsPointer(A), HttpsPointer(B), kinds=(SlotKind.OPEN,))
    first = m.need
    assert isinstance(first, FetchSlot)
    assert m.phase is Phase.FETCH
    assert (first.service, first.kind) == (A, SlotKind.OPEN)
    current = Candidate.of(seal_gi(GI, KEY).to_bytes())
    junk = Candidate.of(seal_gi(GI, os.urandom(32)).to_bytes())  # copied pair, wrong key
    second = m.send(SlotFetched((current,)))
    assert isinstance(second, FetchSlot)
    upload = m.send(SlotFetched((junk,)))
    assert isinstance(upload, Upload)
    assert upload.services == (B,)
    m.send(Uploaded((FakeUpload(B),)))
    assert [t.action for t in m.outcome.targets] == [
        TargetAction.HEALTHY,
        TargetAction.REUPLOADED,
    ]


def test_deep_check_reports_a_failed_fetch() -> None:
    m = make(RefreshRole.DEEP_CHECK, HttpsPointer(A))
    m.send(SlotFetched(error="service-unreachable"))
    target = m.outcome.targets[0]
    assert (target.action, target.error, target.kind) == (
        TargetAction.ERROR,
        "service-unreachable",
        SlotKind.LANE,
    )


def test_the_same_blob_goes_to_every_target() -> None:
    m = make(RefreshRole.DEEP_CHECK, HttpsPointer(A), HttpsPointer(B))
    m.send(SlotFetched(()))
    one = m.need
    assert isinstance(one, Upload)
    m.send(Uploaded((FakeUpload(A),)))
    m.send(SlotFetched(()))
    two = m.need
    assert isinstance(two, Upload)
    assert one.body == two.body  # sealed once per pass

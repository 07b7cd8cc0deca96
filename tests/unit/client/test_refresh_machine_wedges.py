"""Issue 8, the refresh machine without I/O: both kinds by default, lane-wedge detection,
and "stored nothing anywhere" as a failure. Real sealed rine-mls GroupInfos; the test plays
the driver."""

from __future__ import annotations

import os

from invitekit.blob import seal
from invitekit.needs import FetchSlot, SlotFetched, Upload, Uploaded
from invitekit.pointer import HttpsPointer
from invitekit.protocol import SlotKind
from invitekit.refresh import RefreshMachine, RefreshRole, TargetAction, member_state
from invitekit.selection import Candidate
from tests.support.groupinfos import NOW, FakeUpload, enabled_policy, rine, seal_gi

KEY = os.urandom(32)
SLOT = os.urandom(16)
A = "https://a.example/v1"
GI = rine("rine-classic-epochs-e4")
POLICY = enabled_policy(KEY, SLOT, refresh_pointers=(HttpsPointer(A),))


def test_issue8_every_role_writes_both_kinds_by_default() -> None:
    m = RefreshMachine(RefreshRole.COMMITTER, GI, POLICY, NOW, NOW)
    upload = m.need
    assert isinstance(upload, Upload)
    assert upload.kinds == (SlotKind.LANE, SlotKind.OPEN)
    deep = RefreshMachine(RefreshRole.DEEP_CHECK, GI, POLICY, NOW, NOW)
    first = deep.need
    assert isinstance(first, FetchSlot)
    assert first.kind is SlotKind.LANE
    nxt = deep.send(SlotFetched((Candidate.of(seal_gi(GI, KEY).to_bytes()),)))
    assert isinstance(nxt, FetchSlot)
    assert nxt.kind is SlotKind.OPEN


def test_issue8_case1_lane_stale_refusal_is_a_typed_wedge_and_degrades_the_pass() -> None:
    from invitekit.refresh import RefreshStatus, lane_wedged

    m = RefreshMachine(RefreshRole.COMMITTER, GI, POLICY, NOW, NOW)
    lane = FakeUpload(A, ok=False, kind=SlotKind.LANE, outcome="stale")
    opened = FakeUpload(A, ok=True, kind=SlotKind.OPEN, outcome="created")
    assert lane_wedged(lane)
    assert not lane_wedged(FakeUpload(A, ok=False, kind=SlotKind.OPEN, outcome="stale"))
    assert not lane_wedged(FakeUpload(A, ok=False, kind=SlotKind.LANE, outcome="expired"))
    m.send(Uploaded((lane, opened)))
    report = m.outcome
    assert [t.action for t in report.targets] == [TargetAction.LANE_WEDGED]
    assert report.status is RefreshStatus.DEGRADED
    assert report.ok
    assert report.to_json()["lane_wedged"] == [A]


def test_issue8_a_pass_that_stored_nothing_is_a_failure() -> None:
    from invitekit.refresh import RefreshStatus

    m = RefreshMachine(RefreshRole.COMMITTER, GI, POLICY, NOW, NOW)
    m.send(Uploaded((
        FakeUpload(A, ok=False, kind=SlotKind.LANE, outcome="stale"),
        FakeUpload(A, ok=False, kind=SlotKind.OPEN, outcome="service-unreachable"),
    )))
    assert m.outcome.status is RefreshStatus.NOTHING_STORED
    assert not m.outcome.ok


def test_issue8_deep_check_reuploaded_only_when_stored() -> None:
    m = RefreshMachine(RefreshRole.DEEP_CHECK, GI, POLICY, NOW, NOW, kinds=(SlotKind.OPEN,))
    upload = m.send(SlotFetched(()))
    assert isinstance(upload, Upload)
    m.send(Uploaded((FakeUpload(A, ok=False, kind=SlotKind.OPEN, outcome="payload-too-large"),)))
    assert [t.action for t in m.outcome.targets] == [TargetAction.ERROR]  # was "reuploaded"


def test_issue8_deep_check_healthy_lane_with_a_head_ahead_is_wedged() -> None:
    state = member_state(GI)
    genuine = Candidate.of(seal_gi(GI, KEY).to_bytes())
    ahead = Candidate.of(
        seal(b"junk", KEY, epoch=state.epoch + (1 << 20), group_state_hash=os.urandom(32))
        .to_bytes()
    )
    m = RefreshMachine(RefreshRole.DEEP_CHECK, GI, POLICY, NOW, NOW, kinds=(SlotKind.LANE,))
    m.send(SlotFetched((ahead, genuine)))
    (target,) = m.outcome.targets
    assert (target.action, target.verified, target.uploads) == (
        TargetAction.LANE_WEDGED, True, ()
    )
    # The same candidates on the open slot are no wedge: anyone can claim any epoch there.
    o = RefreshMachine(RefreshRole.DEEP_CHECK, GI, POLICY, NOW, NOW, kinds=(SlotKind.OPEN,))
    o.send(SlotFetched((ahead, genuine)))
    assert [t.action for t in o.outcome.targets] == [TargetAction.HEALTHY]


def test_issue8_metrics_count_passes_and_wedges() -> None:
    from invitekit.refresh import RefreshMetrics

    m = RefreshMachine(RefreshRole.COMMITTER, GI, POLICY, NOW, NOW)
    m.send(Uploaded((
        FakeUpload(A, ok=False, kind=SlotKind.LANE, outcome="fork"),
        FakeUpload(A, ok=True, kind=SlotKind.OPEN, outcome="created"),
    )))
    metrics = RefreshMetrics()
    metrics.observe(m.outcome)
    metrics.observe(m.outcome)
    assert metrics.lane_wedged == 2
    assert metrics.passes == {("committer", "degraded"): 2}
    assert metrics.targets == {("committer", "lane-wedged", "all"): 2}

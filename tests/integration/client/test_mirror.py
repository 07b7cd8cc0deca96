"""Mirroring slots between real services: lane uploads keep their stored signatures."""

from __future__ import annotations

import os
from collections.abc import Callable

from invitekit.client import InviteClient, SlotKind
from invitekit.lane import lane_id_for
from invitekit.mirror import mirror_slot, mirror_slots
from tests.support.groupinfos import rine, seal_gi

from .conftest import ServiceProcess
from .scenario import Scenario
from .world import World

KEY = os.urandom(32)


async def test_mirror_copies_lane_and_open_uploads_verbatim(
    client: InviteClient, start_service: Callable[..., ServiceProcess]
) -> None:
    src, b, c = start_service("src"), start_service("b"), start_service("c")
    slot = os.urandom(16)
    lane_bodies = []
    for n in (1, 2, 3):
        body = seal_gi(rine(f"rine-classic-epochs-e{n}"), KEY).to_bytes()
        lane_bodies.append(body)
        assert (await client.upload(src.url, slot, body, key=KEY)).ok
    junk = seal_gi(rine("rine-classic-epochs-e4"), os.urandom(32)).to_bytes()
    assert (await client.upload(src.url, slot, junk, kind=SlotKind.OPEN)).ok

    lane = lane_id_for(KEY)
    # The mirror never sees the key: only the public lane id.
    report = await mirror_slot(client, src.url, [b.url, c.url], slot, lane_ids=[lane])
    assert report.ok
    assert report.read == 4
    # 4 verbatim copies + the 3 lane bodies also to the open slot (issue 8), per destination.
    assert len(report.results) == 14
    for dest in (b, c):
        want = await client.stored_uploads(src.url, slot, SlotKind.LANE, lane)
        got = await client.stored_uploads(dest.url, slot, SlotKind.LANE, lane)
        assert [(u.body, u.signature) for u in got] == [(u.body, u.signature) for u in want]
        open_got = await client.stored_uploads(dest.url, slot, SlotKind.OPEN)
        assert sorted(u.body for u in open_got) == sorted([junk, *lane_bodies])
    again = await mirror_slot(client, src.url, [b.url], slot, lane_ids=[lane])
    assert again.ok
    assert {r.outcome for r in again.results} == {"present"}
    # A destination already ahead of the source is not regressed, and that is no error.
    newer = seal_gi(rine("rine-classic-epochs-e6"), KEY).to_bytes()
    assert (await client.upload(c.url, slot, newer, key=KEY)).ok
    fresh = os.urandom(16)
    for n in (4, 5):
        body = seal_gi(rine(f"rine-classic-epochs-e{n}"), KEY).to_bytes()
        assert (await client.upload(src.url, fresh, body, key=KEY)).ok
        assert (await client.upload(c.url, fresh, newer if n == 5 else body, key=KEY)).ok
    ahead = await mirror_slot(client, src.url, [c.url], fresh, lane_ids=[lane])
    assert ahead.ok
    assert {(r.kind, r.outcome) for r in ahead.results} == {
        (SlotKind.LANE, "present"), (SlotKind.LANE, "superseded"), (SlotKind.OPEN, "created")
    }


async def test_mirrored_slot_serves_a_real_join(
    world: World, client: InviteClient, start_service: Callable[..., ServiceProcess]
) -> None:
    src, dest = start_service("src"), start_service("dest")
    sc = Scenario.start(world, client, [src])
    await sc.refresh()
    lane = client.signer(sc.payload.symmetric_key).lane_id
    reports = await mirror_slots(
        client, src.url, [dest.url], [sc.payload.external_group_id], lane_ids=[lane]
    )
    assert all(r.ok for r in reports)
    src.kill()
    mirror_only = Scenario(world, client, [dest])
    joined = await mirror_only.join("alice")
    assert joined.ok
    assert joined.kind == "joined"


async def test_mirror_reports_a_dead_source(
    client: InviteClient, start_service: Callable[..., ServiceProcess]
) -> None:
    src, dest = start_service("src"), start_service("dest")
    src.kill()
    report = await mirror_slot(client, src.url, [dest.url], os.urandom(16))
    assert not report.ok
    assert report.error == "service-unreachable"

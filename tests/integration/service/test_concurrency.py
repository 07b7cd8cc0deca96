"""32 writers race on one lane with interleaved epochs and forks, through real server
processes (one process, and two processes sharing the port and the database), on every
storage backend."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from .support import Api, Invite, free_port


@pytest.mark.parametrize("workers", [1, 2])
async def test_32_writers_one_lane(service_factory, storage_backend, workers: int) -> None:
    extra = ["--no-rate-limits-enabled", "--no-access-log", "--lane-history", "1024"]
    if workers > 1:
        extra += ["--workers", str(workers)]
    svc = service_factory(*extra, start=False)
    svc.port = free_port()
    svc.start()
    inv = Invite()
    plans = []
    for w in range(32):
        # writer w climbs epochs w%4+1, +4, +8 ... ; odd writers use a forked state
        epochs = list(range(w % 4 + 1, 121, 4))
        state = "fork" if w % 2 else None
        plans.append([inv.blob(e, None if state is None else f"{state}-{e}") for e in epochs])
    bodies = {b: i for i, plan in enumerate(plans) for b in plan}
    assert len(bodies) == sum(len(p) for p in plans)
    connector = aiohttp.TCPConnector(limit=64)
    statuses: list[tuple[int, int, dict]] = []
    async with aiohttp.ClientSession(connector=connector) as session:
        api = Api(svc.base_url, session, validate=False)

        async def writer(plan: list[bytes]) -> None:
            for body in plan:
                r = await api.upload_lane(inv, body)
                statuses.append((r.status, 0, r.json))

        await asyncio.gather(*(writer(p) for p in plans))
        listing = (
            await Api(svc.base_url, session).get(inv.lane_path + "/blobs", params={"limit": "32"})
        ).json
    assert {s for s, _, _ in statuses} <= {200, 201, 409, 422}
    created = [j for s, _, j in statuses if s == 201]
    assert created
    # No two accepted uploads share an epoch with different states (no fork accepted);
    # other seals of the head's state (other bytes) are stored beside it.
    states: dict[int, set[str]] = {}
    for j in created:
        states.setdefault(j["epoch"], set()).add(j["group_state_hash"])
    assert all(len(hashes) == 1 for hashes in states.values())
    # Every 409 names a head at or above the refused epoch.
    for s, _, j in statuses:
        if s == 409:
            assert j["head"]["epoch"] >= 1
    # Commit order (the database's arrival sequence) is strictly increasing in epoch.
    svc.stop()
    committed = storage_backend.committed_epochs(svc.database_url)
    # The head only moves up; other seals of the head's state are stored beside it.
    assert committed == sorted(committed)
    assert len(committed) == len(created)
    assert listing["items"][0]["epoch"] == max(committed)

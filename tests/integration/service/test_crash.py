"""An acknowledged upload is on disk: SIGKILL the server right after acknowledgements (and
while other uploads are in flight), restart it on the same file, find every acked blob."""

from __future__ import annotations

import asyncio

import aiohttp

from .support import Api, Invite


async def test_acked_uploads_survive_sigkill(service_factory) -> None:
    svc = service_factory("--no-rate-limits-enabled", "--no-access-log", "--lane-history", "256")
    inv = Invite()
    acked: list[tuple[str, str, int]] = []  # (path prefix, sha256, epoch)
    stop = asyncio.Event()
    async with aiohttp.ClientSession() as session:
        api = Api(svc.base_url, session, validate=False)

        async def lane_writer() -> None:
            epoch = 0
            while not stop.is_set():
                epoch += 1
                try:
                    r = await api.upload_lane(inv, inv.blob(epoch))
                except aiohttp.ClientError:
                    return
                if r.status == 201:
                    acked.append((inv.lane_path, r.json["sha256"], epoch))

        async def open_writer(i: int) -> None:
            mine = Invite()
            n = 0
            while not stop.is_set():
                n += 1
                try:
                    r = await api.upload_open(mine, mine.blob(n))
                except aiohttp.ClientError:
                    return
                if r.status == 201:
                    acked.append((mine.open_path, r.json["sha256"], n))
                    if n >= 8:  # stay inside the retention window
                        return

        tasks = [asyncio.create_task(lane_writer())]
        tasks += [asyncio.create_task(open_writer(i)) for i in range(6)]
        while len(acked) < 60:
            await asyncio.sleep(0.005)
        svc.kill9()  # uploads are still in flight
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    snapshot = list(acked)
    assert len(snapshot) >= 60
    svc.start()
    async with aiohttp.ClientSession() as session:
        api = Api(svc.base_url, session)
        for prefix, sha, _ in snapshot:
            r = await api.call("HEAD", f"{prefix}/blobs/{sha}")
            assert r.status == 200, (prefix, sha)
        lane_epochs = [epoch for p, _, epoch in snapshot if p == inv.lane_path]
        if lane_epochs:
            # The head is the newest acked upload or one committed whose ack the kill cut off:
            # never anything older than an acknowledged epoch.
            head = await api.get(inv.lane_path + "/head")
            assert head.status == 200
            assert int(head.headers["Invitekit-Epoch"]) >= max(lane_epochs)

"""Floods at default rate limits, from distinct loopback source addresses (127.0.x.y):
one client many slots, many clients one slot, keyless writers on a lane, key holders on a
lane and on an open slot. The fairness rule (SPEC, "Uploads"): a slot's write budget is
shared, but one client may use only its share of it, and nothing unauthenticated is
charged to a lane. So an honest writer that stays inside its own budgets is always
admitted; on a lane a read right after its upload shows its blob; on the open slot the
flood may push it out of the FIFO window while the flooders' shares last (the XIP's
refresh-versus-flood race, counted), and once they are spent it stays visible.

CI: a few hundred flood requests per test. Longer: ``scripts/reliability.sh floods``.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field

import aiohttp

from invitekit.blob import seal
from invitekit.lane import LaneSigner
from invitekit.protocol import b64url, parse_b64url

from .abuse import source
from .harness import env_float, record_figures

SCALE = env_float("RELIABILITY_SCALE", 1.0)
HONEST_UPLOADS = 10  # under the per-client share of one slot's budget (with one more after)


def client(src: str) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(local_addr=(src, 0), limit=32),
        timeout=aiohttp.ClientTimeout(total=60),
    )


@dataclass
class Slot:
    key: bytes = field(default_factory=lambda: os.urandom(32))
    slot: bytes = field(default_factory=lambda: os.urandom(16))

    def __post_init__(self) -> None:
        self.signer = LaneSigner(self.key)

    @property
    def lane(self) -> str:
        return f"/v1/slots/{b64url(self.slot)}/lanes/{b64url(self.signer.lane_id)}"

    @property
    def open(self) -> str:
        return f"/v1/slots/{b64url(self.slot)}/open"

    def blob(self, epoch: int, key: bytes | None = None) -> bytes:
        return seal(os.urandom(80), key or self.key, epoch=epoch,
                    group_state_hash=os.urandom(32)).to_bytes()

    def sign(self, body: bytes) -> dict[str, str]:
        return {"Invitekit-Signature": b64url(self.signer.sign(self.slot, body))}


async def post(http: aiohttp.ClientSession, url: str, body: bytes,
               headers: dict[str, str] | None = None) -> tuple[int, dict]:  # type: ignore[type-arg]
    async with http.post(url, data=body, headers=headers or {}) as r:
        data = await r.json(content_type=None)
        return r.status, data


async def listed(http: aiohttp.ClientSession, url: str) -> list[bytes]:
    async with http.get(url + "/blobs", params={"limit": "8"}) as r:
        assert r.status == 200, r.status
        return [parse_b64url(i["blob"]) or b"" for i in (await r.json())["items"]]


@dataclass
class Tally:
    statuses: dict[int, int] = field(default_factory=dict)

    def add(self, status: int) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1

    def __getitem__(self, status: int) -> int:
        return self.statuses.get(status, 0)


async def flood(n: int, send) -> Tally:  # type: ignore[no-untyped-def]
    tally = Tally()
    results = await asyncio.gather(*(send(i) for i in range(n)), return_exceptions=True)
    for r in results:
        assert not isinstance(r, BaseException), r
        tally.add(r)
    return tally


async def honest_open_writer(
    base: str, s: Slot, flooding: asyncio.Task  # type: ignore[type-arg]
) -> tuple[list[str], int]:
    """Upload HONEST_UPLOADS blobs while the flood runs; each must be admitted. After each,
    a read from another address looks for it: while the flood lasts it may already have been
    pushed out of the FIFO window (the refresh-versus-flood race, counted, not asserted);
    once the flood is spent, the next honest upload must stay visible."""
    failures = []
    seen = 0
    async with client("127.0.9.1") as http, client("127.0.9.2") as reader:
        for epoch in range(1, HONEST_UPLOADS + 1):
            body = s.blob(epoch)
            status, data = await post(http, base + s.open + "/blobs", body)
            if status != 201:
                failures.append(f"upload {epoch}: {status} {data.get('type')}")
                continue
            seen += body in await listed(reader, base + s.open)
        await flooding
        body = s.blob(HONEST_UPLOADS + 1)
        status, data = await post(http, base + s.open + "/blobs", body)
        if status != 201:
            failures.append(f"upload after the flood: {status} {data.get('type')}")
        elif body not in await listed(reader, base + s.open):
            failures.append("read after the flood: honest blob missing")
    return failures, seen


async def test_keyless_flood_on_a_lane_costs_the_key_holder_nothing(make_service) -> None:
    svc = make_service("--no-access-log")
    base, s = svc.base_url, Slot()
    n = int(300 * SCALE)

    async def junk(i: int) -> int:
        body = s.blob(1_000 + i, key=os.urandom(32))
        headers = {} if i % 2 else {"Invitekit-Signature": b64url(os.urandom(64))}
        async with client(source(i % 40)) as http:
            status, _ = await post(http, base + s.lane + "/blobs", body, headers)
            return status

    flooding = asyncio.create_task(flood(n, junk))
    failures = []
    async with client("127.0.9.1") as http:
        for epoch in range(1, HONEST_UPLOADS + 1):
            body = s.blob(epoch)
            status, data = await post(http, base + s.lane + "/blobs", body, s.sign(body))
            if status != 201:
                failures.append(f"{epoch}: {status} {data.get('type')}")
            async with http.get(base + s.lane + "/head") as r:
                if await r.read() != body:
                    failures.append(f"{epoch}: head is not the honest blob")
    tally = await flooding
    assert failures == [], failures
    assert tally[401] + tally[403] + tally[429] == n, tally.statuses
    assert tally[201] == 0, tally.statuses
    record_figures("flood-keyless-lane", {"flood": n, "answers": tally.statuses,
                                          "honest_admitted": HONEST_UPLOADS})


async def test_one_client_flooding_an_open_slot_gets_only_its_share(make_service) -> None:
    svc = make_service("--no-access-log")
    base, s = svc.base_url, Slot()
    n = int(200 * SCALE)

    async def spam(i: int) -> int:
        async with client("127.0.5.5") as http:  # one address, the key holder's own blobs
            status, _ = await post(http, base + s.open + "/blobs", s.blob(5_000 + i))
            return status

    task = asyncio.create_task(flood(n, spam))
    failures, seen = await honest_open_writer(base, s, task)
    tally = task.result()
    assert failures == [], failures
    assert tally[201] <= 12, tally.statuses  # one client's share of the slot
    record_figures("flood-key-holder-open", {"flood": n, "answers": tally.statuses,
                                             "honest_admitted": HONEST_UPLOADS + 1,
                                             "honest_seen_during_flood": seen})


async def test_many_clients_flooding_one_slot_leave_the_honest_writer_in(make_service) -> None:
    svc = make_service("--no-access-log")
    base, s = svc.base_url, Slot()
    flooders = 4  # together under the slot budget minus one honest share (see SPEC)
    per = int(60 * SCALE)

    async def spam(i: int) -> int:
        async with client(source(i % flooders)) as http:
            junk = s.blob(9_000 + i, os.urandom(32))
            status, _ = await post(http, base + s.open + "/blobs", junk)
            return status

    task = asyncio.create_task(flood(flooders * per, spam))
    failures, seen = await honest_open_writer(base, s, task)
    tally = task.result()
    assert failures == [], failures
    assert tally[201] <= 12 * flooders, tally.statuses
    record_figures("flood-many-clients-one-slot", {"flooders": flooders, "flood": flooders * per,
                                                   "answers": tally.statuses,
                                                   "honest_admitted": HONEST_UPLOADS + 1,
                                                   "honest_seen_during_flood": seen})


async def test_one_client_many_slots_is_held_to_its_write_budget(make_service) -> None:
    svc = make_service("--no-access-log")
    base = svc.base_url
    n = int(400 * SCALE)

    async def fresh(i: int) -> int:
        s = Slot()
        async with client("127.0.6.6") as http:
            status, _ = await post(http, base + s.open + "/blobs", s.blob(1))
            return status

    task = asyncio.create_task(flood(n, fresh))
    failures, _ = await honest_open_writer(base, Slot(), task)
    tally = task.result()
    assert failures == [], failures
    assert tally[201] <= 120, tally.statuses  # the default client write budget per minute
    assert tally[201] + tally[429] == n, tally.statuses
    record_figures("flood-one-client-many-slots", {"flood": n, "answers": tally.statuses})


async def test_key_holder_flood_on_a_lane_cannot_lock_out_the_honest_writer(make_service) -> None:
    svc = make_service("--no-access-log")
    base, s = svc.base_url, Slot()
    n = int(200 * SCALE)
    top = {"epoch": 0}

    async def race(i: int) -> int:
        async with client("127.0.7.7") as http:  # holds the key: its uploads verify
            top["epoch"] += 1
            body = s.blob(top["epoch"])
            status, _ = await post(http, base + s.lane + "/blobs", body, s.sign(body))
            return status

    tally = await flood(n, race)
    assert tally[201] <= 12, tally.statuses  # one client's share of the slot
    admitted = 0
    async with client("127.0.9.1") as http:
        for _ in range(HONEST_UPLOADS):
            async with http.get(base + s.lane + "/head") as r:
                head = int(r.headers["Invitekit-Epoch"])
            body = s.blob(head + 1)
            status, data = await post(http, base + s.lane + "/blobs", body, s.sign(body))
            assert status == 201, (status, data)
            admitted += 1
            async with http.get(base + s.lane + "/head") as r:
                assert await r.read() == body
    record_figures("flood-key-holder-lane", {"flood": n, "answers": tally.statuses,
                                             "honest_admitted": admitted})

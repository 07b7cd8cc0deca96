"""Cross-process truth on PostgreSQL: several real service processes (different ports, one
database) behave as one service — one winner per lane epoch, reads see every acknowledged
upload at once, rate budgets are shared, migrations and GC run concurrently without harm."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from invitekit_service.admission import AdmissionPolicy, Outcome, SlotAddress, SlotKind
from invitekit_service.storage import StorageUnavailable
from invitekit_service.storage.pg_migrations import MIGRATIONS
from invitekit_service.storage.postgres import PostgresBlobStore

from .pg_local import LocalPostgres
from .support import Api, Invite, ServiceProcess, unb64
from .test_storage_conformance import upload

QUIET = ["--no-access-log"]


def start_together(procs: list[ServiceProcess]) -> None:
    """Start every process at the same moment (threads), then wait until all are ready."""
    errors: list[BaseException] = []

    def run(p: ServiceProcess) -> None:
        try:
            p.start()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(p,)) for p in procs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


@pytest.fixture
def cluster(postgres_server: LocalPostgres, tmp_path: Path):
    """Factory: ``n`` service processes on one fresh database, started at once."""
    started: list[ServiceProcess] = []

    def make(n: int, *extra: str) -> list[ServiceProcess]:
        url = postgres_server.create_database()
        procs = [ServiceProcess(url, tmp_path, [*QUIET, *extra]) for _ in range(n)]
        started.extend(procs)
        start_together(procs)
        return procs

    yield make
    for p in started:
        p.stop()


async def test_racing_writers_across_processes_one_winner_per_epoch(cluster) -> None:
    procs = cluster(3, "--no-rate-limits-enabled", "--lane-history", "64")
    inv = Invite()
    rounds, racers = 12, 6
    outcomes: dict[int, list[tuple[int, bytes]]] = {}
    async with aiohttp.ClientSession() as session:
        apis = [Api(p.base_url, session, validate=False) for p in procs]

        async def race(epoch: int) -> None:
            # Every racer holds a different blob for the same epoch (a fork each).
            bodies = [inv.blob(epoch, f"racer-{i}") for i in range(racers)]
            replies = await asyncio.gather(
                *(apis[i % len(apis)].upload_lane(inv, b) for i, b in enumerate(bodies))
            )
            outcomes[epoch] = [(r.status, b) for r, b in zip(replies, bodies, strict=True)]

        for epoch in range(1, rounds + 1):
            await race(epoch)
        listings = [
            (await a.get(inv.lane_path + "/blobs", params={"limit": "32"})).json for a in apis
        ]
    winners: dict[int, bytes] = {}
    for epoch, results in outcomes.items():
        statuses = Counter(s for s, _ in results)
        assert statuses[201] == 1, (epoch, statuses)
        assert statuses[409] == racers - 1, (epoch, statuses)
        winners[epoch] = next(b for s, b in results if s == 201)
    # Every process serves the same history: exactly the winners, newest epoch first.
    for listing in listings:
        assert [unb64(i["blob"]) for i in listing["items"]] == [
            winners[e] for e in sorted(winners, reverse=True)
        ]


async def test_upload_through_one_is_readable_through_the_other_at_once(cluster) -> None:
    a, b = cluster(2, "--no-rate-limits-enabled")
    async with aiohttp.ClientSession() as session:
        api_a, api_b = Api(a.base_url, session), Api(b.base_url, session)
        for round_ in range(5):
            inv = Invite()
            # Prime B's head cache with "empty", then write through A.
            assert (await api_b.get(inv.open_path + "/head")).status == 404
            body = inv.blob(7 + round_)
            r = await api_a.upload_open(inv, body)
            assert r.status == 201
            sha = r.json["sha256"]
            # Listing, lookup by content address and presence go to the database: at once.
            listing = (await api_b.get(inv.open_path + "/blobs")).json
            assert [unb64(i["blob"]) for i in listing["items"]] == [body]
            got = await api_b.get(f"{inv.open_path}/blobs/{sha}")
            assert got.status == 200
            assert got.body == body
            presence = await api_b.get(
                inv.open_path + "/presence",
                params={"epoch": str(7 + round_), "group_state_hash": r.json["group_state_hash"]},
            )
            assert presence.json["present"] is True
            # B's head cache learns of A's commit through NOTIFY (delivered after the
            # commit, asynchronously): it must change, and never to anything but the upload.
            deadline = time.monotonic() + 10
            while True:
                head = await api_b.get(inv.open_path + "/head")
                if head.status == 200 or time.monotonic() > deadline:
                    break
                assert head.status == 404
                await asyncio.sleep(0.01)
            assert head.status == 200
            assert head.body == body
            # And a lane upload through B is at once A's lane head (A never cached it).
            lane_body = inv.blob(3)
            assert (await api_b.upload_lane(inv, lane_body)).status == 201
            lane_head = await api_a.get(inv.lane_path + "/head")
            assert lane_head.body == lane_body


async def test_write_budgets_are_shared_across_processes(cluster) -> None:
    a, b = cluster(2, "--client-write-limit", "5/minute", "--slot-write-limit", "100/minute")
    inv = Invite()
    async with aiohttp.ClientSession() as session:
        apis = [Api(a.base_url, session, validate=False), Api(b.base_url, session, validate=False)]
        statuses = []
        for i in range(10):
            r = await apis[i % 2].upload_open(inv, inv.blob(i + 1))
            statuses.append(r.status)
            if r.status == 429:
                assert r.json["scope"] == "client-write"
                assert int(r.headers["Retry-After"]) >= 1
    # Five in all, not five per process.
    assert Counter(statuses) == {201: 5, 429: 5}


async def test_slot_and_read_budgets_are_shared_across_processes(cluster) -> None:
    a, b = cluster(
        2,
        "--client-write-limit",
        "100/minute",
        "--slot-write-limit",
        "3/minute",
        "--client-read-limit",
        "6/minute",
    )
    inv = Invite()
    async with aiohttp.ClientSession() as session:
        apis = [Api(a.base_url, session, validate=False), Api(b.base_url, session, validate=False)]
        writes = [(await apis[i % 2].upload_open(inv, inv.blob(i + 1))).status for i in range(6)]
        reads = [(await apis[i % 2].get(inv.open_path + "/blobs")).status for i in range(10)]
    assert Counter(writes) == {201: 3, 429: 3}
    assert Counter(reads) == {200: 6, 429: 4}


async def test_migrations_are_applied_once_when_stores_start_at_once(
    postgres_server: LocalPostgres,
) -> None:
    url = postgres_server.create_database()
    stores = [PostgresBlobStore(url, pool_max=2) for _ in range(6)]
    try:
        await asyncio.gather(*(s.start() for s in stores))
    finally:
        await asyncio.gather(*(s.close() for s in stores))
    rows = postgres_server.psql(
        "SELECT version FROM invitekit_migrations ORDER BY version", dbname=url.rsplit("/", 1)[1]
    ).split()
    assert [int(v) for v in rows] == [m.version for m in MIGRATIONS]


async def test_a_database_from_a_newer_release_is_refused(postgres_server: LocalPostgres) -> None:
    url = postgres_server.create_database()
    store = PostgresBlobStore(url)
    await store.start()
    await store.close()
    db = url.rsplit("/", 1)[1]
    postgres_server.psql("INSERT INTO invitekit_migrations (version, name) VALUES (999, 'x')", db)
    later = PostgresBlobStore(url)
    with pytest.raises(Exception, match="newer"):
        await later.start()


async def test_concurrent_gc_passes_split_the_work(postgres_server: LocalPostgres) -> None:
    url = postgres_server.create_database()
    collectors = [PostgresBlobStore(url, gc_chunk=50) for _ in range(3)]
    for c in collectors:
        await c.start()
    try:
        inv = Invite()
        live = upload(inv, 1)
        addr = SlotAddress(inv.slot, SlotKind.OPEN)
        policy = AdmissionPolicy(retention=8)
        assert (await collectors[0].admit(addr, live, policy, time.time_ns())).outcome is (
            Outcome.CREATED
        )
        expired_total = 3000
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(
                "INSERT INTO slots (slot_id, lane_id, lock_key, last_write_ns) "
                "SELECT int8send(g), ''::bytea, g, 0 FROM generate_series(1, $1) g",
                expired_total,
            )
            await conn.execute(
                "INSERT INTO blobs (slot_ref, sha256, fields_key, epoch, group_state_hash, "
                "expires_at_ns, nonce, body, received_ns) "
                "SELECT id, sha256(slot_id), sha256(slot_id), int8send(1), sha256(slot_id), "
                "int8send(1000), '\\x000000000000000000000000'::bytea, int8send(id), 0 "
                "FROM slots WHERE lane_id = ''::bytea AND slot_id <> $1",
                inv.slot,
            )
            reports = await asyncio.gather(
                *(c.collect_garbage(time.time_ns(), None) for c in collectors)
            )
            left = await conn.fetchval("SELECT count(*) FROM blobs")
        finally:
            await conn.close()
        assert sum(r.expired_blobs for r in reports) == expired_total
        assert left == 1  # the live blob
        found = await collectors[1].list_entries(addr, now_ns=time.time_ns(), limit=8)
        assert [f.body for f in found] == [live.body]
    finally:
        for c in collectors:
            await c.close()


async def test_change_markers_cross_processes_and_survive_a_lost_listener(
    postgres_server: LocalPostgres,
) -> None:
    url = postgres_server.create_database()
    writer, reader = PostgresBlobStore(url), PostgresBlobStore(url)
    await writer.start()
    await reader.start()
    try:
        inv = Invite()
        addr = SlotAddress(inv.slot, SlotKind.LANE, inv.signer.lane_id)
        policy = AdmissionPolicy(retention=4)
        before = reader.change_marker(addr)
        assert reader.change_marker(addr) == before  # stable while nothing changes
        await writer.admit(addr, upload(inv, 1), policy, time.time_ns())
        deadline = time.monotonic() + 10
        while reader.change_marker(addr) == before and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert reader.change_marker(addr) != before
        stable_before_loss = reader.change_marker(addr)
        # Kill the reader's listener connection for real, with new connections to the
        # database refused so the reconnect cannot win the race with this test: until the
        # listener is back, markers never repeat (caches miss rather than serve stale data)
        # and readiness says so.
        dbname = url.rsplit("/", 1)[1].split("?", 1)[0]
        postgres_server.psql(f'ALTER DATABASE "{dbname}" ALLOW_CONNECTIONS false')
        conn = await asyncpg.connect(postgres_server.url())
        try:
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE query LIKE 'LISTEN%' AND datname = $1",
                dbname,
            )
        finally:
            await conn.close()
        deadline = time.monotonic() + 10
        while reader.change_marker(addr) == reader.change_marker(addr):
            assert time.monotonic() < deadline, "the lost listener was never noticed"
            await asyncio.sleep(0.01)
        first, second = reader.change_marker(addr), reader.change_marker(addr)
        assert first != second
        assert stable_before_loss not in (first, second)
        with pytest.raises(StorageUnavailable):
            await reader.check_ready()
        postgres_server.psql(f'ALTER DATABASE "{dbname}" ALLOW_CONNECTIONS true')
        deadline = time.monotonic() + 15
        while reader.change_marker(addr) != reader.change_marker(addr):
            assert time.monotonic() < deadline, "the listener never came back"
            await asyncio.sleep(0.05)
        # Back: anything announced while deaf was invalidated (every bucket bumped).
        assert reader.change_marker(addr) != stable_before_loss
        await reader.check_ready()
        stable = reader.change_marker(addr)
        await writer.admit(addr, upload(inv, 2), policy, time.time_ns())
        deadline = time.monotonic() + 10
        while reader.change_marker(addr) == stable and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert reader.change_marker(addr) != stable
    finally:
        await writer.close()
        await reader.close()

"""Issue 12, disk: storage quotas in bytes per client and per (slot, client), space handed
back after collection, and readiness that reports a database that cannot write. The full
disk is real: the service runs under a file-size limit (RLIMIT_FSIZE, set with util-linux
``prlimit``), which makes SQLite's writes fail exactly as a full file system does, and the
limit is lifted on the running process to show recovery."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import sqlite3
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp

from .limited import launched
from .support import Api, Invite, ServiceProcess

DEADLINE_S = 45.0


@asynccontextmanager
async def _client_at(address: str) -> AsyncIterator[aiohttp.ClientSession]:
    connector = aiohttp.TCPConnector(local_addr=(address, 0))
    async with aiohttp.ClientSession(connector=connector) as session:
        yield session


def _blob(invite: Invite, epoch: int, kib: int, expires_at_ns: int = 0) -> bytes:
    return invite.blob(epoch, plaintext=os.urandom(kib * 1024), expires_at_ns=expires_at_ns)


async def test_byte_quotas_per_client_and_per_slot(
    service_factory: Callable[..., ServiceProcess],
) -> None:
    svc = service_factory(
        "--no-access-log",
        "--max-body-bytes",
        str(256 * 1024),
        "--client-write-bytes-limit",
        "300 KiB/hour",
        "--slot-client-write-bytes-limit",
        "150 KiB/hour",
    )
    crowded = Invite()
    async with _client_at("127.0.0.21") as heavy, _client_at("127.0.0.22") as light:
        hog = Api(svc.base_url, heavy)
        other = Api(svc.base_url, light)
        in_one_slot = [(await hog.upload_open(crowded, _blob(crowded, n, 49))) for n in range(4)]
        assert [r.status for r in in_one_slot] == [201, 201, 201, 429]
        assert in_one_slot[3].json["scope"] == "slot-client-write-bytes"
        # The same slot still takes another client's bytes.
        assert (await other.upload_open(crowded, _blob(crowded, 10, 49))).status == 201
        elsewhere = []
        for _ in range(4):
            fresh = Invite()
            elsewhere.append(await hog.upload_open(fresh, _blob(fresh, 1, 49)))
        assert [r.status for r in elsewhere] == [201, 201, 201, 429]
        assert elsewhere[3].json["scope"] == "client-write-bytes"
        fresh = Invite()
        assert (await other.upload_open(fresh, _blob(fresh, 1, 49))).status == 201


def _footprint(database: Path) -> int:
    files = [database, Path(f"{database}-wal")]
    return sum(f.stat().st_size for f in files if f.exists())


def _blob_rows(database: Path) -> int:
    with contextlib.closing(sqlite3.connect(database)) as conn:
        return int(conn.execute("SELECT count(*) FROM blobs").fetchone()[0])


async def test_collection_hands_space_back(session: aiohttp.ClientSession, tmp_path: Path) -> None:
    """SQLite: incremental vacuum and a truncating checkpoint after a collection."""
    args = ["--no-rate-limits-enabled", "--no-access-log", "--gc-interval-s", "0.5"]
    with launched(tmp_path, [], args) as svc:
        database = svc.database
        api = Api(svc.base_url, session)
        soon = time.time_ns() + 3_000_000_000
        for _ in range(40):
            invite = Invite()
            assert (await api.upload_open(invite, _blob(invite, 1, 48, soon))).status == 201
        peak = _footprint(database)
        assert peak > 40 * 48 * 1024
        deadline = time.monotonic() + DEADLINE_S
        while _blob_rows(database) or _footprint(database) > peak // 4:
            assert time.monotonic() < deadline, (_blob_rows(database), _footprint(database), peak)
            await asyncio.sleep(0.2)


async def _ready(api: Api) -> int:
    return (await api.get("/readyz")).status


async def test_a_database_that_cannot_write_is_not_ready_and_recovers(
    session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    limit = 3 << 20
    # the disk reserve (allocated at start) must fit under the file-size limit
    args = ["--no-rate-limits-enabled", "--no-access-log", "--gc-interval-s", "3600",
            "--disk-reserve-bytes", str(1 << 20)]
    # Soft limit 3 MiB, hard unlimited: lifting the soft limit later needs no privilege.
    with launched(tmp_path, ["prlimit", f"--fsize={limit}:unlimited", "--"], args) as svc:
        api = Api(svc.base_url, session)
        acknowledged: list[tuple[Invite, str]] = []
        refused = None
        for n in range(400):
            invite = Invite()
            reply = await api.upload_open(invite, _blob(invite, n, 60))
            if reply.status == 201:
                acknowledged.append((invite, reply.json["sha256"]))
                continue
            refused = reply
            break
        assert refused is not None, "the file-size limit was never reached"
        assert refused.status == 503
        assert refused.problem_type == "unavailable"
        assert acknowledged
        assert await _ready(api) == 503
        assert (await api.get("/healthz")).status == 200
        for invite, sha in acknowledged:  # nothing acknowledged is lost
            got = await api.get(f"{invite.open_path}/blobs/{sha}")
            assert got.status == 200
            assert hashlib.sha256(got.body).hexdigest() == sha
        subprocess.run(["prlimit", "--pid", str(svc.proc.pid), "--fsize=unlimited"], check=True)
        deadline = time.monotonic() + DEADLINE_S
        while await _ready(api) != 200:
            assert time.monotonic() < deadline, "not ready after space returned"
            await asyncio.sleep(0.2)
        invite = Invite()
        assert (await api.upload_open(invite, _blob(invite, 1, 60))).status == 201
    with contextlib.closing(sqlite3.connect(svc.database)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

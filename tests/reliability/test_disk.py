"""Full disk and a read-only database, for real: the service's database lives on a small
tmpfs the test mounts (root, as on CI), which the test fills to the last byte with a filler
file, or remounts read-only. Writes must get clean 503 problems (never a 500), reads of
what was acknowledged keep working, readiness reports the database that cannot write,
nothing acknowledged is lost (``integrity_check`` ok), and writes recover once space or
write access returns.

A read-only database is made by setting the immutable attribute (``chattr +i``) on the
database files under the running service (a remount read-only is refused while the files
are open for writing). The file-size limit (RLIMIT_FSIZE, set on the running service with
prlimit) is a third way to make writes fail, and needs no root.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from invitekit.blob import seal
from invitekit.protocol import b64url

from .bounds import MIB, memory
from .harness import SqliteBackend, record_figures

ROOT = os.geteuid() == 0
TMPFS_BYTES = 6 << 20
# the disk reserve (SQLite store) sized for a 6 MiB file system
DISK_FLAGS = ["--disk-reserve-bytes", str(1 << 20)]
WAL_TMPFS_BYTES = 16 << 20
SPARE_BYTES = 2 << 20  # what the operator frees in the WAL test: less than the WAL held


@contextlib.contextmanager
def small_filesystem(where: Path, size: int = TMPFS_BYTES) -> Iterator[Path]:
    """A fresh tmpfs of ``size`` bytes at ``where`` (unmounted afterwards)."""
    where.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                   check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(path: Path) -> int:
    """Write a filler file until the filesystem is full; return its size."""
    written = 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with contextlib.suppress(OSError):
            while True:
                written += os.write(fd, b"\0" * 4096)
    finally:
        os.close(fd)
    return written


def opened(n: int) -> tuple[str, bytes]:
    slot = n.to_bytes(4, "big") + b"disk-test-slot"
    body = seal(os.urandom(2048), bytes(32), epoch=n, group_state_hash=os.urandom(32)).to_bytes()
    return f"/v1/slots/{b64url(slot)}/open", body


async def upload(http: aiohttp.ClientSession, base: str, n: int) -> tuple[int, str, str, str]:
    path, body = opened(n)
    async with http.post(base + path + "/blobs", data=body) as r:
        data = await r.json(content_type=None)
        return r.status, r.content_type, path, data.get("sha256", data.get("type", ""))


async def ready(http: aiohttp.ClientSession, base: str) -> int:
    async with http.get(base + "/readyz") as r:
        return r.status


async def exercise(make_service, db_dir: Path, break_it, repair) -> dict:  # type: ignore[no-untyped-def]
    """Upload until (and past) ``break_it``; check 503s, reads, readiness; ``repair``; check
    recovery and that every acknowledged upload is still there."""
    backend = SqliteBackend()
    db_dir.mkdir(parents=True, exist_ok=True)
    svc = make_service("--no-access-log", "--no-rate-limits-enabled", *DISK_FLAGS,
                       database_url=backend.database_url(db_dir))
    acked: list[tuple[str, str]] = []
    refused: dict[int, int] = {}
    async with aiohttp.ClientSession() as http:
        base = svc.base_url
        for n in range(1, 21):
            status, _, path, sha = await upload(http, base, n)
            assert status == 201, status
            acked.append((path, sha))
        await break_it(svc)
        broken_ready = await ready(http, base)
        in_a_row = 0
        for n in range(21, 400):  # until ten refusals in a row (space or writes are gone)
            status, ctype, path, sha = await upload(http, base, n)
            assert status in (201, 503), (status, sha)
            if status == 201:
                acked.append((path, sha))
                in_a_row = 0
                continue
            assert ctype == "application/problem+json"
            refused[status] = refused.get(status, 0) + 1
            in_a_row += 1
            if in_a_row == 10:
                break
        assert refused.get(503, 0) > 0, "the broken database never refused a write"
        for path, sha in acked:  # reads keep working
            async with http.get(base + path + "/blobs/" + sha) as r:
                assert r.status == 200, (r.status, path)
        assert broken_ready == 503 or await ready(http, base) == 503
        await repair(svc)
        for n in range(400, 405):
            status, _, path, sha = await upload(http, base, n)
            assert status == 201, (status, sha)
            acked.append((path, sha))
        assert await ready(http, base) == 200
    svc.stop()
    backend.integrity_check(backend.database_url(db_dir))
    svc.start()
    async with aiohttp.ClientSession() as http:
        for path, sha in acked:
            async with http.head(svc.base_url + path + "/blobs/" + sha) as r:
                assert r.status == 200, (path, sha)
    return {"acknowledged": len(acked), "refused_503": refused.get(503, 0), "lost": 0}


@pytest.mark.skipif(not ROOT, reason="mounting a tmpfs needs root (CI runs as root)")
async def test_full_disk_gives_503_and_recovers(make_service, tmp_path: Path) -> None:
    with small_filesystem(tmp_path / "fs") as fs:
        filler = fs / "filler"

        async def break_it(svc) -> None:  # type: ignore[no-untyped-def]
            fill(filler)

        async def repair(svc) -> None:  # type: ignore[no-untyped-def]
            filler.unlink()

        figures = await exercise(make_service, fs / "db", break_it, repair)
    record_figures("disk-full", figures)


def database_files(svc) -> list[Path]:  # type: ignore[no-untyped-def]
    db = Path(svc.database_url.removeprefix("sqlite:///"))
    return [p for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm")) if p.exists()]


@pytest.mark.skipif(not ROOT, reason="the immutable attribute needs root (CI runs as root)")
async def test_read_only_database_gives_503_and_recovers(make_service, tmp_path: Path) -> None:
    """The database files become immutable (chattr +i) under the running service: every
    write through its open descriptors fails, as on a filesystem gone read-only."""
    locked: list[Path] = []

    async def break_it(svc) -> None:  # type: ignore[no-untyped-def]
        # the database and its WAL; the -shm index is memory-mapped shared state, which
        # SQLite keeps writable even for read-only databases
        for path in database_files(svc):
            if path.name.endswith("-shm"):
                continue
            subprocess.run(["chattr", "+i", str(path)], check=True)
            locked.append(path)

    async def repair(svc) -> None:  # type: ignore[no-untyped-def]
        for path in locked:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        locked.clear()

    try:
        figures = await exercise(make_service, tmp_path / "db", break_it, repair)
    finally:
        for path in locked:
            subprocess.run(["chattr", "-i", str(path)], check=False)
    record_figures("disk-read-only", figures)


async def test_file_size_limit_gives_503_and_recovers(make_service, tmp_path: Path) -> None:
    """The unprivileged stand-in: the running service may not grow any file (prlimit)."""
    import resource

    async def break_it(svc) -> None:  # type: ignore[no-untyped-def]
        size = max(p.stat().st_size for p in database_files(svc))
        resource.prlimit(svc.pid, resource.RLIMIT_FSIZE, (size, resource.RLIM_INFINITY))

    async def repair(svc) -> None:  # type: ignore[no-untyped-def]
        resource.prlimit(svc.pid, resource.RLIMIT_FSIZE,
                         (resource.RLIM_INFINITY, resource.RLIM_INFINITY))

    figures = await exercise(make_service, tmp_path / "db", break_it, repair)
    record_figures("disk-fsize", figures)


async def upload_large(http: aiohttp.ClientSession, base: str, n: int) -> tuple[int, str, str]:
    """A 200 kB blob to its own open slot: (status, slot path, sha256 or problem type)."""
    path = f"/v1/slots/{b64url(n.to_bytes(4, 'big') + b'wal-test-slot')}/open"
    body = seal(os.urandom(200_000), bytes(32), epoch=n,
                group_state_hash=os.urandom(32)).to_bytes()
    async with http.post(base + path + "/blobs", data=body) as r:
        data = await r.json(content_type=None)
        return r.status, path, data.get("sha256", data.get("type", ""))


async def wait_ready(http: aiohttp.ClientSession, base: str, attempts: int = 120) -> int:
    """Poll ``/readyz`` until 200 (a liveness bound of ``attempts`` half-second polls)."""
    status = 0
    for _ in range(attempts):
        status = await ready(http, base)
        if status == 200:
            break
        await asyncio.sleep(0.5)
    return status


@pytest.mark.skipif(not ROOT, reason="mounting a tmpfs needs root (CI runs as root)")
async def test_full_disk_recovers_when_less_than_the_wal_is_freed(
    make_service, tmp_path: Path
) -> None:
    """A burst of uploads leaves a large WAL; the disk then fills (a filler file), and the
    uploads that follow fill the WAL with pages the database file cannot grow to take, so
    no checkpoint can run. The operator frees less space than the WAL holds. The service
    must recover by itself (checkpoint and truncate the WAL with the help of its reserve),
    report ready, and take uploads again; nothing acknowledged is lost."""
    with small_filesystem(tmp_path / "fs", WAL_TMPFS_BYTES) as fs:
        backend = SqliteBackend()
        (fs / "db").mkdir()
        svc = make_service("--no-access-log", "--no-rate-limits-enabled", *DISK_FLAGS,
                           database_url=backend.database_url(fs / "db"))
        acked: list[tuple[str, str]] = []
        statuses: dict[int, int] = {}

        def count(status: int, path: str, sha: str) -> None:
            statuses[status] = statuses.get(status, 0) + 1
            assert status in (201, 503), (status, sha)
            if status == 201:
                acked.append((path, sha))

        before = memory(svc.pid)
        async with aiohttp.ClientSession() as http:
            base = svc.base_url
            for got in await asyncio.gather(*(upload_large(http, base, n) for n in range(24))):
                count(*got)  # one burst: a WAL of megabytes before any checkpoint
            await asyncio.sleep(2)  # the checkpointer copies it (the WAL file keeps its size)
            spare = fs / "operator-spare"
            spare.write_bytes(b"\0" * SPARE_BYTES)
            fill(fs / "filler")
            in_a_row, n = 0, 100
            while in_a_row < 5:
                n += 1
                status, path, sha = await upload_large(http, base, n)
                count(status, path, sha)
                in_a_row = in_a_row + 1 if status == 503 else 0
            wal = Path(svc.database_url.removeprefix("sqlite:///") + "-wal")
            wal_size = wal.stat().st_size if wal.exists() else 0
            assert await ready(http, base) == 503
            # a restart while the disk is still full: the process comes up (not ready)
            first = memory(svc.pid)
            await http.close()
            svc.stop()
            await asyncio.to_thread(svc.start, ready=False)
        async with aiohttp.ClientSession() as http:
            base = svc.base_url
            restarted_ready = await ready(http, base)
            assert restarted_ready == 503
            for path, sha in acked:  # reads work on the full disk
                async with http.head(base + path + "/blobs/" + sha) as r:
                    assert r.status == 200, (path, sha)
            spare.unlink()  # less than the WAL holds (on the code before the fix)
            status = await wait_ready(http, base)
            after = []
            for n in range(1000, 1003):
                got = await upload_large(http, base, n)
                after.append(got[0])
                count(*got)
            for path, sha in acked:
                async with http.head(base + path + "/blobs/" + sha) as r:
                    assert r.status == 200, (path, sha)
        end = memory(svc.pid)
        figures = {"acknowledged": len(acked), "statuses": statuses, "wal_bytes": wal_size,
                   "freed_bytes": SPARE_BYTES, "ready_after": status, "uploads_after": after,
                   "lost": 0, "rss_before_mib": round(before["rss"] / MIB, 1),
                   "rss_peak_mib": round(max(first["peak"], end["peak"]) / MIB, 1),
                   "rss_after_mib": round(end["rss"] / MIB, 1)}
        record_figures("disk-full-wal", figures)
        assert status == 200, figures
        assert after == [201, 201, 201], figures
        svc.stop()
        backend.integrity_check(svc.database_url)
        # restarts on the nearly full disk (ready again only with a probe's worth free)
        svc.start(ready=False)
        async with aiohttp.ClientSession() as http:
            for path, sha in acked:
                async with http.head(svc.base_url + path + "/blobs/" + sha) as r:
                    assert r.status == 200, (path, sha)

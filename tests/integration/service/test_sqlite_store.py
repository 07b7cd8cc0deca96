"""The SQLite store's scaling mechanics: GC in short chunks that let uploads through,
checkpoints run by the store (not inside commits), the ``:memory:`` URL, and the
cross-process write turn."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from invitekit_service.admission import AdmissionPolicy, Outcome, SlotAddress, SlotKind
from invitekit_service.storage.sqlite import SqliteBlobStore

from .support import Invite
from .test_storage_conformance import upload

OPEN = AdmissionPolicy(retention=8)


def fill_expired(path: Path, count: int, body: bytes = b"body") -> None:
    """``count`` expired blobs in ``count`` slots, straight into the store's schema."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO slots (id, slot_id, lane_id, last_write_ns) VALUES (?, ?, X'', 0)",
            ((i + 1, i.to_bytes(16, "big")) for i in range(count)),
        )
        conn.executemany(
            "INSERT INTO blobs (slot_ref, sha256, fields_key, epoch, group_state_hash, "
            "expires_at_ns, nonce, received_ns, body) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?)",
            (
                (
                    i + 1,
                    b"s" * 32,
                    b"f" * 32,
                    bytes(8),
                    b"h" * 32,
                    (1).to_bytes(8, "big"),
                    bytes(12),
                    body,
                )
                for i in range(count)
            ),
        )
        conn.execute("COMMIT")
    finally:
        conn.close()


async def test_gc_sweeps_in_chunks_and_uploads_get_through(tmp_path: Path) -> None:
    path = tmp_path / "gc.sqlite3"
    SqliteBlobStore.initialise_schema(str(path))
    expired = 60_000
    fill_expired(path, expired)
    store = SqliteBlobStore(str(path))
    await store.start()
    try:
        inv = Invite()
        sweep = asyncio.create_task(store.collect_garbage(time.time_ns(), None))
        await asyncio.sleep(0)  # the sweep has handed its first chunk to the writer
        result = await store.admit(
            SlotAddress(inv.slot, SlotKind.OPEN), upload(inv, 1), OPEN, time.time_ns()
        )
        # The upload was committed between two chunks, long before the sweep ended (one
        # transaction for the whole sweep would have made it wait for all of it).
        assert result.outcome is Outcome.CREATED
        assert not sweep.done()
        report = await sweep
        assert report.expired_blobs == expired
    finally:
        await store.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM blobs").fetchone() == (1,)


async def test_the_store_checkpoints_the_wal_itself(tmp_path: Path) -> None:
    path = tmp_path / "ckpt.sqlite3"
    store = SqliteBlobStore(str(path), checkpoint_interval_s=0.05)
    await store.start()
    try:
        inv = Invite()
        for epoch in range(1, 30):
            await store.admit(
                SlotAddress(inv.slot, SlotKind.OPEN), upload(inv, epoch), OPEN, time.time_ns()
            )
        # The writer checkpoints inside a commit only as the backstop, past half the disk
        # reserve (16 MiB by default), far above what these commits write ...
        writer_setting = await asyncio.get_running_loop().run_in_executor(
            store._write_exec,
            lambda: store._writer.execute("PRAGMA wal_autocheckpoint").fetchone(),  # type: ignore[union-attr]
        )
        assert writer_setting == (store.reserve_bytes // 2 // 4096,)
        # ... the checkpointer copies every committed frame into the database file. Read
        # from the WAL index without touching the database (a probe connection could
        # checkpoint by itself): mxFrame (header offset 16) vs nBackfill (offset 96).
        deadline = time.monotonic() + 10
        while True:
            index = Path(f"{path}-shm").read_bytes()[:100]
            frames = int.from_bytes(index[16:20], sys.byteorder)
            backfilled = int.from_bytes(index[96:100], sys.byteorder)
            if frames > 0 and backfilled == frames:
                break
            assert time.monotonic() < deadline, (frames, backfilled)
            await asyncio.sleep(0.05)
    finally:
        await store.close()


async def test_memory_url_works_and_leaves_nothing_behind() -> None:
    store = SqliteBlobStore(":memory:")
    await store.start()
    inv = Invite()
    addr = SlotAddress(inv.slot, SlotKind.OPEN)
    up = upload(inv, 3)
    assert (await store.admit(addr, up, OPEN, time.time_ns())).outcome is Outcome.CREATED
    found = await store.list_entries(addr, now_ns=time.time_ns(), limit=8)
    assert [f.body for f in found] == [up.body]
    directory = Path(store.path).parent
    await store.close()
    assert not directory.exists()


async def test_a_killed_process_holding_the_write_turn_does_not_wedge_the_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "turn.sqlite3"
    store = SqliteBlobStore(str(path))
    await store.start()
    # Another process (a worker about to commit) takes the write turn and then dies.
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time\n"
            f"fd = os.open({str(path) + '-writelock'!r}, os.O_RDWR)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\n"
            "print('held', flush=True)\n"
            "time.sleep(600)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        inv = Invite()
        admit = asyncio.create_task(
            store.admit(SlotAddress(inv.slot, SlotKind.OPEN), upload(inv, 1), OPEN, time.time_ns())
        )
        await asyncio.sleep(0.5)
        assert not admit.done()  # waiting for its turn, not writing past the holder
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        # The kernel drops a dead process's lock: the waiting commit goes through.
        result = await asyncio.wait_for(admit, 10)
        assert result.outcome is Outcome.CREATED
    finally:
        holder.kill()
        holder.wait()
        await store.close()


def _free_pages(path: Path) -> int:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return int(conn.execute("PRAGMA freelist_count").fetchone()[0])


async def test_freed_pages_go_back_only_while_the_writer_is_idle(tmp_path: Path) -> None:
    """Handing a sweep's pages back (``incremental_vacuum``) costs milliseconds per page
    under write load, so it waits for a lull: meanwhile uploads reuse the free pages; once
    writes stop, every free page goes back and the file shrinks."""
    path = tmp_path / "reclaim.sqlite3"
    SqliteBlobStore.initialise_schema(str(path))
    fill_expired(path, 600, body=bytes(8192))
    store = SqliteBlobStore(str(path))
    await store.start()
    try:
        inv = Invite()
        addr = SlotAddress(inv.slot, SlotKind.OPEN)
        await store.admit(addr, upload(inv, 1), OPEN, time.time_ns())
        report = await store.collect_garbage(time.time_ns(), None)
        assert report.expired_blobs == 600
        swept_free = _free_pages(path)
        assert swept_free > 1000
        for epoch in range(2, 22):  # a write every 0.1 s: never half a second idle
            await store.admit(addr, upload(inv, epoch), OPEN, time.time_ns())
            await asyncio.sleep(0.1)
        assert _free_pages(path) > swept_free // 2  # not handed back under load
        size_under_load = path.stat().st_size
        deadline = time.monotonic() + 60
        # The file itself shrinks at the checkpoint that follows the last chunk.
        while _free_pages(path) or path.stat().st_size >= size_under_load // 2:
            assert time.monotonic() < deadline, (_free_pages(path), path.stat().st_size)
            await asyncio.sleep(0.2)
    finally:
        await store.close()


async def test_a_file_without_incremental_vacuum_does_not_spin_the_reclaim(
    tmp_path: Path,
) -> None:
    """A database created before auto_vacuum=INCREMENTAL keeps its free pages for reuse:
    the reclaim finds nothing to hand back and ends instead of looping on the writer."""
    path = tmp_path / "legacy.sqlite3"
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA auto_vacuum=NONE")
        conn.execute("CREATE TABLE legacy_marker (x)")  # fixes the setting for this file
    SqliteBlobStore.initialise_schema(str(path))
    fill_expired(path, 200, body=bytes(8192))
    store = SqliteBlobStore(str(path))
    await store.start()
    try:
        report = await store.collect_garbage(time.time_ns(), None)
        assert report.expired_blobs == 200
        assert _free_pages(path) > 200
        reclaim = store._reclaim_task
        assert reclaim is not None
        await asyncio.wait_for(reclaim, 30)
        assert _free_pages(path) > 200  # kept for reuse, as documented
    finally:
        await store.close()

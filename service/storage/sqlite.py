"""The embedded SQLite backend (aiosqlite, WAL, ``synchronous=FULL``, group commit).

Writes go through one writer task per process: it drains queued admissions into a batch,
runs them in sequence inside one ``BEGIN IMMEDIATE`` transaction (the database-wide write
lock, so other processes sharing the file are serialised too), commits (fsync of the WAL) and
only then resolves each caller's future. An acknowledged upload is therefore on disk.

Reads use a second connection; WAL lets them run beside the writer. Unsigned 64-bit values
(epoch, expires_at_ns) are stored as 8-byte big-endian blobs, which SQLite compares with
``memcmp`` — i.e. numerically.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import mmap
import os
import sqlite3
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiosqlite

from ..admission import (
    AdmissionPolicy,
    EntryMeta,
    Head,
    SlotAddress,
    SlotState,
    Upload,
    decide,
)
from .base import AdmitResult, GcReport, StorageUnavailable, StoredBlob, candidate_sort_key

_SCHEMA = """
CREATE TABLE IF NOT EXISTS slots (
    id INTEGER PRIMARY KEY,
    slot_id BLOB NOT NULL,
    lane_id BLOB NOT NULL,
    head_epoch BLOB,
    head_hash BLOB,
    last_write_ns INTEGER NOT NULL,
    UNIQUE (slot_id, lane_id)
);
CREATE TABLE IF NOT EXISTS blobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    slot_ref INTEGER NOT NULL,
    sha256 BLOB NOT NULL,
    fields_key BLOB NOT NULL,
    epoch BLOB NOT NULL,
    group_state_hash BLOB NOT NULL,
    expires_at_ns BLOB NOT NULL,
    nonce BLOB NOT NULL,
    signature BLOB,
    received_ns INTEGER NOT NULL,
    body BLOB NOT NULL,
    UNIQUE (slot_ref, fields_key)
);
CREATE INDEX IF NOT EXISTS blobs_by_sha ON blobs (slot_ref, sha256);
CREATE INDEX IF NOT EXISTS blobs_by_expiry ON blobs (expires_at_ns)
    WHERE expires_at_ns != X'0000000000000000';
CREATE INDEX IF NOT EXISTS slots_by_idle ON slots (last_write_ns);
"""

_META_COLUMNS = (
    "b.seq, b.sha256, b.fields_key, b.epoch, b.group_state_hash, b.expires_at_ns, b.nonce, "
    "b.signature, b.received_ns, length(b.body)"
)
_SLOT_FILTER = "b.slot_ref = (SELECT id FROM slots WHERE slot_id = ? AND lane_id = ?)"
_ZERO_U64 = bytes(8)
#: Before the first table exists: lets collection hand freed pages back to the file system
#: (``incremental_vacuum``). A database created without it keeps its pages for reuse.
_AUTO_VACUUM = "PRAGMA auto_vacuum=INCREMENTAL"


def _u64(value: int) -> bytes:
    return value.to_bytes(8, "big")


def _from_u64(raw: bytes) -> int:
    return int.from_bytes(raw, "big")


def sqlite_path_from_url(url: str) -> str:
    """``sqlite:///relative.db``, ``sqlite:////abs/path.db`` or ``sqlite:///:memory:``."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or len(url) == len(prefix):
        raise ValueError("SQLite URLs look like sqlite:///path/to/file.sqlite3")
    return url[len(prefix) :]


class ChangeMarkers:
    """Per-slot change counters shared by every process that opens the same database.

    4096 u64 buckets in a memory-mapped file beside the database (or process memory for
    ``:memory:``); a slot maps to a bucket by CRC-32. Writers increment a bucket under an
    ``flock`` *after* committing, so a counter only ever grows; a reader that saw value ``m``
    before querying and sees ``m`` again knows nothing was committed to that slot since.
    """

    BUCKETS = 4096

    def __init__(self, path: str | None) -> None:
        size = 8 * self.BUCKETS
        self._fd: int | None = None
        self._buf: mmap.mmap | bytearray
        if path is None:
            self._buf = bytearray(size)
        else:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            if os.fstat(fd).st_size < size:
                os.ftruncate(fd, size)
            self._fd = fd
            self._buf = mmap.mmap(fd, size)
        self._view = memoryview(self._buf).cast("Q")

    @classmethod
    def bucket(cls, address: SlotAddress) -> int:
        """The bucket index of a slot (stable across processes)."""
        return zlib.crc32(address.lane_id, zlib.crc32(address.slot_id)) % cls.BUCKETS

    def read(self, address: SlotAddress) -> int:
        """Current counter of the slot's bucket."""
        return int(self._view[self.bucket(address)])

    def bump(self, buckets: Iterable[int]) -> None:
        """Increment the given buckets (call after the change is committed)."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            for index in set(buckets):
                self._view[index] = (self._view[index] + 1) & 0xFFFFFFFFFFFFFFFF
        finally:
            if self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def bump_all(self) -> None:
        """Invalidate every slot (after a bulk delete)."""
        self.bump(range(self.BUCKETS))

    def close(self) -> None:
        """Unmap and close the shared file."""
        self._view.release()
        if isinstance(self._buf, mmap.mmap):
            self._buf.close()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


@dataclass(slots=True)
class _Job:
    address: SlotAddress
    upload: Upload
    policy: AdmissionPolicy
    now_ns: int
    future: asyncio.Future[AdmitResult] = field(repr=False)


def _meta(row: Sequence[Any]) -> EntryMeta:
    return EntryMeta(
        seq=row[0],
        sha256=row[1],
        fields_key=row[2],
        epoch=_from_u64(row[3]),
        group_state_hash=row[4],
        expires_at_ns=_from_u64(row[5]),
        nonce=row[6],
        signature=row[7],
        received_ns=row[8],
        size=row[9],
    )


class SqliteBlobStore:
    """:class:`~service.storage.base.BlobStore` on one SQLite file (see module doc)."""

    def __init__(self, path: str, *, max_batch: int = 256, busy_timeout_ms: int = 10_000) -> None:
        self.path = path
        self.max_batch = max_batch
        self.busy_timeout_ms = busy_timeout_ms
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._queue: asyncio.Queue[_Job | None] = asyncio.Queue()
        self._write_lock = asyncio.Lock()
        self._writer_task: asyncio.Task[None] | None = None
        memory = path == ":memory:" or path.startswith("file::memory:")
        self._markers = ChangeMarkers(None if memory else path + "-markers")
        self._closed = False
        self._on_expired: Callable[[], None] | None = None
        #: The last write transaction failed (full disk, read-only file, I/O error) and no
        #: write has succeeded since: readiness probes with a real write until one does.
        self._write_failed = False

    # --- lifecycle ---------------------------------------------------------------------

    @staticmethod
    def initialise_schema(path: str) -> None:
        """Create the schema and switch the file to WAL (synchronous; safe to repeat)."""
        if path == ":memory:":
            return
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, isolation_level=None, timeout=30)
        try:
            conn.execute(_AUTO_VACUUM)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(_SCHEMA)
        finally:
            conn.close()

    async def _connect(self) -> aiosqlite.Connection:
        conn = await aiosqlite.connect(self.path, isolation_level=None)
        await conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_ms)}")
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute("PRAGMA synchronous=FULL")
        return conn

    async def start(self) -> None:
        """Open the writer and reader connections, create the schema, start group commit."""
        self._writer = await self._connect()
        await self._writer.execute(_AUTO_VACUUM)
        await self._writer.executescript(_SCHEMA)
        self._reader = self._writer if self.path == ":memory:" else await self._connect()
        self._writer_task = asyncio.create_task(self._write_loop(), name="sqlite-writer")

    async def close(self) -> None:
        """Drain queued admissions, then close both connections."""
        if self._closed:
            return
        self._closed = True
        if self._writer_task is not None:
            await self._queue.put(None)
            with contextlib.suppress(Exception):
                await self._writer_task
        for conn in {id(c): c for c in (self._reader, self._writer) if c is not None}.values():
            with contextlib.suppress(Exception):
                await conn.close()
        self._markers.close()

    def _conns(self) -> tuple[aiosqlite.Connection, aiosqlite.Connection]:
        if self._writer is None or self._reader is None or self._closed:
            raise StorageUnavailable("storage is not open")
        return self._writer, self._reader

    # --- writes ------------------------------------------------------------------------

    async def admit(
        self, address: SlotAddress, upload: Upload, policy: AdmissionPolicy, now_ns: int
    ) -> AdmitResult:
        """Queue the upload for the next group commit and wait until it is durable."""
        self._conns()
        if self._writer_task is None or self._writer_task.done():
            raise StorageUnavailable("writer is not running")
        future: asyncio.Future[AdmitResult] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Job(address, upload, policy, now_ns, future))
        return await asyncio.shield(future)

    async def _write_loop(self) -> None:
        while True:
            job = await self._queue.get()
            if job is None:
                return
            batch = [job]
            stop = False
            while len(batch) < self.max_batch and not self._queue.empty():
                nxt = self._queue.get_nowait()
                if nxt is None:
                    stop = True
                    break
                batch.append(nxt)
            async with self._write_lock:
                await self._run_batch(batch)
            if stop:
                return

    async def _run_batch(self, batch: list[_Job]) -> None:
        try:
            results = await self._transaction(batch)
        except Exception:
            # One bad job must not fail its neighbours: retry each alone.
            if len(batch) == 1:
                self._write_failed = True
                _fail(batch[0], StorageUnavailable("write transaction failed"))
                return
            for job in batch:
                try:
                    single = await self._transaction([job])
                except Exception:
                    self._write_failed = True
                    _fail(job, StorageUnavailable("write transaction failed"))
                else:
                    self._write_failed = False
                    _resolve(job, single[0])
            return
        self._write_failed = False
        for job, result in zip(batch, results, strict=True):
            _resolve(job, result)

    async def _transaction(self, batch: list[_Job]) -> list[AdmitResult]:
        writer, _ = self._conns()
        await writer.execute("BEGIN IMMEDIATE")
        try:
            results = [await self._admit_locked(writer, job) for job in batch]
            await writer.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(Exception):
                await writer.execute("ROLLBACK")
            raise
        changed = [
            ChangeMarkers.bucket(job.address)
            for job, result in zip(batch, results, strict=True)
            if result.outcome.accepted
        ]
        if changed:
            self._markers.bump(changed)
        return results

    async def _admit_locked(self, db: aiosqlite.Connection, job: _Job) -> AdmitResult:
        address, upload = job.address, job.upload
        slot_rows = list(
            await db.execute_fetchall(
                "SELECT id, head_epoch, head_hash FROM slots WHERE slot_id = ? AND lane_id = ?",
                (address.slot_id, address.lane_id),
            )
        )
        slot_ref: int | None = None
        head: Head | None = None
        entries: tuple[EntryMeta, ...] = ()
        if slot_rows:
            slot_ref = int(slot_rows[0][0])
            if slot_rows[0][1] is not None:
                head = Head(_from_u64(slot_rows[0][1]), slot_rows[0][2])
            rows = await db.execute_fetchall(
                f"SELECT {_META_COLUMNS} FROM blobs b WHERE b.slot_ref = ? ORDER BY b.seq",  # noqa: S608 -- constant column list
                (slot_ref,),
            )
            entries = tuple(_meta(r) for r in rows)
        state = SlotState(exists=slot_ref is not None, head=head, entries=entries)
        decision = decide(address.kind, state, upload, job.policy, job.now_ns)
        if not decision.outcome.accepted:
            return AdmitResult(decision.outcome, decision.existing, decision.head)
        new_head = decision.head
        upsert = await db.execute_fetchall(
            "INSERT INTO slots (slot_id, lane_id, head_epoch, head_hash, last_write_ns) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (slot_id, lane_id) DO UPDATE SET "
            "head_epoch = excluded.head_epoch, head_hash = excluded.head_hash, "
            "last_write_ns = excluded.last_write_ns RETURNING id",
            (
                address.slot_id,
                address.lane_id,
                None if new_head is None else _u64(new_head.epoch),
                None if new_head is None else new_head.group_state_hash,
                job.now_ns,
            ),
        )
        slot_ref = int(next(iter(upsert))[0])
        if decision.evict:
            marks = ",".join("?" * len(decision.evict))
            await db.execute(
                f"DELETE FROM blobs WHERE slot_ref = ? AND seq IN ({marks})",  # noqa: S608 -- only "?" marks
                (slot_ref, *decision.evict),
            )
        if not decision.store:
            return AdmitResult(decision.outcome, decision.existing, new_head)
        inserted = await db.execute_insert(
            "INSERT INTO blobs (slot_ref, sha256, fields_key, epoch, group_state_hash, "
            "expires_at_ns, nonce, signature, received_ns, body) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                slot_ref,
                upload.sha256,
                upload.fields_key,
                _u64(upload.epoch),
                upload.group_state_hash,
                _u64(upload.expires_at_ns),
                upload.nonce,
                upload.signature,
                upload.received_ns,
                upload.body,
            ),
        )
        seq = int(inserted[0]) if inserted is not None else -1
        entry = EntryMeta(
            seq=seq,
            sha256=upload.sha256,
            fields_key=upload.fields_key,
            epoch=upload.epoch,
            group_state_hash=upload.group_state_hash,
            expires_at_ns=upload.expires_at_ns,
            nonce=upload.nonce,
            signature=upload.signature,
            received_ns=upload.received_ns,
            size=len(upload.body),
        )
        return AdmitResult(decision.outcome, entry, new_head)

    async def collect_garbage(self, now_ns: int, idle_before_ns: int | None) -> GcReport:
        """Delete expired blobs, then slots idle since before ``idle_before_ns``."""
        writer, _ = self._conns()
        async with self._write_lock:
            await writer.execute("BEGIN IMMEDIATE")
            try:
                cur = await writer.execute(
                    "DELETE FROM blobs WHERE expires_at_ns != ? AND expires_at_ns <= ?",
                    (_ZERO_U64, _u64(now_ns)),
                )
                expired = max(cur.rowcount, 0)
                idle = 0
                if idle_before_ns is not None:
                    await writer.execute(
                        "DELETE FROM blobs WHERE slot_ref IN "
                        "(SELECT id FROM slots WHERE last_write_ns < ?)",
                        (idle_before_ns,),
                    )
                    cur = await writer.execute(
                        "DELETE FROM slots WHERE last_write_ns < ?", (idle_before_ns,)
                    )
                    idle = max(cur.rowcount, 0)
                await writer.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(Exception):
                    await writer.execute("ROLLBACK")
                raise
        if expired or idle:
            self._markers.bump_all()
            await self._reclaim_space()
        return GcReport(expired_blobs=expired, idle_slots=idle)

    async def _reclaim_space(self) -> None:
        """Return freed pages to the file system and truncate the WAL (best effort)."""
        writer, _ = self._conns()
        async with self._write_lock:
            with contextlib.suppress(sqlite3.Error):
                # executescript steps the pragma to the end (one page is freed per step).
                await writer.executescript("PRAGMA incremental_vacuum;")
                await writer.execute_fetchall("PRAGMA wal_checkpoint(TRUNCATE)", ())

    # --- reads -------------------------------------------------------------------------

    async def list_entries(
        self,
        address: SlotAddress,
        *,
        now_ns: int,
        limit: int,
        match: Head | None = None,
        with_body: bool = True,
    ) -> list[StoredBlob]:
        """Live entries in candidate order (a slot holds at most its retention window)."""
        _, reader = self._conns()
        columns = _META_COLUMNS + (", b.body" if with_body else "")
        sql = f"SELECT {columns} FROM blobs b WHERE {_SLOT_FILTER}"  # noqa: S608 -- constants
        params: tuple[Any, ...] = (address.slot_id, address.lane_id)
        if match is not None:
            sql += " AND b.epoch = ? AND b.group_state_hash = ?"
            params += (_u64(match.epoch), match.group_state_hash)
        rows = await reader.execute_fetchall(sql, params)
        found: list[StoredBlob] = []
        for row in rows:
            meta = _meta(row)
            if meta.is_live(now_ns):
                found.append(StoredBlob(meta, row[10] if with_body else None))
            else:
                self._expired_seen()
        found.sort(key=lambda s: candidate_sort_key(s.meta))
        return found[: max(limit, 0)]

    async def get_by_sha256(
        self, address: SlotAddress, sha256: bytes, *, now_ns: int, with_body: bool = True
    ) -> StoredBlob | None:
        """The live entry with this content address, if the slot retains one."""
        _, reader = self._conns()
        columns = _META_COLUMNS + (", b.body" if with_body else "")
        rows = await reader.execute_fetchall(
            f"SELECT {columns} FROM blobs b WHERE {_SLOT_FILTER} AND b.sha256 = ? "  # noqa: S608
            "ORDER BY b.seq DESC",
            (address.slot_id, address.lane_id, sha256),
        )
        for row in rows:
            meta = _meta(row)
            if meta.is_live(now_ns):
                return StoredBlob(meta, row[10] if with_body else None)
            self._expired_seen()
        return None

    def set_expiry_listener(self, callback: Callable[[], None]) -> None:
        """Register the lazy-GC trigger (called when a read skips an expired blob)."""
        self._on_expired = callback

    def _expired_seen(self) -> None:
        if self._on_expired is not None:
            self._on_expired()

    async def check_ready(self) -> None:
        """Round-trip a trivial query on both connections."""
        try:
            writer, reader = self._conns()
            if self._writer_task is None or self._writer_task.done():
                raise StorageUnavailable("writer task is not running")
            await reader.execute_fetchall("SELECT 1", ())
            await writer.execute_fetchall("SELECT 1", ())
        except (sqlite3.Error, ValueError) as exc:
            raise StorageUnavailable("database is not reachable") from exc
        if self._write_failed:
            await self._probe_write()

    async def _probe_write(self) -> None:
        """Commit (then drop) a 1 MiB row, the default largest upload; raise
        :class:`StorageUnavailable` if the database refuses it. A tiny probe would pass on a
        full disk, in WAL space left over by the failed transaction, while uploads fail."""
        writer, _ = self._conns()
        async with self._write_lock:
            try:
                for statements in (
                    (
                        "CREATE TABLE IF NOT EXISTS readiness_probe "
                        "(id INTEGER PRIMARY KEY, pad BLOB NOT NULL)",
                        "INSERT OR REPLACE INTO readiness_probe VALUES (1, zeroblob(1048576))",
                    ),
                    ("DELETE FROM readiness_probe",),
                ):
                    await writer.execute("BEGIN IMMEDIATE")
                    try:
                        for sql in statements:
                            await writer.execute(sql)
                        await writer.execute("COMMIT")
                    except BaseException:
                        with contextlib.suppress(Exception):
                            await writer.execute("ROLLBACK")
                        raise
            except sqlite3.Error as exc:
                raise StorageUnavailable("database cannot write") from exc
        self._write_failed = False

    def change_marker(self, address: SlotAddress) -> int:
        """The slot's shared change counter (see :class:`ChangeMarkers`)."""
        return self._markers.read(address)


def _resolve(job: _Job, result: AdmitResult) -> None:
    if not job.future.done():
        job.future.set_result(result)


def _fail(job: _Job, exc: Exception) -> None:
    if not job.future.done():
        job.future.set_exception(exc)

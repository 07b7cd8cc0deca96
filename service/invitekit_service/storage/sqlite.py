"""The embedded SQLite backend (WAL, ``synchronous=FULL``, group commit), built to stay flat
from a thousand to millions of slots on one host.

Threads and connections (all plain :mod:`sqlite3`):

* **Writer** — one thread with one connection. The group-commit task drains queued
  admissions into a batch and hands the *whole batch* to the writer thread in one call:
  ``BEGIN IMMEDIATE`` (the database-wide write lock, so other processes sharing the file are
  serialised too), every admission decided in sequence by
  :func:`invitekit_service.admission.decide`,
  ``COMMIT`` (fsync of the WAL), change markers bumped — one thread hop per batch. Only then
  is each caller's future resolved, so an acknowledged upload is on disk.
* **Reads** — a pool of ``readers`` threads, each with its own connection (memory-mapped,
  a large page cache), so reads run in parallel with each other, with the writer (WAL) and
  with the event loop — including reads that have to wait for the disk. With
  ``inline_reads=True`` small reads (metadata, or one body) run on the event loop's own
  connection instead, which saves the thread hop when the database is resident in memory
  but stalls the loop when a page has to come from disk.
* **Write turns** — processes sharing the file (``--workers N``) queue for the write lock
  on an ``flock`` of ``<database>-writelock`` before ``BEGIN IMMEDIATE``: the kernel wakes the
  next writer the moment the lock is released, where SQLite's own busy handler would sleep
  and poll (measured p99 of about 1 s with two workers). ``BEGIN IMMEDIATE`` stays the real
  lock; the turn only orders the writers that take it. The kernel drops the turn of a
  process that dies, so a killed worker cannot wedge the file.
* **GC** — runs on the writer thread in short chunks (one transaction each, sized to take
  about 20 ms), so a group commit waits at most one chunk. Handing the freed pages back
  to the file system (``incremental_vacuum``) follows in the background once the writer
  has been idle for half a second, in chunks of about 5 ms each followed by an equal rest;
  until then new uploads reuse the free pages.
* **Checkpoints** — a checkpointer thread runs ``wal_checkpoint(PASSIVE)`` after writes, at
  most once per ``checkpoint_interval_s``. The writer checkpoints inside a commit only as a
  backstop, once the WAL holds more than half the disk reserve (below) — under a write burst
  faster than the checkpointer, or while checkpoints fail. ``journal_size_limit`` (the
  reserve) caps the WAL file on disk.
* **Disk reserve** — ``<database>-reserve``, a file of ``reserve_bytes`` allocated up front
  on the database's file system. A full disk leaves the WAL holding pages the database file
  cannot grow to take, so neither a checkpoint nor a new write can run, whatever the
  operator frees short of the WAL's size. After a failed write, recovery (retried every
  second, and by each readiness probe) releases the reserve, checkpoints the WAL into the
  database and truncates it (the pages it moves are at most the WAL backlog, which the
  backstop keeps under the reserve), re-allocates the reserve (it fits again: the truncated
  WAL gave back at least what the database took), and commits a 1 MiB probe row. Only then
  is the store ready again. A store that starts is ready once the reserve is allocated and
  the probe committed; opening a database whose WAL cannot be replayed on a full disk
  releases the reserve first.

Unsigned 64-bit values (epoch, expires_at_ns) are stored as 8-byte big-endian blobs, which
SQLite compares with ``memcmp`` — i.e. numerically.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import logging
import os
import shutil
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from .. import logs
from ..admission import (
    AdmissionPolicy,
    EntryMeta,
    Head,
    SlotAddress,
    SlotState,
    Upload,
    decide,
    read_window,
)
from .base import (
    SMALL_BODY,
    AdmitResult,
    ExpiryListener,
    GcReport,
    StorageUnavailable,
    StoredBlob,
    entry_meta,
    from_u64,
    stored_entry,
    u64,
    upload_columns,
)
from .markers import ChangeMarkers

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
CREATE INDEX IF NOT EXISTS blobs_by_slot ON blobs (slot_ref);
CREATE INDEX IF NOT EXISTS blobs_by_expiry ON blobs (expires_at_ns)
    WHERE expires_at_ns != X'0000000000000000';
CREATE INDEX IF NOT EXISTS slots_by_idle ON slots (last_write_ns);
"""

_META_COLUMNS = (
    "b.seq, b.sha256, b.fields_key, b.epoch, b.group_state_hash, b.expires_at_ns, b.nonce, "
    "b.signature, b.received_ns, length(b.body)"
)
_SLOT_FILTER = "b.slot_ref = (SELECT id FROM slots WHERE slot_id = ? AND lane_id = ?)"
# The literal (not a parameter) lets SQLite use the partial index blobs_by_expiry.
_EXPIRED = "expires_at_ns != X'0000000000000000' AND expires_at_ns <= ?"
_GC_EXPIRED = f"DELETE FROM blobs WHERE seq IN (SELECT seq FROM blobs WHERE {_EXPIRED} LIMIT ?)"  # noqa: S608
_IDLE_IDS = "SELECT id FROM slots WHERE last_write_ns < ? LIMIT ?"
_LOAD_SLOT = "SELECT id, head_epoch, head_hash FROM slots WHERE slot_id = ? AND lane_id = ?"
_LOAD_ENTRIES = f"SELECT {_META_COLUMNS} FROM blobs b WHERE b.slot_ref = ? ORDER BY b.seq"  # noqa: S608
_UPSERT_SLOT = (
    "INSERT INTO slots (slot_id, lane_id, head_epoch, head_hash, last_write_ns) "
    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (slot_id, lane_id) DO UPDATE SET "
    "head_epoch = excluded.head_epoch, head_hash = excluded.head_hash, "
    "last_write_ns = excluded.last_write_ns RETURNING id"
)
_INSERT_BLOB = (
    "INSERT INTO blobs (slot_ref, sha256, fields_key, epoch, group_state_hash, "
    "expires_at_ns, nonce, signature, received_ns, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_T = TypeVar("_T")
# Candidates: every entry's metadata, with the body when it is small (one statement; the
# bodies of larger chosen entries are fetched by rowid afterwards). Cheaper than choosing in
# SQL: a slot holds at most its retention window.
_LIST = (
    "SELECT " + _META_COLUMNS + f", CASE WHEN length(b.body) <= {SMALL_BODY} THEN b.body END "
    "FROM blobs b WHERE {filters}"
)
# The head: one index search on slots, then the slot's entries newest first (the index on
# slot_ref is ordered by rowid = seq), stopping at the first live one; only its body is read.
_HEAD = _LIST.format(filters=_SLOT_FILTER) + " ORDER BY b.seq DESC"
_LIST_META = "SELECT " + _META_COLUMNS + " FROM blobs b WHERE {filters}"  # noqa: S608
#: Before the first table exists: lets collection hand freed pages back to the file system
#: (``incremental_vacuum``). A database created without it keeps its pages for reuse.
_AUTO_VACUUM = "PRAGMA auto_vacuum=INCREMENTAL"
_GC_TARGET_S = 0.02  # one GC chunk should hold the write lock about this long
_RECLAIM_TARGET_S = 0.005  # one incremental_vacuum chunk should take about this long ...
_RECLAIM_REST = 1  # ... followed by a rest as long (an upload waits at most one chunk)
_RECLAIM_IDLE_S = 0.5  # reclaim only after this long without a group commit
DEFAULT_RESERVE_BYTES = 32 << 20  # the disk reserve (module doc)
_RECOVER_EVERY_S = 1.0  # after a failed write, try to recover this often
_BODY_CACHE_KIB = 512  # page cache of the connections that stream bodies
_INLINE_ROWS = 1  # reads returning at most this many bodies run on the event loop
_LOG = logging.getLogger(logs.LOGGER_NAME + ".sqlite")


def _error_name(exc: BaseException) -> str:
    """A log-safe name for a storage error (SQLite's error code name, or the errno's)."""
    name = getattr(exc, "sqlite_errorname", None)
    if isinstance(name, str):
        return name
    if isinstance(exc, OSError) and exc.errno is not None:
        return errno.errorcode.get(exc.errno, type(exc).__name__)
    return type(exc).__name__


def sqlite_path_from_url(url: str) -> str:
    """``sqlite:///relative.db``, ``sqlite:////abs/path.db`` or ``sqlite:///:memory:``."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or len(url) == len(prefix):
        raise ValueError("SQLite URLs look like sqlite:///path/to/file.sqlite3")
    return url[len(prefix) :]


@dataclass(slots=True)
class _Job:
    address: SlotAddress
    upload: Upload
    policy: AdmissionPolicy
    now_ns: int
    future: asyncio.Future[AdmitResult] = field(repr=False)


def _reserve_path(path: str) -> Path:
    """The disk reserve of the database at ``path`` (module doc)."""
    return Path(path + "-reserve")


def _meta(row: Sequence[Any]) -> EntryMeta:
    return entry_meta(row[:10])


def _connect(
    path: str, busy_timeout_ms: int, *, writer: bool, reserve_bytes: int = DEFAULT_RESERVE_BYTES
) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    if writer:
        # The checkpointer thread checkpoints; the writer only past half the reserve (the
        # backstop that keeps the WAL backlog within what recovery can move, module doc).
        page = int(conn.execute("PRAGMA page_size").fetchone()[0])
        conn.execute(f"PRAGMA wal_autocheckpoint={max(16, reserve_bytes // 2 // page)}")
        conn.execute(f"PRAGMA journal_size_limit={max(reserve_bytes, 1 << 20)}")
        # Debian builds SQLite with SECURE_DELETE on: every freed page is zeroed, which
        # doubles the writes of a GC sweep. FAST zeroes only pages written anyway (freed
        # bodies are ciphertext, and their pages are reused).
        conn.execute("PRAGMA secure_delete=FAST")
    else:
        # Readers: map the file (up to SQLite's compile-time cap) and keep index pages hot.
        conn.execute(f"PRAGMA mmap_size={1 << 40}")
        conn.execute("PRAGMA cache_size=-65536")
    return conn


def _admit_locked(db: sqlite3.Connection, job: _Job) -> AdmitResult:
    """One admission inside the open write transaction (writer thread)."""
    address, upload = job.address, job.upload
    slot_row = db.execute(_LOAD_SLOT, (address.slot_id, address.lane_id)).fetchone()
    slot_ref: int | None = None
    head: Head | None = None
    entries: tuple[EntryMeta, ...] = ()
    if slot_row is not None:
        slot_ref = int(slot_row[0])
        if slot_row[1] is not None:
            head = Head(from_u64(slot_row[1]), slot_row[2])
        entries = tuple(_meta(r) for r in db.execute(_LOAD_ENTRIES, (slot_ref,)))
    state = SlotState(exists=slot_ref is not None, head=head, entries=entries)
    decision = decide(address.kind, state, upload, job.policy, job.now_ns)
    if not decision.outcome.accepted:
        return AdmitResult(decision.outcome, decision.existing, decision.head)
    new_head = decision.head
    slot_ref = int(
        db.execute(
            _UPSERT_SLOT,
            (
                address.slot_id,
                address.lane_id,
                None if new_head is None else u64(new_head.epoch),
                None if new_head is None else new_head.group_state_hash,
                job.now_ns,
            ),
        ).fetchone()[0]
    )
    if decision.evict:
        marks = ",".join("?" * len(decision.evict))
        db.execute(
            f"DELETE FROM blobs WHERE slot_ref = ? AND seq IN ({marks})",  # noqa: S608 -- only "?" marks
            (slot_ref, *decision.evict),
        )
    if not decision.store:
        return AdmitResult(decision.outcome, decision.existing, new_head)
    cur = db.execute(_INSERT_BLOB, (slot_ref, *upload_columns(upload), upload.body))
    return AdmitResult(decision.outcome, stored_entry(int(cur.lastrowid or -1), upload), new_head)


class _WriteTurn:
    """An exclusive ``flock`` that orders the write transactions of every process sharing
    one database file (taken on the writer thread only; see module doc)."""

    def __init__(self, path: str) -> None:
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Block until this process's turn, hold it for the ``with`` body."""
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        """Release the descriptor (and with it any turn still held)."""
        os.close(self._fd)


class SqliteBlobStore(ExpiryListener):
    """:class:`~invitekit_service.storage.base.BlobStore` on one SQLite file (see module doc)."""

    def __init__(
        self,
        path: str,
        *,
        max_batch: int = 256,
        busy_timeout_ms: int = 10_000,
        readers: int = 4,
        checkpoint_interval_s: float = 1.0,
        inline_reads: bool = False,
        reserve_bytes: int = DEFAULT_RESERVE_BYTES,
    ) -> None:
        self._memory_dir: str | None = None
        if path == ":memory:" or path.startswith("file::memory:"):
            # Every connection must see one database: a private file, removed on close.
            self._memory_dir = tempfile.mkdtemp(prefix="invitekit-sqlite-")
            path = os.path.join(self._memory_dir, "blobs.sqlite3")
        self.path = path
        self.reserve_bytes = 0 if self._memory_dir is not None else max(0, reserve_bytes)
        self._reserve = _reserve_path(path)
        self._recovery_task: asyncio.Task[None] | None = None
        self.max_batch = max_batch
        self.busy_timeout_ms = busy_timeout_ms
        self.readers = max(1, readers)
        self.inline_reads = inline_reads
        self.checkpoint_interval_s = checkpoint_interval_s
        self._queue: asyncio.Queue[_Job | None] = asyncio.Queue()
        self._writer_task: asyncio.Task[None] | None = None
        self._checkpoint_task: asyncio.Task[None] | None = None
        self._write_exec: ThreadPoolExecutor | None = None
        self._read_exec: ThreadPoolExecutor | None = None
        self._ckpt_exec: ThreadPoolExecutor | None = None
        self._writer: sqlite3.Connection | None = None
        self._inline: sqlite3.Connection | None = None
        self._checkpointer: sqlite3.Connection | None = None
        self._local = threading.local()
        self._reader_conns: list[sqlite3.Connection] = []
        self._reader_lock = threading.Lock()
        self._markers = ChangeMarkers(path + "-markers")
        self._turn = _WriteTurn(path + "-writelock")
        self._closed = False
        self._dirty = asyncio.Event()
        self._gc_chunk = 256
        self._vacuum_pages = 16
        self._last_write = 0.0  # time.monotonic() of the last group commit
        self._reclaim_task: asyncio.Task[None] | None = None
        #: The last write transaction failed (full disk, read-only file, I/O error) and no
        #: write has succeeded since: readiness probes with a real write until one does.
        self._write_failed = False

    # --- lifecycle ---------------------------------------------------------------------

    @staticmethod
    def initialise_schema(path: str) -> None:
        """Create the schema and switch the file to WAL (synchronous; safe to repeat)."""
        if path == ":memory:" or path.startswith("file::memory:"):
            return
        Path(path).parent.mkdir(parents=True, exist_ok=True)

        def create() -> None:
            conn = sqlite3.connect(path, isolation_level=None, timeout=30)
            try:
                conn.execute(_AUTO_VACUUM)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.executescript(_SCHEMA)
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            finally:
                conn.close()

        try:
            create()
        except sqlite3.OperationalError:
            # A full disk (a WAL left by a crash cannot be replayed into a database file that
            # cannot grow): the reserve is there to make this start possible. The store
            # allocates it again when it starts, or reports not ready until it fits.
            reserve = _reserve_path(path)
            if not reserve.exists():
                raise
            reserve.unlink()
            create()

    async def start(self) -> None:
        """Open the writer, the inline reader and the reader pool; start group commit."""
        loop = asyncio.get_running_loop()
        self._write_exec = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")
        self._read_exec = ThreadPoolExecutor(self.readers, thread_name_prefix="sqlite-reader")
        self._ckpt_exec = ThreadPoolExecutor(1, thread_name_prefix="sqlite-checkpoint")
        try:
            self._writer = await loop.run_in_executor(self._write_exec, self._open_writer)
            self._inline = _connect(self.path, self.busy_timeout_ms, writer=False)
            self._checkpointer = await loop.run_in_executor(
                self._ckpt_exec, self._open_checkpointer
            )
        except sqlite3.Error as exc:
            await self.close()
            raise StorageUnavailable("cannot open the SQLite database") from exc
        # Not ready until a write is shown to work: at start the reserve is allocated and a
        # probe row committed (the whole recovery only once that fails), so a process
        # started on a full disk reports it instead of taking uploads it cannot store.
        self._write_failed = True
        self._start_recovery(at_start=True)
        self._writer_task = asyncio.create_task(self._write_loop(), name="sqlite-writer")
        self._checkpoint_task = asyncio.create_task(
            self._checkpoint_loop(), name="sqlite-checkpoint"
        )

    def _open_checkpointer(self) -> sqlite3.Connection:
        conn = _connect(self.path, self.busy_timeout_ms, writer=False)
        # Not memory-mapped: a mapped connection that grows the file in a checkpoint extends
        # it sparsely first (ftruncate), and on a full disk the holes it leaves fault when a
        # mapped reader touches them (SIGBUS on tmpfs). Unmapped, it grows by write() only.
        conn.execute("PRAGMA mmap_size=0")
        return conn

    def _open_writer(self) -> sqlite3.Connection:
        conn = _connect(
            self.path, self.busy_timeout_ms, writer=True, reserve_bytes=self.reserve_bytes
        )
        conn.execute(_AUTO_VACUUM)
        conn.executescript(_SCHEMA)
        return conn

    async def close(self) -> None:
        """Drain queued admissions, checkpoint, then close every connection and thread."""
        if self._closed:
            return
        self._closed = True
        for task in (self._reclaim_task, self._recovery_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self._writer_task is not None:
            await self._queue.put(None)
            with contextlib.suppress(Exception):
                await self._writer_task
        if self._checkpoint_task is not None:
            self._checkpoint_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._checkpoint_task
        for executor in (self._write_exec, self._read_exec, self._ckpt_exec):
            if executor is not None:
                await asyncio.get_running_loop().run_in_executor(None, executor.shutdown)
        with self._reader_lock:
            conns = [self._writer, self._inline, self._checkpointer, *self._reader_conns]
        for conn in conns:
            if conn is not None:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
        self._markers.close()
        self._turn.close()
        if self._memory_dir is not None:
            shutil.rmtree(self._memory_dir, ignore_errors=True)

    def _open(self) -> None:
        if self._closed or self._writer is None:
            raise StorageUnavailable("storage is not open")

    # --- writes ------------------------------------------------------------------------

    async def admit(
        self, address: SlotAddress, upload: Upload, policy: AdmissionPolicy, now_ns: int
    ) -> AdmitResult:
        """Queue the upload for the next group commit and wait until it is durable."""
        self._open()
        if self._writer_task is None or self._writer_task.done():
            raise StorageUnavailable("writer is not running")
        future: asyncio.Future[AdmitResult] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Job(address, upload, policy, now_ns, future))
        return await asyncio.shield(future)

    async def _write_loop(self) -> None:
        loop = asyncio.get_running_loop()
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
            try:
                outcomes = await loop.run_in_executor(self._write_exec, self._commit_batch, batch)
            except Exception:  # the executor itself failed: fail the batch, keep serving
                outcomes = [StorageUnavailable("write transaction failed")] * len(batch)
            if any(isinstance(outcome, AdmitResult) for outcome in outcomes):
                self._write_failed = False
            if any(not isinstance(outcome, AdmitResult) for outcome in outcomes):
                self._write_failed = True
                self._start_recovery()
            for pending, outcome in zip(batch, outcomes, strict=True):
                if pending.future.done():
                    continue
                if isinstance(outcome, AdmitResult):
                    pending.future.set_result(outcome)
                else:
                    pending.future.set_exception(outcome)
            self._dirty.set()
            self._last_write = time.monotonic()
            if stop:
                return

    def _commit_batch(self, batch: list[_Job]) -> list[AdmitResult | Exception]:
        """Writer thread: the whole batch in one transaction; on failure each job alone."""
        try:
            return list(self._transaction(batch))
        except Exception:
            if len(batch) == 1:
                return [StorageUnavailable("write transaction failed")]
        results: list[AdmitResult | Exception] = []
        for job in batch:  # one bad job must not fail its neighbours
            try:
                results.extend(self._transaction([job]))
            except Exception:
                results.append(StorageUnavailable("write transaction failed"))
        return results

    @contextlib.contextmanager
    def _write_transaction(self, db: sqlite3.Connection) -> Iterator[None]:
        """Writer thread: the ``with`` body as one ``BEGIN IMMEDIATE`` transaction, inside
        this process's write turn; committed when the body returns, rolled back if it raises."""
        with self._turn.held():
            db.execute("BEGIN IMMEDIATE")
            try:
                yield
                db.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
                raise

    def _transaction(self, batch: list[_Job]) -> list[AdmitResult]:
        db = self._writer
        assert db is not None
        with self._write_transaction(db):
            results = [_admit_locked(db, job) for job in batch]
        changed = [
            ChangeMarkers.bucket(job.address)
            for job, result in zip(batch, results, strict=True)
            if result.outcome.accepted
        ]
        if changed:
            self._markers.bump(changed)
        return results

    async def collect_garbage(self, now_ns: int, idle_before_ns: int | None) -> GcReport:
        """Delete expired blobs, then idle slots, in short transactions on the writer thread."""
        self._open()
        loop = asyncio.get_running_loop()
        expired = idle = 0
        try:
            while True:
                removed, more = await loop.run_in_executor(
                    self._write_exec, self._gc_chunk_expired, now_ns
                )
                expired += removed
                if not more:
                    break
            while idle_before_ns is not None:
                removed, more = await loop.run_in_executor(
                    self._write_exec, self._gc_chunk_idle, idle_before_ns
                )
                idle += removed
                if not more:
                    break
        except sqlite3.Error as exc:
            raise StorageUnavailable("garbage collection failed") from exc
        if expired or idle:
            self._markers.bump_all()
            self._dirty.set()
            self._start_reclaim()
        return GcReport(expired_blobs=expired, idle_slots=idle)

    def _start_reclaim(self) -> None:
        """Start handing freed pages back in the background, unless that already runs."""
        if self._reclaim_task is None or self._reclaim_task.done():
            self._reclaim_task = asyncio.create_task(self._reclaim_space(), name="sqlite-reclaim")

    async def _reclaim_space(self) -> None:
        """Hand freed pages back to the file system, then shrink the WAL (best effort).

        Only while this process's writer is idle, and throttled: with a large free list
        and live pages near the end of the file, ``incremental_vacuum`` costs milliseconds
        per page (each page it moves searches the free list), so under write load it would
        stall commits. Free pages are reused by new uploads meanwhile, so the file does not
        grow while they wait. Chunks are sized to about ``_RECLAIM_TARGET_S`` and followed
        by a rest ``_RECLAIM_REST`` times as long (a commit arriving meanwhile waits for
        one chunk at most, and pauses the reclaim); then a ``PASSIVE`` checkpoint (writers go
        on while it copies) and a ``TRUNCATE`` one on the writer thread."""
        loop = asyncio.get_running_loop()
        with contextlib.suppress(sqlite3.Error):
            while True:
                while time.monotonic() - self._last_write < _RECLAIM_IDLE_S:
                    await asyncio.sleep(_RECLAIM_IDLE_S)
                more, took = await loop.run_in_executor(self._write_exec, self._vacuum_chunk)
                self._dirty.set()  # the checkpointer copies the moved pages as they come
                if not more:
                    break
                await asyncio.sleep(max(took * _RECLAIM_REST, 0.01))
            await loop.run_in_executor(self._ckpt_exec, self._checkpoint)
            await loop.run_in_executor(self._write_exec, self._truncate_wal)

    def _vacuum_chunk(self) -> tuple[bool, float]:
        """Writer thread: free up to ``_vacuum_pages`` pages (one transaction) and adapt the
        step to the time taken. Returns (go on: pages are left and this chunk freed some,
        seconds taken) — a file created without ``auto_vacuum=INCREMENTAL`` frees none, and
        the reclaim must stop rather than spin."""
        db = self._writer
        if db is None:
            return False, 0.0
        pages = self._vacuum_pages
        with self._turn.held():
            before = int(db.execute("PRAGMA freelist_count").fetchone()[0])
            started = time.perf_counter()
            # executescript steps the pragma to the end (execute would free one page).
            db.executescript(f"PRAGMA incremental_vacuum({pages});")
            took = time.perf_counter() - started
            left = int(db.execute("PRAGMA freelist_count").fetchone()[0])
        if took < _RECLAIM_TARGET_S / 2:
            self._vacuum_pages = min(pages * 2, 1_024)
        elif took > _RECLAIM_TARGET_S * 2:
            self._vacuum_pages = max(pages // 2, 1)
        return 0 < left < before, took

    def _truncate_wal(self) -> None:
        db = self._writer
        if db is not None:
            with self._turn.held():
                db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

    def _chunked(self, work: Callable[[sqlite3.Connection, int], int]) -> tuple[int, bool]:
        """Writer thread: one chunk in its own transaction; adapt the chunk to the time taken."""
        db = self._writer
        assert db is not None
        limit = self._gc_chunk
        with self._write_transaction(db):
            started = time.perf_counter()
            removed = work(db, limit)
        took = time.perf_counter() - started
        if removed == limit and took < _GC_TARGET_S / 2:
            self._gc_chunk = min(limit * 2, 16_384)
        elif took > _GC_TARGET_S * 2:
            self._gc_chunk = max(limit // 2, 64)
        return removed, removed == limit

    def _gc_chunk_expired(self, now_ns: int) -> tuple[int, bool]:
        def work(db: sqlite3.Connection, limit: int) -> int:
            return max(db.execute(_GC_EXPIRED, (u64(now_ns), limit)).rowcount, 0)

        return self._chunked(work)

    def _gc_chunk_idle(self, idle_before_ns: int) -> tuple[int, bool]:
        def work(db: sqlite3.Connection, limit: int) -> int:
            ids = [r[0] for r in db.execute(_IDLE_IDS, (idle_before_ns, limit))]
            if not ids:
                return 0
            marks = ",".join("?" * len(ids))
            db.execute(f"DELETE FROM blobs WHERE slot_ref IN ({marks})", ids)  # noqa: S608
            db.execute(f"DELETE FROM slots WHERE id IN ({marks})", ids)  # noqa: S608
            return len(ids)

        return self._chunked(work)

    async def _checkpoint_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            with contextlib.suppress(sqlite3.Error):
                await loop.run_in_executor(self._ckpt_exec, self._checkpoint)
            await asyncio.sleep(self.checkpoint_interval_s)

    def _checkpoint(self) -> None:
        conn = self._checkpointer
        if conn is not None:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    # --- reads -------------------------------------------------------------------------

    def _reader(self) -> sqlite3.Connection:
        """This reader thread's own connection (opened on first use)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = _connect(self.path, self.busy_timeout_ms, writer=False)
            self._local.conn = conn
            with self._reader_lock:
                self._reader_conns.append(conn)
        return conn

    async def _read(self, inline: bool, work: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run ``work`` on the event loop's connection or on a reader thread's."""
        self._open()
        try:
            if inline:
                assert self._inline is not None
                return work(self._inline)
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._read_exec, lambda: work(self._reader()))
        except sqlite3.Error as exc:
            raise StorageUnavailable("read failed") from exc

    async def list_entries(
        self,
        address: SlotAddress,
        *,
        now_ns: int,
        limit: int,
        match: Head | None = None,
        with_body: bool = True,
    ) -> list[StoredBlob]:
        """The most recent ``limit`` live entries by arrival, in candidate order
        (:func:`invitekit_service.admission.read_window`).

        Usually one statement (metadata, and small bodies with it); large bodies of the
        entries returned are read by rowid afterwards.
        """
        filters = _SLOT_FILTER
        params: tuple[Any, ...] = (address.slot_id, address.lane_id)
        if match is not None:
            filters += " AND b.epoch = ? AND b.group_state_hash = ?"
            params += (u64(match.epoch), match.group_state_hash)
        cut = max(limit, 0)
        sql = _LIST.format(filters=filters) if with_body else _LIST_META.format(filters=filters)
        args = params

        def work(db: sqlite3.Connection) -> tuple[list[StoredBlob], bool]:
            rows = db.execute(sql, args).fetchall()
            metas = [(_meta(row), row[10] if with_body else None) for row in rows]
            live = [m for m in metas if m[0].is_live(now_ns)]
            chosen = read_window(live, cut, lambda m: m[0])
            if with_body and any(body is None for _, body in chosen):
                # Large bodies. Rows are never updated, only inserted and deleted, so a body
                # found by seq belongs to the row its metadata came from; a row deleted in
                # between (evicted, collected) is left out, as a read a moment later would.
                marks = ",".join("?" * len(chosen))
                found_bodies = dict(
                    db.execute(
                        f"SELECT seq, body FROM blobs WHERE seq IN ({marks})",  # noqa: S608
                        [m.seq for m, _ in chosen],
                    )
                )
                chosen = [(m, found_bodies[m.seq]) for m, _ in chosen if m.seq in found_bodies]
            return [StoredBlob(m, body) for m, body in chosen], len(live) < len(metas)

        found, expired = await self._read(
            self.inline_reads and (not with_body or cut <= _INLINE_ROWS), work
        )
        if expired:
            self._expired_seen()
        return found

    async def get_by_sha256(
        self, address: SlotAddress, sha256: bytes, *, now_ns: int, with_body: bool = True
    ) -> StoredBlob | None:
        """The live entry with this content address, if the slot retains one."""
        columns = _META_COLUMNS + (", b.body" if with_body else "")
        sql = (
            f"SELECT {columns} FROM blobs b WHERE {_SLOT_FILTER} AND b.sha256 = ? "  # noqa: S608
            "ORDER BY b.seq DESC"
        )

        def work(db: sqlite3.Connection) -> list[Any]:
            return db.execute(sql, (address.slot_id, address.lane_id, sha256)).fetchall()

        for row in await self._read(self.inline_reads, work):
            meta = _meta(row)
            if meta.is_live(now_ns):
                return StoredBlob(meta, row[10] if with_body else None)
            self._expired_seen()
        return None

    async def head_entry(self, address: SlotAddress, *, now_ns: int) -> StoredBlob | None:
        """The most recent live entry by arrival; its body only when small."""

        def work(db: sqlite3.Connection) -> tuple[StoredBlob | None, bool]:
            skipped = False
            for row in db.execute(_HEAD, (address.slot_id, address.lane_id)):
                meta = _meta(row)
                if meta.is_live(now_ns):
                    return StoredBlob(meta, row[10]), skipped
                skipped = True
            return None, skipped

        found, expired = await self._read(self.inline_reads, work)
        if expired:
            self._expired_seen()
        return found

    def _body_reader(self) -> sqlite3.Connection:
        """This reader thread's connection for body chunks: a small page cache, so streamed
        bodies pass through instead of filling the index cache of :meth:`_reader`."""
        conn: sqlite3.Connection | None = getattr(self._local, "bodies", None)
        if conn is None:
            conn = _connect(self.path, self.busy_timeout_ms, writer=False)
            conn.execute(f"PRAGMA cache_size=-{_BODY_CACHE_KIB}")
            self._local.bodies = conn
            with self._reader_lock:
                self._reader_conns.append(conn)
        return conn

    async def read_body_chunk(self, seq: int, offset: int, size: int) -> bytes | None:
        """A slice of one body through SQLite's incremental blob I/O (only the pages it
        covers are read; the handle, and its read transaction, last one chunk), on a
        connection whose page cache holds about one chunk."""

        def work(db: sqlite3.Connection) -> bytes | None:
            try:
                blob = db.blobopen("blobs", "body", seq, readonly=True)
            except sqlite3.OperationalError:
                return None  # the row is gone
            with blob:
                blob.seek(min(offset, len(blob)))
                return blob.read(size)

        self._open()
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._read_exec, lambda: work(self._body_reader()))
        except sqlite3.Error as exc:
            raise StorageUnavailable("read failed") from exc

    async def check_ready(self) -> None:
        """A trivial query on the event loop's connection and on the writer thread; after a
        failed write, a real write (see :meth:`_probe_write`)."""
        try:
            self._open()
            if self._writer_task is None or self._writer_task.done():
                raise StorageUnavailable("writer task is not running")
            await self._read(True, lambda db: db.execute("SELECT 1").fetchall())
            loop = asyncio.get_running_loop()
            writer = self._writer
            assert writer is not None
            await loop.run_in_executor(
                self._write_exec, lambda: writer.execute("SELECT 1").fetchall()
            )
        except (sqlite3.Error, RuntimeError) as exc:
            raise StorageUnavailable("database is not reachable") from exc
        if self._write_failed and not await self._recover():
            raise StorageUnavailable("database cannot write")

    # --- recovery after a failed write (full disk, read-only file, I/O error) ----------

    def _start_recovery(self, *, at_start: bool = False) -> None:
        """Retry recovery in the background until it succeeds (unless that already runs)."""
        if self._closed or (self._recovery_task is not None and not self._recovery_task.done()):
            return
        self._recovery_task = asyncio.create_task(
            self._recovery_loop(at_start), name="sqlite-recover"
        )

    async def _recovery_loop(self, at_start: bool) -> None:
        light = at_start
        while self._write_failed and not self._closed:
            if await self._recover(light=light):
                return
            light = False
            await asyncio.sleep(_RECOVER_EVERY_S)

    async def _recover(self, *, light: bool = False) -> bool:
        """One recovery attempt on the writer thread (module doc); True when writes work.
        ``light``: at start, only the reserve and the probe (no checkpoint to wait for)."""
        assert self._write_exec is not None
        loop = asyncio.get_running_loop()
        step = ["release"]
        work = self._start_on_writer if light else self._recover_on_writer
        try:
            await loop.run_in_executor(self._write_exec, work, step)
        except (sqlite3.Error, OSError) as exc:
            logs.event(
                _LOG,
                "write recovery failed",
                logging.WARNING,
                step=step[0],
                error=_error_name(exc),
            )
            return False
        self._write_failed = False
        logs.event(_LOG, "writes recovered")
        return True

    def _start_on_writer(self, step: list[str]) -> None:
        """Writer thread, at start: allocate the reserve, commit and drop the probe row."""
        step[0] = "reserve"
        if not self._ensure_reserve():
            raise OSError("the disk reserve does not fit")
        step[0] = "probe"
        self._probe_write()

    def _recover_on_writer(self, step: list[str]) -> None:
        """Writer thread: release the reserve, checkpoint and truncate the WAL, take the
        reserve back, commit and drop a 1 MiB probe row (raises while any step fails;
        ``step[0]`` names the step reached)."""
        db = self._writer
        assert db is not None
        with contextlib.suppress(FileNotFoundError):
            self._reserve.unlink()
        step[0] = "checkpoint"
        try:
            with self._turn.held():
                busy, _, _ = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            if busy:
                raise sqlite3.OperationalError("checkpoint could not finish")
        except sqlite3.Error:
            self._ensure_reserve()  # keep the reserve for the next attempt if it still fits
            raise
        step[0] = "reserve"
        if not self._ensure_reserve():
            raise OSError("the disk reserve does not fit")
        step[0] = "probe"
        self._probe_write()

    def _ensure_reserve(self) -> bool:
        """Allocate the disk reserve unless it is there already; False when it does not fit
        (a partial file is removed)."""
        if self.reserve_bytes == 0:
            return True
        with contextlib.suppress(OSError):
            if self._reserve.stat().st_size >= self.reserve_bytes:
                return True
        try:
            fd = os.open(self._reserve, os.O_WRONLY | os.O_CREAT, 0o600)
        except OSError:
            return False
        try:
            os.posix_fallocate(fd, 0, self.reserve_bytes)
            return True
        except OSError:
            with contextlib.suppress(OSError):
                self._reserve.unlink()
            return False
        finally:
            os.close(fd)

    def _probe_write(self) -> None:
        """Writer thread: commit (then drop) a 1 MiB row, the size of a large upload. A tiny
        probe would pass on a full disk, in WAL space left over by the failed transaction,
        while uploads still fail."""
        db = self._writer
        assert db is not None
        for statements in (
            (
                "CREATE TABLE IF NOT EXISTS readiness_probe "
                "(id INTEGER PRIMARY KEY, pad BLOB NOT NULL)",
                "INSERT OR REPLACE INTO readiness_probe VALUES (1, zeroblob(1048576))",
            ),
            ("DELETE FROM readiness_probe",),
        ):
            with self._write_transaction(db):
                for sql in statements:
                    db.execute(sql)

    def change_marker(self, address: SlotAddress) -> int:
        """The slot's shared change counter (see :class:`ChangeMarkers`)."""
        return self._markers.read(address)

    def rate_counter(self) -> None:
        """SQLite keeps rate budgets in process memory (no shared counter)."""

"""The PostgreSQL backend (asyncpg): many service processes on many hosts share one database.

Admission is one short transaction per upload on a pooled connection:

1. ``BEGIN; SELECT pg_advisory_xact_lock(k)`` — ``k`` is 64 bits of SHA-256 over the slot's
   ids, so uploads to one slot are serialised across every process (a collision only
   serialises two unrelated slots), and the lock is released by COMMIT/ROLLBACK;
2. the slot row and its entries' metadata are read in the next statement, i.e. with a
   snapshot taken after the lock (READ COMMITTED), so they include every earlier commit;
3. :func:`invitekit_service.admission.decide` rules on it — the rules live there only;
4. one statement applies the decision: upsert the slot (its ``version`` grows), delete the
   FIFO evictions, insert the blob, ``pg_notify`` the slot's marker bucket; then COMMIT.
   With the server's default ``synchronous_commit = on`` the answer waits for the WAL flush.
   A refused upload rolls back and changes nothing.

Change markers: every process ``LISTEN``\\s on :data:`CHANNEL` on a dedicated connection and
bumps the in-memory bucket a notification names (``*`` = all, after a GC pass); its own
commits bump locally before :meth:`PostgresBlobStore.admit` returns. While the listener is
down every call returns a fresh negative value, so caches miss rather than serve stale data.

GC deletes in chunks of ``gc_chunk`` rows, each its own short transaction (``FOR UPDATE
SKIP LOCKED``): several processes collect at once without waiting on each other or on
uploads; an idle slot is only deleted when its advisory lock is free
(``pg_try_advisory_xact_lock``), so GC never races an admission on that slot.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import time
from collections.abc import Sequence
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

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
    META_FIELDS,
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
from .pg_migrations import migrate

CHANNEL = "invitekit_slots"
ALL_BUCKETS = "*"
_ZERO = r"'\x0000000000000000'::bytea"
_LIVE = f"(b.expires_at_ns = {_ZERO} OR b.expires_at_ns > $3)"
_META = (
    "b.seq, b.sha256, b.fields_key, b.epoch, b.group_state_hash, b.expires_at_ns, b.nonce, "
    "b.signature, b.received_ns, octet_length(b.body) AS size"
)
_LOAD = (
    "SELECT s.id AS slot_ref, s.head_epoch, s.head_hash, "  # noqa: S608 -- constants only
    + _META
    + " FROM slots s LEFT JOIN blobs b ON b.slot_ref = s.id"
    " WHERE s.slot_id = $1 AND s.lane_id = $2 ORDER BY b.seq"
)
_APPLY = """
WITH s AS (
    INSERT INTO slots AS t (slot_id, lane_id, lock_key, head_epoch, head_hash, last_write_ns)
    VALUES ($1, $2, $3, $4, $5, $6)
    ON CONFLICT (slot_id, lane_id) DO UPDATE SET
        head_epoch = EXCLUDED.head_epoch, head_hash = EXCLUDED.head_hash,
        last_write_ns = EXCLUDED.last_write_ns, version = t.version + 1
    RETURNING t.id
), gone AS (
    DELETE FROM blobs WHERE slot_ref = (SELECT id FROM s) AND seq = ANY($7::bigint[])
), ins AS (
    INSERT INTO blobs (slot_ref, sha256, fields_key, epoch, group_state_hash, expires_at_ns,
                       nonce, signature, received_ns, body)
    SELECT id, $8, $9, $10, $11, $12, $13, $14, $15, $16 FROM s WHERE $17::boolean
    RETURNING seq
)
SELECT (SELECT seq FROM ins) AS seq, pg_notify($18, $19)
"""
# Candidates: metadata of every entry; the body only for the first ``$4`` live ones in
# candidate order (epoch desc, group_state_hash asc, arrival desc), and only if ``$5``.
_LIST = (
    "SELECT "  # noqa: S608 -- constants only
    + _META
    + f", {_LIVE} AS live, CASE WHEN $5::boolean AND {_LIVE} AND row_number() OVER ("
    f"PARTITION BY {_LIVE} ORDER BY b.seq DESC) <= $4"
    " THEN b.body END AS body"
    " FROM blobs b JOIN slots s ON s.id = b.slot_ref WHERE s.slot_id = $1 AND s.lane_id = $2"
)
_LIST_MATCH = _LIST + " AND b.epoch = $6 AND b.group_state_hash = $7"
_BY_SHA = (
    "SELECT "  # noqa: S608 -- constants only
    + _META
    + f", {_LIVE} AS live, CASE WHEN $5::boolean THEN b.body END AS body"
    " FROM blobs b JOIN slots s ON s.id = b.slot_ref"
    " WHERE s.slot_id = $1 AND s.lane_id = $2 AND b.sha256 = $4 ORDER BY b.seq DESC"
)
# The head: the slot's entries newest first (a slot holds its retention window); the first
# live row is the head, and only its body comes back, only when small (as in ``_LIST``).
_HEAD = (
    "SELECT "  # noqa: S608 -- constants only
    + _META
    + f", {_LIVE} AS live, CASE WHEN {_LIVE} AND octet_length(b.body) <= {SMALL_BODY}"
    f" AND row_number() OVER (PARTITION BY {_LIVE} ORDER BY b.seq DESC) = 1"
    " THEN b.body END AS body"
    " FROM blobs b JOIN slots s ON s.id = b.slot_ref WHERE s.slot_id = $1 AND s.lane_id = $2"
    " ORDER BY b.seq DESC"
)
# A slice of one body (``body`` is stored EXTERNAL, so only the TOAST chunks it covers are read).
_CHUNK = "SELECT substring(body FROM $2 FOR $3) FROM blobs WHERE seq = $1"
_GC_EXPIRED = f"""
WITH victims AS (
    SELECT seq FROM blobs
    WHERE expires_at_ns <> {_ZERO} AND expires_at_ns <= $1
    LIMIT $2 FOR UPDATE SKIP LOCKED
), gone AS (
    DELETE FROM blobs b USING victims v WHERE b.seq = v.seq RETURNING 1
)
SELECT count(*) FROM gone
"""  # noqa: S608 -- constants only
_GC_IDLE = """
WITH victims AS (
    SELECT id, lock_key FROM slots WHERE last_write_ns < $1
    LIMIT $2 FOR UPDATE SKIP LOCKED
), gone AS (
    DELETE FROM slots t USING victims v
    WHERE t.id = v.id AND pg_try_advisory_xact_lock(v.lock_key) RETURNING 1
)
SELECT count(*) FROM gone
"""
_GC_RATES = """
WITH victims AS (
    SELECT scope, key_hash, window_start_ms FROM rate_counters WHERE expires_ms < $1
    LIMIT $2 FOR UPDATE SKIP LOCKED
), gone AS (
    DELETE FROM rate_counters r USING victims v
    WHERE (r.scope, r.key_hash, r.window_start_ms) = (v.scope, v.key_hash, v.window_start_ms)
    RETURNING 1
)
SELECT count(*) FROM gone
"""
# Sliding-window counter: the previous fixed window, weighted by how much of it still
# overlaps the moving window, plus the current one. Conditional upsert: a refused hit
# changes nothing; the row lock of ON CONFLICT makes concurrent hits from any process exact.
_RATE_HIT = """
WITH prev AS (
    SELECT coalesce((SELECT hits FROM rate_counters
                     WHERE scope = $1::text AND key_hash = $2::bytea
                       AND window_start_ms = $3::bigint - $5::bigint), 0) AS hits
)
INSERT INTO rate_counters AS r (scope, key_hash, window_start_ms, hits, expires_ms)
SELECT $1::text, $2::bytea, $3::bigint, 1, $3::bigint + 2 * $5::bigint FROM prev
WHERE prev.hits * $6::float8 + 1 <= $4::integer
ON CONFLICT (scope, key_hash, window_start_ms) DO UPDATE SET hits = r.hits + 1
WHERE r.hits + 1 + (SELECT hits FROM prev) * $6::float8 <= $4::integer
RETURNING r.hits
"""


def slot_lock_key(address: SlotAddress) -> int:
    """The slot's advisory-lock key: the first 8 bytes of SHA-256 over its ids, signed."""
    digest = hashlib.sha256(address.slot_id + b"\x00" + address.lane_id).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def is_postgres_url(url: str) -> bool:
    """``postgresql://…`` or ``postgres://…`` (libpq URI syntax)."""
    return url.startswith(("postgresql://", "postgres://"))


def _meta(row: asyncpg.Record) -> EntryMeta:
    return entry_meta([row[name] for name in META_FIELDS])


async def _reset(conn: asyncpg.Connection) -> None:
    """Pool release: roll back a transaction left open; nothing else holds session state."""
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


_DB_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)


class PostgresBlobStore(ExpiryListener):
    """:class:`~invitekit_service.storage.base.BlobStore` on PostgreSQL (see module doc)."""

    def __init__(
        self,
        dsn: str,
        *,
        pool_min: int = 1,
        pool_max: int = 10,
        gc_chunk: int = 2000,
        command_timeout: float = 30.0,
    ) -> None:
        self.dsn = dsn
        self.pool_min = min(pool_min, pool_max)
        self.pool_max = pool_max
        self.gc_chunk = gc_chunk
        self.command_timeout = command_timeout
        self._pool: asyncpg.Pool | None = None
        self._listener: asyncpg.Connection | None = None
        self._listening = False
        self._relisten: asyncio.Task[None] | None = None
        self._markers = ChangeMarkers(None)
        self._unknown = itertools.count(1)
        self._closed = False
        self._rates = PostgresRateCounter(self)

    # --- lifecycle ---------------------------------------------------------------------

    @staticmethod
    async def prepare(dsn: str, timeout: float = 30.0) -> None:
        """Connect once and apply missing migrations (under the migration lock)."""
        try:
            conn = await asyncpg.connect(dsn, timeout=timeout)
            try:
                await migrate(conn)
            finally:
                await conn.close()
        except _DB_ERRORS as exc:
            raise StorageUnavailable("cannot open the PostgreSQL database") from exc

    async def start(self) -> None:
        """Apply migrations (under the migration lock), open the pool and the listener."""
        await self.prepare(self.dsn, self.command_timeout)
        try:
            self._pool = await asyncpg.create_pool(
                self.dsn,
                min_size=self.pool_min,
                max_size=self.pool_max,
                command_timeout=self.command_timeout,
                reset=_reset,
            )
            await self._listen()
        except _DB_ERRORS as exc:
            await self.close()
            raise StorageUnavailable("cannot open the PostgreSQL database") from exc

    async def _listen(self) -> None:
        conn = await asyncpg.connect(self.dsn, timeout=self.command_timeout)
        conn.add_termination_listener(self._listener_lost)
        await conn.add_listener(CHANNEL, self._notified)
        self._listener = conn
        self._markers.bump_all()  # anything announced while we were not listening
        self._listening = True

    def _notified(self, _conn: object, _pid: int, _channel: str, payload: object) -> None:
        text = str(payload)
        if text == ALL_BUCKETS:
            self._markers.bump_all()
            return
        with contextlib.suppress(ValueError):
            bucket = int(text)
            if 0 <= bucket < ChangeMarkers.BUCKETS:
                self._markers.bump([bucket])

    def _listener_lost(self, _conn: object) -> None:
        self._listening = False
        if not self._closed and (self._relisten is None or self._relisten.done()):
            self._relisten = asyncio.get_running_loop().create_task(self._relisten_loop())

    async def _relisten_loop(self) -> None:
        delay = 0.1
        while not self._closed and not self._listening:
            try:
                await self._listen()
            except _DB_ERRORS:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def close(self) -> None:
        """Close the listener and the pool (waiting for transactions in flight)."""
        if self._closed:
            return
        self._closed = True
        self._listening = False
        if self._relisten is not None:
            self._relisten.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._relisten
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.close(timeout=5)
        if self._pool is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._pool.close(), timeout=10)

    def _pool_or_raise(self) -> asyncpg.Pool:
        if self._pool is None or self._closed:
            raise StorageUnavailable("storage is not open")
        return self._pool

    # --- writes ------------------------------------------------------------------------

    async def admit(
        self, address: SlotAddress, upload: Upload, policy: AdmissionPolicy, now_ns: int
    ) -> AdmitResult:
        """Decide and (if accepted) store ``upload`` in one transaction (see module doc).

        Shielded: once started, the transaction finishes even if the caller is cancelled.
        """
        pool = self._pool_or_raise()
        task = asyncio.ensure_future(self._admit(pool, address, upload, policy, now_ns))
        return await asyncio.shield(task)

    async def _admit(
        self,
        pool: asyncpg.Pool,
        address: SlotAddress,
        upload: Upload,
        policy: AdmissionPolicy,
        now_ns: int,
    ) -> AdmitResult:
        bucket = ChangeMarkers.bucket(address)
        try:
            async with pool.acquire() as conn:
                # An int literal (never client text) lets BEGIN and the lock share a round trip.
                await conn.execute(f"BEGIN; SELECT pg_advisory_xact_lock({slot_lock_key(address)})")
                try:
                    result, wrote = await self._admit_locked(
                        conn, address, upload, policy, now_ns
                    )
                    await conn.execute("COMMIT" if wrote else "ROLLBACK")
                    if not wrote:
                        return result
                except BaseException:
                    if conn.is_in_transaction():
                        with contextlib.suppress(*_DB_ERRORS):
                            await conn.execute("ROLLBACK")
                    raise
        except _DB_ERRORS as exc:
            raise StorageUnavailable("write transaction failed") from exc
        self._markers.bump([bucket])
        return result

    async def _admit_locked(
        self,
        conn: PoolConnectionProxy[asyncpg.Record],
        address: SlotAddress,
        upload: Upload,
        policy: AdmissionPolicy,
        now_ns: int,
    ) -> tuple[AdmitResult, bool]:
        """The result, and whether anything was written (else the caller rolls back)."""
        rows = await conn.fetch(_LOAD, address.slot_id, address.lane_id)
        head: Head | None = None
        entries: tuple[EntryMeta, ...] = ()
        if rows:
            first = rows[0]
            if first["head_epoch"] is not None:
                head = Head(from_u64(first["head_epoch"]), first["head_hash"])
            entries = tuple(_meta(r) for r in rows if r["seq"] is not None)
        state = SlotState(exists=bool(rows), head=head, entries=entries)
        decision = decide(address.kind, state, upload, policy, now_ns)
        if not decision.outcome.accepted:
            return AdmitResult(decision.outcome, decision.existing, decision.head), False
        new_head = decision.head
        seq = await conn.fetchval(
            _APPLY,
            address.slot_id,
            address.lane_id,
            slot_lock_key(address),
            None if new_head is None else u64(new_head.epoch),
            None if new_head is None else new_head.group_state_hash,
            now_ns,
            list(decision.evict),
            *upload_columns(upload),
            upload.body,
            decision.store,
            CHANNEL,
            str(ChangeMarkers.bucket(address)),
        )
        if not decision.store:
            return AdmitResult(decision.outcome, decision.existing, new_head), True
        return AdmitResult(decision.outcome, stored_entry(int(seq), upload), new_head), True

    async def collect_garbage(self, now_ns: int, idle_before_ns: int | None) -> GcReport:
        """Delete expired blobs, idle slots and stale rate counters in short chunks."""
        pool = self._pool_or_raise()
        try:
            expired = await self._sweep(pool, _GC_EXPIRED, u64(now_ns))
            idle = 0
            if idle_before_ns is not None:
                idle = await self._sweep(pool, _GC_IDLE, idle_before_ns)
            await self._sweep(pool, _GC_RATES, int(time.time() * 1000))
            if expired or idle:
                await pool.execute("SELECT pg_notify($1, $2)", CHANNEL, ALL_BUCKETS)
        except _DB_ERRORS as exc:
            raise StorageUnavailable("garbage collection failed") from exc
        if expired or idle:
            self._markers.bump_all()
        return GcReport(expired_blobs=expired, idle_slots=idle)

    async def _sweep(self, pool: asyncpg.Pool, sql: str, bound: Any) -> int:
        """Run a chunked delete until a chunk comes back short; each chunk commits alone."""
        total = 0
        while True:
            removed = int(await pool.fetchval(sql, bound, self.gc_chunk))
            total += removed
            if removed < self.gc_chunk:
                return total
            await asyncio.sleep(0)

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
        """The most recent ``limit`` live entries by arrival, in candidate order; bodies
        cross the wire only for those returned."""
        pool = self._pool_or_raise()
        args: list[Any] = [address.slot_id, address.lane_id, u64(now_ns), max(limit, 0)]
        args.append(with_body)
        sql = _LIST
        if match is not None:
            sql = _LIST_MATCH
            args += [u64(match.epoch), match.group_state_hash]
        rows = await self._fetch(pool, sql, args)
        return self._live(rows, limit)

    async def get_by_sha256(
        self, address: SlotAddress, sha256: bytes, *, now_ns: int, with_body: bool = True
    ) -> StoredBlob | None:
        """The live entry with this content address, if the slot retains one."""
        pool = self._pool_or_raise()
        rows = await self._fetch(
            pool, _BY_SHA, [address.slot_id, address.lane_id, u64(now_ns), sha256, with_body]
        )
        found = self._live(rows, 1, ordered=False)
        return found[0] if found else None

    async def head_entry(self, address: SlotAddress, *, now_ns: int) -> StoredBlob | None:
        """The most recent live entry by arrival; its body only when small."""
        pool = self._pool_or_raise()
        rows = await self._fetch(pool, _HEAD, [address.slot_id, address.lane_id, u64(now_ns)])
        head = next((row for row in rows if row["live"]), None)
        if rows and rows[0] is not head:  # an entry newer than the head, or every one, expired
            self._expired_seen()
        return None if head is None else StoredBlob(_meta(head), head["body"])

    async def read_body_chunk(self, seq: int, offset: int, size: int) -> bytes | None:
        """A slice of one body (``substring`` over the TOASTed column)."""
        pool = self._pool_or_raise()
        try:
            value = await pool.fetchval(_CHUNK, seq, offset + 1, size)
        except _DB_ERRORS as exc:
            raise StorageUnavailable("read failed") from exc
        return None if value is None else bytes(value)

    @staticmethod
    async def _fetch(pool: asyncpg.Pool, sql: str, args: Sequence[Any]) -> list[asyncpg.Record]:
        try:
            return list(await pool.fetch(sql, *args))
        except _DB_ERRORS as exc:
            raise StorageUnavailable("read failed") from exc

    def _live(
        self, rows: list[asyncpg.Record], limit: int, *, ordered: bool = True
    ) -> list[StoredBlob]:
        found: list[StoredBlob] = []
        for row in rows:
            if row["live"]:
                found.append(StoredBlob(_meta(row), row["body"]))
            else:
                self._expired_seen()
        if ordered:
            # The most recent ``limit`` by arrival (those the query sent bodies for), then
            # candidate order: the one read rule, :func:`invitekit_service.admission.read_window`.
            return read_window(found, limit, lambda s: s.meta)
        return found[: max(limit, 0)]

    async def check_ready(self) -> None:
        """A round trip on the pool, and the change listener is connected."""
        pool = self._pool_or_raise()
        if not self._listening:
            raise StorageUnavailable("change listener is reconnecting")
        try:
            await pool.fetchval("SELECT 1")
        except _DB_ERRORS as exc:
            raise StorageUnavailable("database is not reachable") from exc

    def change_marker(self, address: SlotAddress) -> int:
        """The bucket's counter; a never-repeating negative value while not listening."""
        if not self._listening:
            return -next(self._unknown)
        return self._markers.read(address)

    def rate_counter(self) -> PostgresRateCounter:
        """Rate-limit counters in the database, shared by every process and host."""
        return self._rates


class PostgresRateCounter:
    """:class:`~invitekit_service.storage.base.RateCounter` in the UNLOGGED ``rate_counters`` table.

    A sliding-window counter (the previous fixed window weighted by its overlap with the
    moving window, plus the current one). Keys are stored as a SHA-256 prefix, never as
    given (they are client addresses).
    """

    def __init__(self, store: PostgresBlobStore) -> None:
        self._store = store

    async def hit(self, scope: str, key: str, limit: int, window_s: int) -> float | None:
        """Charge one hit, or return the seconds until the window has room."""
        pool = self._store._pool_or_raise()
        window_ms = max(1, int(window_s * 1000))
        now_ms = int(time.time() * 1000)
        start = now_ms - now_ms % window_ms
        weight = 1.0 - (now_ms - start) / window_ms
        key_hash = hashlib.sha256(key.encode()).digest()[:16]
        try:
            charged = await pool.fetchval(
                _RATE_HIT, scope, key_hash, start, limit, window_ms, weight
            )
        except _DB_ERRORS as exc:
            raise StorageUnavailable("rate counter failed") from exc
        if charged is not None:
            return None
        return max(1.0, (start + window_ms - now_ms) / 1000)


__all__ = [
    "CHANNEL",
    "PostgresBlobStore",
    "PostgresRateCounter",
    "is_postgres_url",
    "slot_lock_key",
]

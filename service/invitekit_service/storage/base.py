"""The storage interface every backend implements, and the values it exchanges.

Contract (what the conformance suite in ``tests/integration/service`` checks):

* :meth:`BlobStore.admit` is atomic per slot: it reads the slot's state and applies
  :func:`invitekit_service.admission.decide` under one exclusive lock held for the whole
  write transaction, so concurrent uploads are serialised. SQLite: the database-wide write
  lock (``BEGIN IMMEDIATE``; the processes sharing the file queue for it on an exclusive
  ``flock`` of ``<database>-writelock``). PostgreSQL: a transaction-level advisory
  lock on the slot (``BEGIN; SELECT pg_advisory_xact_lock(k)``, ``k`` = 64 bits of SHA-256
  over the slot's ids; released by ``COMMIT``/``ROLLBACK``), then the slot's state is read
  and the decision applied in the same transaction.
* It returns only after the transaction is durable (fsync'd). A backend may batch several
  admissions into one transaction (group commit) as long as each is decided in sequence.
* Reads never return blobs whose ``expires_at_ns`` has passed; a bounded read keeps the
  most recent ``limit`` live entries by arrival and lists them in the order
  ``(epoch desc, group_state_hash asc, arrival desc)``
  (:func:`invitekit_service.admission.read_window`).
* :meth:`BlobStore.change_marker` is a cheap counter that changes after every committed
  change to a slot (in any process sharing the database); caches key on it. Within one
  process it moves before ``admit`` returns; another process learns of the change when the
  backend's signal arrives (SQLite: a shared memory-mapped file, at once; PostgreSQL:
  ``NOTIFY``, delivered after the commit).
* :meth:`BlobStore.rate_counter` is the store's shared rate-limit counter, or ``None`` when
  the budgets are kept in process memory.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ..admission import (
    AdmissionPolicy,
    EntryMeta,
    Head,
    Outcome,
    SlotAddress,
    Upload,
)

__all__ = [
    "META_FIELDS",
    "SMALL_BODY",
    "AdmitResult",
    "BlobStore",
    "ExpiryListener",
    "GcReport",
    "RateCounter",
    "StorageUnavailable",
    "StoredBlob",
    "entry_meta",
    "from_u64",
    "stored_entry",
    "u64",
    "upload_columns",
]


def u64(value: int) -> bytes:
    """A uint64 column: 8 bytes big-endian, so byte order is numeric order (both backends)."""
    return value.to_bytes(8, "big")


def from_u64(raw: bytes) -> int:
    """Inverse of :func:`u64`."""
    return int.from_bytes(raw, "big")


#: The entry metadata columns every backend selects, in this order (see :func:`entry_meta`).
META_FIELDS = (
    "seq", "sha256", "fields_key", "epoch", "group_state_hash", "expires_at_ns", "nonce",
    "signature", "received_ns", "size",
)


def entry_meta(values: Sequence[Any]) -> EntryMeta:
    """An :class:`EntryMeta` from the :data:`META_FIELDS` column values, in that order."""
    seq, sha256, fields_key, epoch, gsh, expires, nonce, signature, received, size = values
    return EntryMeta(
        seq=seq,
        sha256=sha256,
        fields_key=fields_key,
        epoch=from_u64(epoch),
        group_state_hash=gsh,
        expires_at_ns=from_u64(expires),
        nonce=nonce,
        signature=signature,
        received_ns=received,
        size=size,
    )


def upload_columns(upload: Upload) -> tuple[Any, ...]:
    """The :data:`META_FIELDS` columns an accepted upload is stored with (``seq`` and
    ``size`` excepted: the database assigns the first, the body gives the second)."""
    return (
        upload.sha256,
        upload.fields_key,
        u64(upload.epoch),
        upload.group_state_hash,
        u64(upload.expires_at_ns),
        upload.nonce,
        upload.signature,
        upload.received_ns,
    )


def stored_entry(seq: int, upload: Upload) -> EntryMeta:
    """The :class:`EntryMeta` of ``upload`` once stored as row ``seq``."""
    return EntryMeta(
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


class ExpiryListener:
    """The lazy-GC trigger every backend carries: :meth:`BlobStore.set_expiry_listener`
    registers it, a read that skips an expired blob calls :meth:`_expired_seen`."""

    _on_expired: Callable[[], None] | None = None

    def set_expiry_listener(self, callback: Callable[[], None]) -> None:
        """Register the lazy-GC trigger (called when a read skips an expired blob)."""
        self._on_expired = callback

    def _expired_seen(self) -> None:
        if self._on_expired is not None:
            self._on_expired()


#: Bodies up to this size come back with a head read's metadata (one statement); larger ones
#: are read in chunks (:meth:`BlobStore.read_body_chunk`) while they are sent.
SMALL_BODY = 16 * 1024


class StorageUnavailable(Exception):
    """The backend cannot serve right now (closed, locked for too long, disk error)."""


@dataclass(frozen=True, slots=True)
class StoredBlob:
    """A retained upload; ``body`` is ``None`` when the caller asked for metadata only."""

    meta: EntryMeta
    body: bytes | None


@dataclass(frozen=True, slots=True)
class AdmitResult:
    """The outcome, the entry stored or matched (if any), and the lane head afterwards."""

    outcome: Outcome
    entry: EntryMeta | None
    head: Head | None


@dataclass(frozen=True, slots=True)
class GcReport:
    """How many expired blobs and idle slots one collection pass removed."""

    expired_blobs: int
    idle_slots: int


class RateCounter(Protocol):
    """A moving-window hit counter every process of the service shares."""

    async def hit(self, scope: str, key: str, limit: int, window_s: int) -> float | None:
        """Charge one hit to ``(scope, key)``: ``None`` if within ``limit`` per ``window_s``,
        else the seconds after which a retry may succeed (a refused hit is not charged)."""


class BlobStore(Protocol):
    """What the HTTP layer needs from a database. All methods are coroutine-safe."""

    async def start(self) -> None:
        """Open connections and create the schema if needed."""

    async def close(self) -> None:
        """Finish queued writes and release connections."""

    async def admit(
        self, address: SlotAddress, upload: Upload, policy: AdmissionPolicy, now_ns: int
    ) -> AdmitResult:
        """Atomically decide and (if accepted) durably store ``upload`` in ``address``."""

    async def list_entries(
        self,
        address: SlotAddress,
        *,
        now_ns: int,
        limit: int,
        match: Head | None = None,
        with_body: bool = True,
    ) -> list[StoredBlob]:
        """Live entries in candidate order, at most ``limit``, optionally only ``match``."""

    async def get_by_sha256(
        self, address: SlotAddress, sha256: bytes, *, now_ns: int, with_body: bool = True
    ) -> StoredBlob | None:
        """The live entry whose body hashes to ``sha256``, if retained."""

    async def head_entry(self, address: SlotAddress, *, now_ns: int) -> StoredBlob | None:
        """The slot's head: its most recent live entry by arrival (``list_entries`` with
        ``limit=1``), with the body only when it is at most :data:`SMALL_BODY` bytes."""

    async def read_body_chunk(self, seq: int, offset: int, size: int) -> bytes | None:
        """Up to ``size`` bytes of entry ``seq``'s body from ``offset`` (fewer at its end),
        or ``None`` when the entry is gone (evicted or collected since it was read). Rows
        are never updated, so the chunks of one ``seq`` always belong to one body."""

    async def collect_garbage(self, now_ns: int, idle_before_ns: int | None) -> GcReport:
        """Delete expired blobs and slots with no write since ``idle_before_ns``."""

    async def check_ready(self) -> None:
        """Raise :class:`StorageUnavailable` unless reads and writes can proceed."""

    def change_marker(self, address: SlotAddress) -> int:
        """A counter that differs after any committed change to ``address``."""

    def set_expiry_listener(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` whenever a read skips an expired blob (lazy GC trigger)."""

    def rate_counter(self) -> RateCounter | None:
        """The counter shared by all processes on this database, if the backend has one."""

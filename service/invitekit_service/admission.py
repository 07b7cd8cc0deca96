"""The admission rules for both slot kinds, as pure functions over a slot snapshot.

A storage backend loads a :class:`SlotState` while holding the slot's write lock (SQLite:
``BEGIN IMMEDIATE``; PostgreSQL: ``SELECT … FOR UPDATE`` on the slot row), calls
:func:`decide` and applies the returned :class:`Decision` in the same transaction. Because
the rules live here and nowhere else, every backend admits exactly the same uploads.

Every envelope (:mod:`invitekit.envelope`: the XIP's v1 and invitekit's HPKE variants)
carries the same metadata, so every rule below applies to all of them alike.

Whole-blob identity (both kinds): an upload is "already stored" only when a retained
entry is equal in all its blob fields (:func:`fields_key`); an upload that shares
``(epoch, group_state_hash)`` with a retained entry but differs in any byte is its own
entry. Metadata is uploader-asserted, so it never stands in for the bytes.

Keyed lane (total order): ``epoch > head.epoch`` is stored and moves the head; equal epoch
and equal ``group_state_hash`` is idempotent when a live byte-identical copy is retained and
stored beside the others otherwise; equal epoch with another hash is a fork; lower epoch is
stale. Keep the newest ``retention`` accepted uploads.

Open slot (XIP-82 service contract): identical blobs coalesce; everything else is stored
and the oldest arrivals beyond ``retention`` are evicted — never by epoch.

No epoch-jump gate on either kind: on the open slot its reference epoch is whatever a
keyless writer parks there (eight squatters at epoch 0 lock every genuine upload out), on a
lane an invite holder steps past any bound K in K-sized steps while a group that advanced K
epochs between two lane writes is locked out for good. It bounds nothing and can refuse
genuine uploads, so it does not exist.

Reads (:func:`read_window`): the most recent ``limit`` live entries *by arrival*, then
ordered for the candidate set — a flood of forged high epochs never pushes an older genuine
entry out of a read that has room for it.
"""

from __future__ import annotations

import enum
import hashlib
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from invitekit.blob import EncryptedBlob, expired_at
from invitekit.envelope import SealedBlob, envelope_of
from invitekit.protocol import SlotKind


class Outcome(enum.StrEnum):
    """What admission did with an upload (also the ``outcome`` metric label)."""

    CREATED = "created"
    IDEMPOTENT = "idempotent"
    COALESCED = "coalesced"
    STALE = "stale"
    FORK = "fork"
    EXPIRED = "expired"

    @property
    def accepted(self) -> bool:
        """True for the 2xx outcomes."""
        return self in (Outcome.CREATED, Outcome.IDEMPOTENT, Outcome.COALESCED)


@dataclass(frozen=True, slots=True)
class SlotAddress:
    """A slot: ``external_group_id`` plus the lane id (empty for the open slot)."""

    slot_id: bytes
    kind: SlotKind
    lane_id: bytes = b""

    def __post_init__(self) -> None:
        if (self.kind is SlotKind.LANE) != bool(self.lane_id):
            raise ValueError("a lane address needs a lane id; an open one must not have one")

    @property
    def tag(self) -> str:
        """A short, non-reversible label for logs (never the slot id itself)."""
        digest = hashlib.sha256(self.slot_id + b"\x00" + self.lane_id).hexdigest()
        return f"{self.kind.value}:{digest[:12]}"


_FIELDS = struct.Struct(">QQ")
#: Prefix of an HPKE blob's identity key (a v1 key starts with the 16 metadata bytes).
_EXTENSION_IDENTITY = b"invitekit-ext/"


def fields_key(blob: SealedBlob) -> bytes:
    """SHA-256 over all the blob's fields, length-delimited: the open slot's coalescing key.

    v1: two uploads coalesce iff they carry equal nonce, ciphertext, epoch,
    group_state_hash and expires_at_ns (XIP-82 rule 5), whatever protobuf dialect carried
    them. HPKE: equal variant, ``sealed``, epoch, group_state_hash and expires_at_ns; the
    variant-tagged prefix keeps an HPKE key from ever equalling a v1 one.
    """
    h = hashlib.sha256()
    if isinstance(blob, EncryptedBlob):
        parts: tuple[bytes, ...] = (blob.group_state_hash, blob.nonce, blob.ciphertext)
    else:
        h.update(_EXTENSION_IDENTITY + envelope_of(blob).value.encode() + b"\x00")
        parts = (blob.group_state_hash, blob.sealed)
    h.update(_FIELDS.pack(blob.epoch, blob.expires_at_ns))
    for part in parts:
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.digest()


def stored_nonce(blob: SealedBlob) -> bytes:
    """The ``nonce`` column and presence field: v1's nonce, empty for HPKE (it has none)."""
    return blob.nonce if isinstance(blob, EncryptedBlob) else b""


@dataclass(frozen=True, slots=True)
class Upload:
    """A parsed, size-checked upload (and its proof, for lanes) ready for admission."""

    body: bytes
    sha256: bytes
    fields_key: bytes
    epoch: int
    group_state_hash: bytes
    expires_at_ns: int
    nonce: bytes
    signature: bytes | None
    received_ns: int

    @classmethod
    def from_blob(
        cls,
        body: bytes,
        blob: SealedBlob,
        *,
        sha256: bytes,
        signature: bytes | None,
        received_ns: int,
    ) -> Upload:
        """Build from the raw body and its parsed blob."""
        return cls(
            body=body,
            sha256=sha256,
            fields_key=fields_key(blob),
            epoch=blob.epoch,
            group_state_hash=blob.group_state_hash,
            expires_at_ns=blob.expires_at_ns,
            nonce=stored_nonce(blob),
            signature=signature,
            received_ns=received_ns,
        )


@dataclass(frozen=True, slots=True)
class EntryMeta:
    """One retained upload, without its body. ``seq`` grows with arrival order."""

    seq: int
    sha256: bytes
    fields_key: bytes
    epoch: int
    group_state_hash: bytes
    expires_at_ns: int
    nonce: bytes
    signature: bytes | None
    received_ns: int
    size: int

    def is_live(self, now_ns: int) -> bool:
        """False once ``expires_at_ns`` (non-zero) has been reached (:func:`expired_at`)."""
        return not expired_at(self.expires_at_ns, now_ns)


@dataclass(frozen=True, slots=True)
class Head:
    """A lane's ordering position: the last accepted ``(epoch, group_state_hash)``."""

    epoch: int
    group_state_hash: bytes


@dataclass(frozen=True, slots=True)
class SlotState:
    """A locked snapshot of one slot: its head (lanes) and entries in arrival order."""

    exists: bool
    head: Head | None
    entries: tuple[EntryMeta, ...]


@dataclass(frozen=True, slots=True)
class AdmissionPolicy:
    """Per-kind limits: how many uploads to retain."""

    retention: int

    def __post_init__(self) -> None:
        if self.retention < 1:
            raise ValueError("retention must be at least 1")


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do: store the upload or not, which seqs to evict, the head afterwards.

    ``existing`` is the retained entry an idempotent/coalesced upload matched.
    ``head`` is the lane head after the decision (``None`` for open slots).
    """

    outcome: Outcome
    store: bool
    evict: tuple[int, ...]
    head: Head | None
    existing: EntryMeta | None = None


def _evictions(entries: tuple[EntryMeta, ...], retention: int, extra: int) -> tuple[int, ...]:
    """Seqs of the oldest arrivals to drop so that ``len(entries) + extra <= retention``."""
    overflow = len(entries) + extra - retention
    if overflow <= 0:
        return ()
    ordered = sorted(entries, key=lambda e: e.seq)
    return tuple(e.seq for e in ordered[:overflow])


def decide(
    kind: SlotKind,
    state: SlotState,
    upload: Upload,
    policy: AdmissionPolicy,
    now_ns: int,
) -> Decision:
    """Apply the slot kind's admission rule to ``upload`` against ``state``."""
    if expired_at(upload.expires_at_ns, now_ns):
        return Decision(Outcome.EXPIRED, False, (), state.head)
    if kind is SlotKind.LANE:
        return _decide_lane(state, upload, policy, now_ns)
    return _decide_open(state, upload, policy)


def _byte_identical(state: SlotState, upload: Upload, now_ns: int) -> EntryMeta | None:
    """The newest live retained entry equal to ``upload`` in all five fields, if any."""
    found = [
        e for e in state.entries if e.fields_key == upload.fields_key and e.is_live(now_ns)
    ]
    return found[-1] if found else None


def _decide_lane(
    state: SlotState, upload: Upload, policy: AdmissionPolicy, now_ns: int
) -> Decision:
    head = state.head
    if head is None or upload.epoch > head.epoch:
        evict = _evictions(state.entries, policy.retention, 1)
        return Decision(
            Outcome.CREATED, True, evict, Head(upload.epoch, upload.group_state_hash)
        )
    if upload.epoch < head.epoch:
        return Decision(Outcome.STALE, False, (), head)
    if upload.group_state_hash != head.group_state_hash:
        return Decision(Outcome.FORK, False, (), head)
    same = _byte_identical(state, upload, now_ns)
    if same is not None:
        return Decision(Outcome.IDEMPOTENT, False, (), head, existing=same)
    # Same state, other bytes (a fresh seal, or junk stamped with a copied pair): stored as
    # its own entry. Expired copies of the head's state make room first.
    dead = {
        e.seq
        for e in state.entries
        if not e.is_live(now_ns)
        and (e.epoch, e.group_state_hash) == (head.epoch, head.group_state_hash)
    }
    keep = tuple(e for e in state.entries if e.seq not in dead)
    evict = tuple(sorted(dead)) + _evictions(keep, policy.retention, 1)
    return Decision(Outcome.CREATED, True, evict, head)


def _decide_open(state: SlotState, upload: Upload, policy: AdmissionPolicy) -> Decision:
    for entry in state.entries:
        if entry.fields_key == upload.fields_key:
            return Decision(Outcome.COALESCED, False, (), None, existing=entry)
    evict = _evictions(state.entries, policy.retention, 1)
    return Decision(Outcome.CREATED, True, evict, None)


def candidate_sort_key(meta: EntryMeta) -> tuple[int, bytes, int]:
    """The candidate order: epoch desc, group_state_hash asc, arrival desc."""
    return (-meta.epoch, meta.group_state_hash, -meta.seq)


T = TypeVar("T")


def read_window(items: Iterable[T], limit: int, meta: Callable[[T], EntryMeta]) -> list[T]:
    """The ``limit`` most recent ``items`` by arrival, then in candidate order.

    ``items`` are live entries (or records holding one, ``meta`` reads it). Cutting by
    arrival first means claimed epochs never decide what a bounded read leaves out.
    """
    newest = sorted(items, key=lambda item: meta(item).seq, reverse=True)[: max(limit, 0)]
    return sorted(newest, key=lambda item: candidate_sort_key(meta(item)))


def arrival_ranks(metas: Iterable[EntryMeta]) -> dict[int, int]:
    """``seq`` → rank by arrival among ``metas`` (0 = the most recent upload)."""
    ordered = sorted((m.seq for m in metas), reverse=True)
    return {seq: rank for rank, seq in enumerate(ordered)}

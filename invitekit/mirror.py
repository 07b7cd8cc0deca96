"""Mirroring slots between blob services (XIP-82 "Malicious service": several providers).

A mirror copies what one service retains for a slot to others, **verbatim**:

* keyed-lane uploads go with the signature the source stored (the lane proof covers only
  slot id, lane id and the SHA-256 of the body, so it verifies on any service) — a mirror
  never needs the invite key;
* open-slot uploads are plain bytes.

Every lane upload is also copied, as plain bytes, to the destination's **open slot** (when
the open kind is mirrored): the open slot is the XIP's robust path, so a copy that only
reached a lane would be lost to a reader of the open slot, and a wedged lane must cost
nothing but speed. Uploads are replayed oldest epoch first, so a destination lane (ordered
by epoch) accepts each step. Uploads the destination already retains (same SHA-256) are
not sent again (``present``); a lane that is already past an upload's epoch answers
``stale``, reported as ``superseded`` and counted as success, like ``idempotent`` and
``coalesced``. Nothing is decrypted.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from .client import InviteClient
from .client.errors import ClientError
from .client.results import StoredUpload, UploadResult
from .protocol import SlotKind


@dataclass(frozen=True)
class SlotMirrorReport:
    """What mirroring one slot did: how many uploads were read and what each target said."""

    slot_id: bytes
    source: str
    read: int
    results: tuple[UploadResult, ...] = ()
    error: str | None = None
    lanes: tuple[bytes, ...] = ()

    @property
    def ok(self) -> bool:
        """True when the source answered and every replay was accepted."""
        return self.error is None and all(r.ok for r in self.results)

    def to_json(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "slot": self.slot_id.hex(),
            "source": self.source,
            "ok": self.ok,
            "read": self.read,
            "lanes": [lane.hex() for lane in self.lanes],
            "error": self.error,
            "results": [r.to_json() for r in self.results],
        }


async def _present(
    client: InviteClient,
    dest: str,
    slot_id: bytes,
    lanes: Sequence[bytes],
    kinds: tuple[SlotKind, ...],
) -> set[tuple[SlotKind, bytes, bytes]]:
    """(kind, lane, sha256) of what ``dest`` already retains (empty if it cannot say)."""
    found: set[tuple[SlotKind, bytes, bytes]] = set()
    try:
        for lane in lanes:
            for u in await client.stored_uploads(dest, slot_id, SlotKind.LANE, lane):
                found.add((SlotKind.LANE, lane, hashlib.sha256(u.body).digest()))
        if SlotKind.OPEN in kinds:
            for u in await client.stored_uploads(dest, slot_id, SlotKind.OPEN):
                found.add((SlotKind.OPEN, b"", hashlib.sha256(u.body).digest()))
    except ClientError:
        return set()
    return found


def _replay_order(uploads: Sequence[StoredUpload]) -> list[StoredUpload]:
    """Oldest epoch first (lanes accept only increasing epochs); stable otherwise."""
    return sorted(uploads, key=lambda u: -1 if u.epoch is None else u.epoch)


def _with_open_copies(
    ordered: Sequence[StoredUpload], kinds: tuple[SlotKind, ...]
) -> list[StoredUpload]:
    """``ordered`` plus an open-slot copy of each lane body the open slot does not hold."""
    if SlotKind.OPEN not in kinds:
        return list(ordered)
    in_open = {hashlib.sha256(u.body).digest() for u in ordered if u.kind is SlotKind.OPEN}
    out = list(ordered)
    for upload in ordered:
        digest = hashlib.sha256(upload.body).digest()
        if upload.kind is SlotKind.LANE and digest not in in_open:
            in_open.add(digest)
            out.append(StoredUpload(upload.body, SlotKind.OPEN, epoch=upload.epoch))
    return _replay_order(out)


async def mirror_slot(
    client: InviteClient,
    source: str,
    destinations: Sequence[str],
    slot_id: bytes,
    *,
    kinds: tuple[SlotKind, ...] = (SlotKind.LANE, SlotKind.OPEN),
    lane_ids: Sequence[bytes] = (),
) -> SlotMirrorReport:
    """Copy one slot's retained uploads from ``source`` to every destination.

    ``lane_ids`` names the keyed lanes to copy (a lane id is public: the Ed25519 key the
    invite key derives; the service has no lane listing, so lanes must be named).
    """
    stored: list[StoredUpload] = []
    lanes = tuple(lane_ids) if SlotKind.LANE in kinds else ()
    try:
        for lane in lanes:
            stored.extend(await client.stored_uploads(source, slot_id, SlotKind.LANE, lane))
        if SlotKind.OPEN in kinds:
            stored.extend(await client.stored_uploads(source, slot_id, SlotKind.OPEN))
    except ClientError as exc:
        return SlotMirrorReport(slot_id, source, 0, error=exc.code, lanes=lanes)
    ordered = _with_open_copies(_replay_order(stored), kinds)

    async def to_one(dest: str) -> list[UploadResult]:
        present = await _present(client, dest, slot_id, lanes, kinds)
        results: list[UploadResult] = []
        for upload in ordered:
            digest = hashlib.sha256(upload.body).digest()
            if (upload.kind, upload.lane_id, digest) in present:
                results.append(UploadResult(dest, upload.kind, "present"))
                continue
            result = await client.replay(dest, slot_id, upload)
            if upload.kind is SlotKind.LANE and result.outcome == "stale":
                # The destination lane is already past this epoch: nothing to copy.
                result = replace(result, outcome="superseded", failure=None)
            results.append(result)
        return results

    per_dest = await asyncio.gather(*(to_one(d) for d in destinations))
    results = tuple(r for rs in per_dest for r in rs)
    return SlotMirrorReport(slot_id, source, len(stored), results, lanes=lanes)


async def mirror_slots(
    client: InviteClient,
    source: str,
    destinations: Sequence[str],
    slot_ids: Sequence[bytes],
    *,
    kinds: tuple[SlotKind, ...] = (SlotKind.LANE, SlotKind.OPEN),
    lane_ids: Sequence[bytes] = (),
    concurrency: int = 4,
    progress: Callable[[SlotMirrorReport], None] | None = None,
) -> list[SlotMirrorReport]:
    """Mirror many slots, at most ``concurrency`` at a time; ``progress`` sees each report."""
    gate = asyncio.Semaphore(max(1, concurrency))

    async def one(slot_id: bytes) -> SlotMirrorReport:
        async with gate:
            report = await mirror_slot(
                client, source, destinations, slot_id, kinds=kinds, lane_ids=lane_ids
            )
        if progress is not None:
            progress(report)
        return report

    return list(await asyncio.gather(*(one(s) for s in slot_ids)))


__all__ = [
    "SlotMirrorReport",
    "mirror_slot",
    "mirror_slots",
]

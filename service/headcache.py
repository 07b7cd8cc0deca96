"""The head cache: the first candidate of a slot, with its ready-made response headers.

An entry is valid while the store's change marker for the slot is unchanged and its blob is
still live; an expired hit wakes the GC. Bounded by ``head_cache_entries`` (oldest first
out); ``0`` disables it.
"""

from __future__ import annotations

from dataclasses import dataclass

from invitekit.protocol import BLOB_MEDIA_TYPE

from . import logs
from .admission import SlotAddress
from .state import ServiceState
from .storage import StoredBlob
from .wire import blob_headers


@dataclass(slots=True)
class HeadEntry:
    """The slot's first candidate (or ``None``) as of change ``marker``."""

    marker: int
    blob: StoredBlob | None
    headers: dict[str, str]


async def cached_head(state: ServiceState, address: SlotAddress) -> HeadEntry:
    """The slot's head, from the cache when still current."""
    key = (address.slot_id, address.lane_id)
    now = logs.now_ns()
    marker = state.store.change_marker(address)
    cached = state.head_cache.get(key)
    if cached is not None and cached.marker == marker:
        if cached.blob is None or cached.blob.meta.is_live(now):
            return cached
        state.wake_gc()
    found = await state.store.list_entries(address, now_ns=now, limit=1)
    blob = found[0] if found else None
    headers: dict[str, str] = {}
    if blob is not None:
        headers = blob_headers(blob)
        headers["Cache-Control"] = state.head_cache_control
        headers["Content-Type"] = BLOB_MEDIA_TYPE
    entry = HeadEntry(marker, blob, headers)
    if state.settings.head_cache_entries > 0:
        if len(state.head_cache) >= state.settings.head_cache_entries:
            state.head_cache.popitem(last=False)
        state.head_cache[key] = entry
    return entry


__all__ = ["HeadEntry", "cached_head"]

"""The head cache: the first candidate of a slot, with its ready-made response headers.

An entry holds the head's metadata, its response headers and, when it fits the cache's
per-entry bound, its body (the head handler fills an entry on a miss; a larger head's body is
streamed from the store). An entry is valid while the store's change marker
for the slot is unchanged and its blob is still live; an expired hit wakes the GC.
Invariant: the cache never holds more than ``max_entries`` entries nor more than
``max_bytes`` of blob bodies (least recently used out first); a body larger than an eighth
of ``max_bytes`` is not kept. ``0`` in either bound disables the cache.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from .storage import StoredBlob

CacheKey = tuple[bytes, bytes]
#: The budget account cache fills are charged to (shared, like the cache itself).
CACHE_FILL_CLIENT = "<head-cache>"


@dataclass(slots=True)
class HeadEntry:
    """The slot's first candidate (or ``None``) as of change ``marker``."""

    marker: int
    blob: StoredBlob | None
    headers: dict[str, str]

    @property
    def size(self) -> int:
        """Bytes of blob body this entry keeps alive."""
        return 0 if self.blob is None or self.blob.body is None else len(self.blob.body)


class HeadCache:
    """An LRU map of slot heads bounded in entries and in body bytes."""

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.bytes = 0
        self._entries: OrderedDict[CacheKey, HeadEntry] = OrderedDict()

    @property
    def entry_bound(self) -> int:
        """The largest body an entry may keep (0: the cache is off)."""
        if self.max_entries <= 0 or self.max_bytes <= 0:
            return 0
        return self.max_bytes // 8

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: CacheKey) -> HeadEntry | None:
        """The cached entry (marked most recently used), if any."""
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def put(self, key: CacheKey, entry: HeadEntry) -> None:
        """Keep ``entry`` unless it is too big; evict least recently used ones to fit."""
        self.discard(key)
        if self.max_entries <= 0 or self.max_bytes <= 0 or entry.size > self.entry_bound:
            return
        while self._entries and (
            len(self._entries) >= self.max_entries or self.bytes + entry.size > self.max_bytes
        ):
            _, old = self._entries.popitem(last=False)
            self.bytes -= old.size
        self._entries[key] = entry
        self.bytes += entry.size

    def discard(self, key: CacheKey) -> None:
        """Forget ``key``."""
        old = self._entries.pop(key, None)
        if old is not None:
            self.bytes -= old.size

    def clear(self) -> None:
        """Forget everything."""
        self._entries.clear()
        self.bytes = 0


__all__ = ["CACHE_FILL_CLIENT", "CacheKey", "HeadCache", "HeadEntry"]

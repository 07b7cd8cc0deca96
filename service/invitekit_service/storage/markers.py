"""Per-slot change counters the head cache keys on (``BlobStore.change_marker``).

A slot maps to one of :attr:`ChangeMarkers.BUCKETS` u64 buckets by CRC-32 of its ids.
Counters only grow, so a reader that saw value ``m`` before querying and sees ``m`` again
knows no change to that slot was announced in between. SQLite shares the buckets between
the processes of one host through a memory-mapped file; PostgreSQL keeps them in process
memory and bumps them from ``LISTEN``/``NOTIFY`` (see :mod:`invitekit_service.storage.postgres`).
"""

from __future__ import annotations

import fcntl
import mmap
import os
import zlib
from collections.abc import Iterable

from ..admission import SlotAddress


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
            # Allocated, never sparse: a write to a hole of a shared mapping needs a block,
            # and on a full disk that fault is a SIGBUS that kills the process.
            os.posix_fallocate(fd, 0, size)
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



__all__ = ["ChangeMarkers"]

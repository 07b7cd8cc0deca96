"""Upload bodies: a per-process bound on body bytes in flight, and a body read deadline.

Invariants: the bytes reserved for bodies being read never exceed ``limit`` (a body is
refused with 503 before a single byte of it is read when its reservation does not fit), every
reservation is returned when the read ends however it ends, and a body that does not arrive
within ``body_timeout_s`` is answered 408 and its connection closed.
"""

from __future__ import annotations

import asyncio
import ctypes
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from aiohttp import web

from invitekit.protocol import ProblemCode

from .problems import Problem

_CHUNK = 64 * 1024


def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim`` (hands freed heap memory back to the OS), if present."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        trim: Callable[[int], int] = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    return trim


class BodyBudget:
    """Bytes reserved by bodies being read in this process (never above ``limit``).

    When the last reservation is returned after at least ``trim_after`` bytes were in flight,
    freed memory is handed back to the OS (glibc keeps freed body buffers otherwise).
    """

    def __init__(self, limit: int, *, trim_after: int = 8 << 20) -> None:
        self.limit = limit
        self.in_flight = 0
        self.trim_after = trim_after
        self._high_water = 0
        self._trim = _malloc_trim()

    @contextmanager
    def reserve(self, size: int) -> Iterator[None]:
        """Hold ``size`` bytes for the body being read, or raise a 503 problem."""
        if self.in_flight + size > self.limit:
            raise Problem(
                ProblemCode.UNAVAILABLE,
                "too many upload bytes in flight",
                headers={"Retry-After": "1"},
                close=True,
            )
        self.in_flight += size
        self._high_water = max(self._high_water, self.in_flight)
        try:
            yield
        finally:
            self.in_flight -= size
            if self.in_flight == 0 and self._high_water >= self.trim_after:
                self._high_water = 0
                if self._trim is not None:
                    self._trim(0)


async def read_body(
    request: web.Request, budget: BodyBudget, *, max_bytes: int, timeout_s: float
) -> bytes:
    """The whole body: at most ``max_bytes`` (413), within ``timeout_s`` (408), in budget (503)."""
    declared = request.content_length
    if declared is not None and declared > max_bytes:
        raise Problem(ProblemCode.PAYLOAD_TOO_LARGE, close=True)
    with budget.reserve(max_bytes if declared is None else declared):
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(timeout_s):
                while chunk := await request.content.read(_CHUNK):
                    size += len(chunk)
                    if size > max_bytes:
                        raise Problem(ProblemCode.PAYLOAD_TOO_LARGE, close=True)
                    chunks.append(chunk)
        except TimeoutError:
            raise Problem(
                ProblemCode.REQUEST_TIMEOUT, "body not received in time", close=True
            ) from None
        return b"".join(chunks)


__all__ = ["BodyBudget", "read_body"]

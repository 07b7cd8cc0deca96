"""Upload bodies: a per-process bound on body bytes in flight, and a body read deadline.

Invariants: the bytes reserved for bodies being read never exceed ``limit`` (a body is
refused with 503 before a single byte of it is read when its reservation does not fit), every
reservation is returned when the read ends however it ends, and a body that does not arrive
within ``body_timeout_s`` is answered 408 and its connection closed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

from aiohttp import web

from invitekit.protocol import ProblemCode

from .problems import Problem

_CHUNK = 64 * 1024


class BodyBudget:
    """Bytes reserved by bodies being read in this process (never above ``limit``)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_flight = 0

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
        try:
            yield
        finally:
            self.in_flight -= size


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

"""Upload bodies: read under the body budget, with a size cap and a read deadline.

Invariants: a body's reservation (its declared size, else ``max_body_bytes``) is taken from
the process's body budget (:class:`~.budgets.SharedBudget` with ``what="body"``: per-client
and per-network shares, 429 ``client-body-bytes`` / ``network-body-bytes`` past a share, 503
past the bound) before a single byte of it is read, and returned when the read ends however
it ends; refusals close the connection. A body larger than ``max_bytes`` is 413, and one that
does not arrive within ``timeout_s`` is answered 408 and its connection closed.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from invitekit.protocol import ProblemCode

from .budgets import SharedBudget
from .problems import Problem

_CHUNK = 64 * 1024
#: Freed body buffers are handed back to the OS once this much was in flight.
_TRIM_AFTER = 8 << 20


def body_budget(
    limit: int, *, client_share: float, network_share: float, max_body: int
) -> SharedBudget:
    """The process's upload-body budget; a client's share is never below one body of
    ``max_body`` (else it could not upload at all)."""
    return SharedBudget.shares(
        limit,
        what="body",
        client_share=client_share,
        network_share=network_share,
        client_floor=max_body,
        close=True,
        trim_after=_TRIM_AFTER,
    )


async def read_body(
    request: web.Request,
    budget: SharedBudget,
    *,
    client: str,
    max_bytes: int,
    timeout_s: float,
) -> bytes:
    """The whole body: at most ``max_bytes`` (413), within ``timeout_s`` (408), within
    ``client``'s shares (429) and the budget (503)."""
    declared = request.content_length
    if declared is not None and declared > max_bytes:
        raise Problem(ProblemCode.PAYLOAD_TOO_LARGE, close=True)
    with budget.reserve(max_bytes if declared is None else declared, client):
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


__all__ = ["body_budget", "read_body"]

"""Response bodies: streamed from storage in chunks, under a per-process budget with
per-client shares.

Invariants:

* No response holds a whole blob it did not already share with the head cache: a body is
  read from the store one :data:`CHUNK` at a time (SQLite incremental blob I/O, PostgreSQL
  ``substring`` over the TOASTed column) and written with back-pressure (``write`` waits for
  the socket to drain), so a response keeps at most about one chunk in memory however slowly
  its client reads. Cached head bodies are written in the same chunks, as views of the
  cached bytes (a whole-body write would be copied into the transport's buffer, once per
  slow reader; a copy per chunk would be per-byte work on every cache hit).
* Every response that carries blob bytes, or that is built in memory (a metadata listing),
  reserves its in-memory size — one chunk for a streamed body, the encoded size for a built
  one — from the response budget (:func:`response_budget`, a :class:`~.budgets.SharedBudget`)
  before its first byte, and returns it when it ends, however it ends. Bookkeeping is
  constant per request (one reservation), never per byte.
* The budget's ``limit`` bounds the process; one client (an address, an IPv6 /64) holds at
  most ``client_share`` of it and one network (IPv4 /24, IPv6 /48) ``network_share``. Past a
  share a client is answered 429 ``rate-limited`` (scope ``client-response-bytes`` /
  ``network-response-bytes``); at the process bound, 503 ``unavailable`` — both with
  ``Retry-After: 1``, never a 5xx of another kind.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

from aiohttp import web

from invitekit.protocol import BLOB_MEDIA_TYPE, JSON_MEDIA_TYPE, ProblemCode, encode_json

from .admission import EntryMeta
from .budgets import SharedBudget
from .problems import Problem
from .storage import BlobStore

#: Bytes read from the store and written per step: a multiple of 3, so base64 of a chunk
#: never needs padding in the middle of a streamed listing.
CHUNK = 3 * 64 * 1024


class BodyGone(Exception):
    """The entry was deleted (evicted, collected) between its listing and its read."""


def response_budget(limit: int, *, client_share: float, network_share: float) -> SharedBudget:
    """The process's response budget; a client's share is never below two chunks (one
    streamed listing's worth)."""
    return SharedBudget.shares(
        limit,
        what="response",
        client_share=client_share,
        network_share=network_share,
        client_floor=2 * CHUNK,
    )


async def body_chunks(
    store: BlobStore, meta: EntryMeta, body: bytes | None, *, first: bytes | None = None
) -> AsyncIterator[bytes | memoryview]:
    """The body of ``meta`` in chunks: views of ``body`` when it is in memory already (not
    copies), else reads from the store (``first``: the first chunk, already read)."""
    if body is not None:
        view = memoryview(body)
        for start in range(0, len(view), CHUNK):
            yield view[start : start + CHUNK]
        return
    offset = 0
    while offset < meta.size:
        chunk = first if offset == 0 and first is not None else None
        if chunk is None:
            chunk = await store.read_body_chunk(meta.seq, offset, CHUNK)
        if not chunk:
            raise BodyGone
        offset += len(chunk)
        yield chunk


async def first_chunk(store: BlobStore, meta: EntryMeta, body: bytes | None) -> bytes | None:
    """The first chunk of a body not in memory, read before the answer is committed to (a
    body gone by then is a 404, not a truncated 200); ``None`` when ``body`` is given."""
    if body is not None or meta.size == 0:
        return None
    chunk = await store.read_body_chunk(meta.seq, 0, CHUNK)
    if not chunk:
        raise Problem(ProblemCode.NOT_FOUND, "no live blob with that content address")
    return chunk


def _abort(request: web.Request) -> None:
    """End a response whose body can no longer be completed: close the connection, so the
    client sees a truncated body (and a content-address mismatch), never wrong bytes."""
    if request.transport is not None:
        request.transport.close()


async def stream_blob(
    request: web.Request,
    budget: SharedBudget,
    client: str,
    store: BlobStore,
    meta: EntryMeta,
    body: bytes | None,
    headers: dict[str, str],
) -> web.StreamResponse:
    """Answer 200 with one blob body, streamed, under the response budget."""
    with budget.reserve(min(meta.size, CHUNK), client):
        first = None if request.method == "HEAD" else await first_chunk(store, meta, body)
        response = web.StreamResponse(headers=headers)
        response.content_type = BLOB_MEDIA_TYPE
        response.content_length = meta.size
        await response.prepare(request)
        if request.method == "HEAD":
            await response.write_eof()
            return response
        try:
            async for chunk in body_chunks(store, meta, body, first=first):
                await response.write(chunk)
            await response.write_eof()
        except BodyGone:
            _abort(request)
        except ConnectionError:
            pass  # the client went away; nothing left to answer
    return response


async def stream_inline_listing(
    request: web.Request,
    budget: SharedBudget,
    client: str,
    store: BlobStore,
    head: dict[str, object],
    items: list[tuple[dict[str, object], EntryMeta]],
    headers: dict[str, str],
) -> web.StreamResponse:
    """Answer 200 with a listing whose items carry their bodies (``bodies=inline``, the
    form older clients read), written item by item and body chunk by chunk: the JSON is
    never assembled, so a listing of a full slot costs about one chunk of memory. An item
    whose body is gone before its first byte is written is left out; one gone mid-body (a
    body above one chunk) ends the connection short, never with wrong bytes."""
    total = sum(meta.size for _, meta in items)
    with budget.reserve(2 * min(total, CHUNK) + 1024, client):
        response = web.StreamResponse(headers=headers)
        response.content_type = JSON_MEDIA_TYPE
        await response.prepare(request)
        if request.method == "HEAD":
            await response.write_eof()
            return response
        try:
            await response.write(encode_json(head)[:-1] + b',"items":[')
            written = 0
            for meta_json, meta in items:
                # Read before the item is begun: a body gone since the listing (evicted by a
                # newer upload, collected) leaves its item out — the listing a moment later —
                # instead of cutting the whole answer short.
                first = await store.read_body_chunk(meta.seq, 0, CHUNK) if meta.size else b""
                if meta.size and not first:
                    continue
                prefix = b"," if written else b""
                await response.write(prefix + encode_json(meta_json)[:-1] + b',"blob":"')
                async for chunk in body_chunks(store, meta, None, first=first or None):
                    await response.write(base64.urlsafe_b64encode(chunk).rstrip(b"="))
                await response.write(b'"}')
                written += 1
            await response.write(b"]}")
            await response.write_eof()
        except BodyGone:
            _abort(request)
        except ConnectionError:
            pass
    return response


def built_response(
    budget: SharedBudget,
    client: str,
    status: int,
    body: dict[str, object],
    headers: dict[str, str],
) -> web.Response:
    """A small JSON response built in memory, admitted by the budget for its size (its
    memory is handed to the transport at once, so the reservation ends here)."""
    encoded = encode_json(body)
    with budget.reserve(len(encoded), client):
        return web.Response(
            status=status, body=encoded, content_type=JSON_MEDIA_TYPE, headers=headers
        )


__all__ = [
    "CHUNK",
    "BodyGone",
    "body_chunks",
    "built_response",
    "first_chunk",
    "response_budget",
    "stream_blob",
    "stream_inline_listing",
]

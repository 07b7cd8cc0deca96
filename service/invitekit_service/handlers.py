"""Route handlers: one :class:`Handlers` per slot kind (lane and open share the code), and the
operational routes. Handlers raise :class:`~invitekit_service.problems.Problem` (or the protocol's
:class:`~invitekit.protocol.InvalidRequest`) for every refusal; the edge middleware answers.

A 2xx upload answer is sent only after the store's transaction committed.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from invitekit.envelope import parse_envelope
from invitekit.errors import InvalidDigestLength, InviteKitError
from invitekit.lane import verify_upload_digest
from invitekit.protocol import (
    BLOB_MEDIA_TYPE,
    JSON_MEDIA_TYPE,
    SIGNATURE_CHALLENGE,
    SIGNATURE_HEADER,
    CandidateListing,
    InvalidRequest,
    ListingBodies,
    Presence,
    PresenceItem,
    ProblemCode,
    SlotKind,
    UploadReceipt,
    blob_location,
    etag_matches,
    etag_of,
    parse_bodies_query,
    parse_signature_header,
)

from . import logs
from .admission import Outcome, SlotAddress, Upload
from .bodies import read_body
from .headcache import CACHE_FILL_CLIENT, HeadEntry
from .problems import Problem
from .requests import content_address, listing_limit, match_filter, slot_address
from .responses import BodyGone, body_chunks, built_response, stream_blob, stream_inline_listing
from .state import STATE_KEY, ServiceState
from .storage import StorageUnavailable, StoredBlob
from .wire import blob_headers, blob_records, head_ref, json_response

IMMUTABLE_MAX_AGE = 31_536_000
_REFUSED = {
    Outcome.STALE: ProblemCode.STALE,
    Outcome.FORK: ProblemCode.FORK,
    Outcome.EXPIRED: ProblemCode.EXPIRED,
}


class Handlers:
    """Route handlers for one slot kind."""

    def __init__(self, kind: SlotKind) -> None:
        self.kind = kind

    @staticmethod
    def _state(request: web.Request) -> ServiceState:
        return request.app[STATE_KEY]

    async def _read_gate(self, request: web.Request, state: ServiceState) -> SlotAddress:
        address = slot_address(request, self.kind, state)
        if state.limits is not None:
            await state.limits.client_read(state.client_of(request))
        return address

    async def upload_post(self, request: web.Request) -> web.StreamResponse:
        """POST …/blobs: admit the body."""
        return await self._upload(request, None)

    async def upload_put(self, request: web.Request) -> web.StreamResponse:
        """PUT …/blobs/{sha256}: admit the body if it hashes to the URL."""
        return await self._upload(request, content_address(request))

    @staticmethod
    def _signature_header(request: web.Request) -> bytes:
        """The lane upload's signature header, decoded (401 when absent, 403 when garbled)."""
        try:
            return parse_signature_header(request.headers.get(SIGNATURE_HEADER))
        except InvalidRequest as exc:
            if exc.problem is ProblemCode.MISSING_SIGNATURE:
                raise Problem(
                    exc.problem, headers={"WWW-Authenticate": SIGNATURE_CHALLENGE}
                ) from None
            raise

    async def _upload(self, request: web.Request, expected: bytes | None) -> web.StreamResponse:
        """Admit one upload. Order (SPEC "Uploads"): the client's own budget, syntax, size,
        signature, blob parse, and only then the slot's shared budgets — so a request that
        fails any check (an unsigned lane POST above all) never spends another writer's share.
        """
        state = self._state(request)
        settings = state.settings
        client = state.client_of(request)
        if state.limits is not None:
            await state.limits.client_write(client)
        address = slot_address(request, self.kind, state)
        if request.content_type != BLOB_MEDIA_TYPE:  # no Content-Type reads as octet-stream
            raise Problem(ProblemCode.UNSUPPORTED_MEDIA_TYPE, close=True)
        length = request.content_length
        if length is not None and length > settings.max_body_bytes:
            raise Problem(ProblemCode.PAYLOAD_TOO_LARGE, close=True)
        signature: bytes | None = None
        if self.kind is SlotKind.LANE:
            signature = self._signature_header(request)
        body = await read_body(
            request,
            state.bodies,
            client=client,
            max_bytes=settings.max_body_bytes,
            timeout_s=settings.body_timeout_s,
        )
        state.metrics.bytes_in.inc((), len(body))
        sha256 = hashlib.sha256(body).digest()
        if expected is not None and sha256 != expected:
            raise Problem(ProblemCode.CONTENT_ADDRESS_MISMATCH)
        if signature is not None and not verify_upload_digest(
            address.lane_id, address.slot_id, sha256, signature
        ):
            raise Problem(ProblemCode.BAD_SIGNATURE)
        try:
            parsed = parse_envelope(body, max_bytes=settings.max_body_bytes)
            if len(parsed.blob.group_state_hash) not in settings.digest_lengths:
                raise InvalidDigestLength("digest length not accepted by this service")
        except InviteKitError as exc:
            raise Problem(
                ProblemCode.INVALID_BLOB,
                "body is not an acceptable blob",
                extra={"code": exc.code},
            ) from None
        if state.limits is not None:
            await state.limits.slot_client_write(address.tag, client)
            await state.limits.slot_write(address.tag)
            await state.limits.write_bytes(address.tag, client, len(body))
        now = logs.now_ns()
        upload = Upload.from_blob(
            body, parsed.blob, sha256=sha256, signature=signature, received_ns=now
        )
        result = await state.store.admit(address, upload, state.policy(self.kind), now)
        state.metrics.uploads.inc((self.kind.value, result.outcome.value))
        head = head_ref(result.head)
        head_json = None if head is None else head.to_json()
        refused = _REFUSED.get(result.outcome)
        if refused is ProblemCode.EXPIRED:
            raise Problem(refused)
        if refused is not None:
            raise Problem(refused, extra={"head": head_json})
        entry = result.entry
        assert entry is not None
        location = blob_location(request.path, entry.sha256)
        receipt = UploadReceipt(
            outcome=result.outcome.value,
            kind=self.kind,
            sha256=entry.sha256,
            epoch=entry.epoch,
            group_state_hash=entry.group_state_hash,
            expires_at_ns=entry.expires_at_ns,
            location=location,
            head=head,
        )
        status = 201 if result.outcome is Outcome.CREATED else 200
        headers = {"ETag": etag_of(entry.sha256), "Cache-Control": "no-store"}
        if status == 201:
            headers["Location"] = location
        return json_response(status, receipt.to_json(), headers)

    async def head(self, request: web.Request) -> web.StreamResponse:
        """GET …/head: the first candidate as raw bytes, cacheable, with ETag (streamed)."""
        state = self._state(request)
        address = await self._read_gate(request, state)
        entry = await _cached_head(state, address)
        if entry.blob is None:
            state.count_fetch(self.kind, "head", "404")
            raise Problem(ProblemCode.NOT_FOUND, "slot holds no live blob")
        etag = entry.headers["ETag"]
        if etag_matches(request.headers.get("If-None-Match"), etag):
            state.count_fetch(self.kind, "head", "304")
            return web.Response(
                status=304,
                headers={"ETag": etag, "Cache-Control": state.head_cache_control},
            )
        state.count_fetch(self.kind, "head", "200")
        blob = entry.blob
        state.metrics.bytes_out.inc((), blob.meta.size)
        return await stream_blob(
            request, state.responses, state.client_of(request), state.store, blob.meta,
            blob.body, entry.headers,
        )

    async def list_blobs(self, request: web.Request) -> web.StreamResponse:
        """GET …/blobs: the candidate set (optionally only one (epoch, hash) pair).

        ``bodies=omit``: metadata only (bodies are fetched by content address); otherwise
        (the form every client before the parameter reads) each item carries its blob,
        streamed from the store while the listing is written.
        """
        state = self._state(request)
        address = await self._read_gate(request, state)
        match = match_filter(request, required=False)
        limit = listing_limit(request, state, self.kind)
        bodies = parse_bodies_query(request.query)
        now = logs.now_ns()
        items = await state.store.list_entries(
            address, now_ns=now, limit=limit, match=match, with_body=False
        )
        digest = hashlib.sha256(b"" if bodies is ListingBodies.INLINE else b"omit")
        for item in items:
            digest.update(item.meta.sha256)
        etag = f'"{digest.hexdigest()}"'
        cache = {"ETag": etag, "Cache-Control": state.head_cache_control}
        route = "lookup" if match is not None else "candidates"
        if etag_matches(request.headers.get("If-None-Match"), etag):
            state.count_fetch(self.kind, route, "304")
            return web.Response(status=304, headers=cache)
        listing = CandidateListing(
            kind=self.kind,
            slot_id=address.slot_id,
            lane_id=address.lane_id or None,
            items=blob_records(items),
        )
        state.count_fetch(self.kind, route, "200")
        client = state.client_of(request)
        if bodies is ListingBodies.OMIT:
            return built_response(state.responses, client, 200, listing.to_json(), cache)
        state.metrics.bytes_out.inc((), sum(item.meta.size for item in items))
        return await stream_inline_listing(
            request,
            state.responses,
            client,
            state.store,
            listing.head_json(),
            [
                (record.meta_json(), item.meta)
                for record, item in zip(listing.items, items, strict=True)
            ],
            cache,
        )

    async def get_blob(self, request: web.Request) -> web.StreamResponse:
        """GET/HEAD …/blobs/{sha256}: one retained blob by content address (immutable,
        strong ETag, cacheable until it expires; the body streamed from the store)."""
        state = self._state(request)
        address = await self._read_gate(request, state)
        sha256 = content_address(request)
        now = logs.now_ns()
        blob = await state.store.get_by_sha256(address, sha256, now_ns=now, with_body=False)
        if blob is None:
            state.count_fetch(self.kind, "blob", "404")
            raise Problem(ProblemCode.NOT_FOUND, "no live blob with that content address")
        headers = blob_headers(blob)
        remaining = IMMUTABLE_MAX_AGE
        if blob.meta.expires_at_ns:
            remaining = min(remaining, max(0, (blob.meta.expires_at_ns - now) // 1_000_000_000))
        headers["Cache-Control"] = f"public, max-age={remaining}, immutable"
        if etag_matches(request.headers.get("If-None-Match"), headers["ETag"]):
            state.count_fetch(self.kind, "blob", "304")
            return web.Response(
                status=304,
                headers={"ETag": headers["ETag"], "Cache-Control": headers["Cache-Control"]},
            )
        state.count_fetch(self.kind, "blob", "200")
        if request.method == "HEAD":
            headers["Content-Length"] = str(blob.meta.size)
            return web.Response(headers=headers, content_type=BLOB_MEDIA_TYPE)
        state.metrics.bytes_out.inc((), blob.meta.size)
        return await stream_blob(
            request, state.responses, state.client_of(request), state.store, blob.meta,
            None, headers,
        )

    async def presence(self, request: web.Request) -> web.StreamResponse:
        """GET …/presence: does the slot hold a live blob advertising (epoch, hash)?"""
        state = self._state(request)
        address = await self._read_gate(request, state)
        match = match_filter(request, required=True)
        now = logs.now_ns()
        found = await state.store.list_entries(
            address,
            now_ns=now,
            limit=state.settings.max_candidates,
            match=match,
            with_body=False,
        )
        state.count_fetch(self.kind, "presence", "200")
        presence = Presence(
            tuple(PresenceItem(item.meta.sha256, item.meta.nonce) for item in found)
        )
        return json_response(200, presence.to_json(), {"Cache-Control": "no-cache"})


async def _cached_head(state: ServiceState, address: SlotAddress) -> HeadEntry:
    """The slot's head, from the head cache when still current; a miss reads the store and
    fills the entry (see :mod:`invitekit_service.headcache` for the cache's bounds)."""
    key = (address.slot_id, address.lane_id)
    now = logs.now_ns()
    marker = state.store.change_marker(address)
    cached = state.head_cache.get(key)
    if cached is not None and cached.marker == marker:
        if cached.blob is None or cached.blob.meta.is_live(now):
            return cached
        state.wake_gc()
    blob = await state.store.head_entry(address, now_ns=now)
    if (
        blob is not None
        and blob.body is None
        and 0 < blob.meta.size <= state.head_cache.entry_bound
    ):
        try:
            body = await _read_whole(state, blob)
        except Problem:
            body = b""  # no room in the response budget to fill: stream this one instead
        if body is None:
            blob = None  # deleted since its metadata was read: as a read a moment later
        elif body:
            blob = StoredBlob(blob.meta, body)
    headers: dict[str, str] = {}
    if blob is not None:
        headers = blob_headers(blob)
        headers["Cache-Control"] = state.head_cache_control
        headers["Content-Type"] = BLOB_MEDIA_TYPE
    entry = HeadEntry(marker, blob, headers)
    state.head_cache.put(key, entry)
    return entry


async def _read_whole(state: ServiceState, blob: StoredBlob) -> bytes | None:
    """A cacheable head's body, read in chunks under the response budget (it is built in
    memory once, then shared by every response that hits the entry). ``None``: gone;
    :class:`Problem` when the budget has no room."""
    with state.responses.reserve(blob.meta.size, CACHE_FILL_CLIENT):
        parts: list[bytes | memoryview] = []
        try:
            async for chunk in body_chunks(state.store, blob.meta, None):
                parts.append(chunk)
        except BodyGone:
            return None
        return b"".join(parts)


async def healthz(request: web.Request) -> web.StreamResponse:
    """Liveness: the process answers."""
    return json_response(200, {"status": "ok"}, {"Cache-Control": "no-store"})


async def readyz(request: web.Request) -> web.StreamResponse:
    """Readiness: the store answers within 5 s."""
    state = request.app[STATE_KEY]
    try:
        await asyncio.wait_for(state.store.check_ready(), timeout=5)
    except (StorageUnavailable, TimeoutError) as exc:
        raise Problem(ProblemCode.UNAVAILABLE, headers={"Retry-After": "1"}) from exc
    return json_response(200, {"status": "ready"}, {"Cache-Control": "no-store"})


async def metrics(request: web.Request) -> web.StreamResponse:
    """The Prometheus exposition of every worker (401 without the bearer token, if set)."""
    state = request.app[STATE_KEY]
    token = state.metrics_token
    if token is not None:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode(), token.encode()
        ):
            raise Problem(
                ProblemCode.UNAUTHORIZED, headers={"WWW-Authenticate": 'Bearer realm="metrics"'}
            )
    body = state.metrics.exposition()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def openapi(request: web.Request) -> web.StreamResponse:
    """The OpenAPI document as JSON."""
    state = request.app[STATE_KEY]
    return web.Response(
        body=state.openapi_json,
        content_type=JSON_MEDIA_TYPE,
        headers={"Cache-Control": "public, max-age=300"},
    )


__all__ = ["Handlers", "healthz", "metrics", "openapi", "readyz"]

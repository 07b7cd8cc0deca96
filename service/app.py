"""The aiohttp application: routes, the problem/metrics/log middleware, GC and caching.

Invariants:

* every response to a request that reaches the application is either a success documented
  in ``spec/openapi.yaml`` or an RFC 9457 problem — an unexpected exception becomes a
  problem+json 500 in :func:`_edge_middleware`, never a bare traceback;
* a 2xx upload answer is sent only after the store's transaction committed (fsync);
* logs and metric labels carry route templates and slot *tags*, never ids, keys or bodies.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from invitekit.blob import parse_blob
from invitekit.errors import InvalidDigestLength, InviteKitError
from invitekit.expiry import U64_MAX
from invitekit.lane import (
    LANE_ID_LENGTH,
    MAX_SLOT_ID_LENGTH,
    MIN_SLOT_ID_LENGTH,
    SIGNATURE_LENGTH,
    verify_upload_digest,
)

from . import logs
from .admission import AdmissionPolicy, Head, Outcome, SlotAddress, SlotKind, Upload
from .config import Settings
from .metrics import Metrics
from .problems import Problem, http_exception_problem, problem_response
from .ratelimit import RateLimits
from .storage import BlobStore, StorageUnavailable, StoredBlob, open_store

BLOB_MEDIA_TYPE = "application/octet-stream"
SIGNATURE_HEADER = "Invitekit-Signature"
IMMUTABLE_MAX_AGE = 31_536_000
_B64URL = re.compile(r"^[A-Za-z0-9_-]*$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_DECIMAL = re.compile(r"^[0-9]{1,20}$")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

SETTINGS_KEY = web.AppKey("settings", Settings)
STATE_KEY: web.AppKey[ServiceState] = web.AppKey("state")
ADDRESS_KEY: web.RequestKey[SlotAddress] = web.RequestKey("address", SlotAddress)


def b64url(data: bytes) -> str:
    """Unpadded base64url text."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def parse_b64url(text: str) -> bytes | None:
    """Strict unpadded base64url (canonical encodings only), or ``None``."""
    if len(text) % 4 == 1 or not _B64URL.match(text):
        return None
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
    return raw if b64url(raw) == text else None


@dataclass(slots=True)
class _HeadEntry:
    marker: int
    blob: StoredBlob | None
    headers: dict[str, str]


class ServiceState:
    """Per-process runtime state shared by the handlers."""

    def __init__(self, settings: Settings, store: BlobStore, *, run_gc: bool) -> None:
        self.settings = settings
        self.store = store
        self.metrics = Metrics()
        self.logger = logs.configure(settings.log_level)
        self.limits = (
            RateLimits(
                settings.client_read_limit, settings.client_write_limit, settings.slot_write_limit
            )
            if settings.rate_limits_enabled
            else None
        )
        self.run_gc = run_gc
        self.head_cache: dict[tuple[bytes, bytes], _HeadEntry] = {}
        self.addresses: dict[tuple[str, str, SlotKind], SlotAddress] = {}
        self._fetch_children: dict[tuple[str, str, str], Any] = {}
        self._latency_children: dict[tuple[str, str], Any] = {}
        self.gc_wake = asyncio.Event()
        self.gc_task: asyncio.Task[None] | None = None
        self.openapi_json: bytes = _load_openapi(settings.openapi_path)
        self.head_cache_control = (
            f"public, max-age={settings.head_max_age_s}, "
            f"stale-while-revalidate={settings.head_stale_while_revalidate_s}"
        )

    def policy(self, kind: SlotKind) -> AdmissionPolicy:
        """The admission policy of a slot kind."""
        return self.settings.lane_policy if kind is SlotKind.LANE else self.settings.open_policy

    def client_of(self, request: web.Request) -> str:
        """The rate-limit identity of a request: its peer address (or X-Forwarded-For)."""
        if self.settings.trust_forwarded_for:
            forwarded = request.headers.get("X-Forwarded-For", "")
            first = forwarded.split(",", 1)[0].strip()
            if first:
                return first
        return request.remote or "unknown"

    def count_fetch(self, kind: SlotKind, route: str, status: str) -> None:
        """Increment the fetch counter (label children are cached: this is the hot path)."""
        key = (kind.value, route, status)
        child = self._fetch_children.get(key)
        if child is None:
            child = self._fetch_children[key] = self.metrics.fetches.labels(*key)
        child.inc()

    def observe_latency(self, route: str, method: str, seconds: float) -> None:
        """Record one request's latency."""
        key = (route, method)
        child = self._latency_children.get(key)
        if child is None:
            child = self._latency_children[key] = self.metrics.latency.labels(*key)
        child.observe(seconds)

    def wake_gc(self) -> None:
        """Ask the GC loop to run soon (a read saw an expired blob)."""
        self.gc_wake.set()


def _default_openapi_path() -> Path:
    return Path(__file__).resolve().parent.parent / "spec" / "openapi.yaml"


def _load_openapi(path: Path | None) -> bytes:
    source = path or _default_openapi_path()
    try:
        document = yaml.safe_load(source.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        document = {"openapi": "3.1.0", "info": {"title": "invitekit blob service", "version": "?"}}
    return json.dumps(document, separators=(",", ":")).encode()


# --- request parsing -----------------------------------------------------------------


def _address(request: web.Request, kind: SlotKind, state: ServiceState) -> SlotAddress:
    info = request.match_info
    key = (info.get("slot", ""), info.get("lane", ""), kind)
    address = state.addresses.get(key)
    if address is None:
        address = _parse_address(request, kind)
        if len(state.addresses) >= 50_000:
            state.addresses.clear()
        state.addresses[key] = address
    request[ADDRESS_KEY] = address
    return address


def _parse_address(request: web.Request, kind: SlotKind) -> SlotAddress:
    slot_text = request.match_info.get("slot", "")
    slot_id = parse_b64url(slot_text)
    if slot_id is None or not MIN_SLOT_ID_LENGTH <= len(slot_id) <= MAX_SLOT_ID_LENGTH:
        raise Problem(400, "invalid-slot-id")
    lane_id = b""
    if kind is SlotKind.LANE:
        parsed = parse_b64url(request.match_info.get("lane", ""))
        if parsed is None or len(parsed) != LANE_ID_LENGTH:
            raise Problem(400, "invalid-lane-id")
        lane_id = parsed
    return SlotAddress(slot_id, kind, lane_id)


def _content_address(request: web.Request) -> bytes:
    text = request.match_info.get("sha256", "")
    if not _HEX64.match(text):
        raise Problem(400, "invalid-content-address")
    return bytes.fromhex(text)


def _query_int(request: web.Request, name: str) -> int | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    if not _DECIMAL.match(raw) or int(raw) > U64_MAX:
        raise Problem(400, "invalid-query", f"{name} must be a decimal uint64")
    return int(raw)


def _match(request: web.Request, *, required: bool) -> Head | None:
    epoch = _query_int(request, "epoch")
    digest_text = request.query.get("group_state_hash")
    if epoch is None and digest_text is None:
        if required:
            raise Problem(400, "invalid-query", "epoch and group_state_hash are required")
        return None
    if epoch is None or digest_text is None:
        raise Problem(400, "invalid-query", "give both epoch and group_state_hash, or neither")
    digest = parse_b64url(digest_text)
    if digest is None or len(digest) not in (32, 48, 64):
        raise Problem(400, "invalid-query", "group_state_hash must be a base64url digest")
    return Head(epoch, digest)


def _limit(request: web.Request, state: ServiceState, kind: SlotKind) -> int:
    cap = state.settings.max_candidates
    default = min(cap, state.policy(kind).retention)
    raw = request.query.get("limit")
    if raw is None:
        return default
    if not _DECIMAL.match(raw) or not 1 <= int(raw) <= cap:
        raise Problem(400, "invalid-query", f"limit must be 1..{cap}")
    return int(raw)


def _etag(sha256: bytes) -> str:
    return f'"{sha256.hex()}"'


def _etag_matches(header: str | None, etag: str) -> bool:
    """RFC 9110 If-None-Match (weak comparison)."""
    if not header:
        return False
    if header.strip() == "*":
        return True
    for part in header.split(","):
        tag = part.strip()
        if tag.startswith("W/"):
            tag = tag[2:]
        if tag == etag:
            return True
    return False


def _blob_headers(blob: StoredBlob) -> dict[str, str]:
    meta = blob.meta
    headers = {
        "ETag": _etag(meta.sha256),
        "Invitekit-Epoch": str(meta.epoch),
        "Invitekit-Group-State-Hash": b64url(meta.group_state_hash),
        "Invitekit-Expires-At-Ns": str(meta.expires_at_ns),
        "X-Content-Type-Options": "nosniff",
    }
    if meta.signature is not None:
        headers[SIGNATURE_HEADER] = b64url(meta.signature)
    return headers


def _item_json(blob: StoredBlob) -> dict[str, Any]:
    meta = blob.meta
    return {
        "sha256": meta.sha256.hex(),
        "epoch": meta.epoch,
        "group_state_hash": b64url(meta.group_state_hash),
        "expires_at_ns": meta.expires_at_ns,
        "size": meta.size,
        "signature": None if meta.signature is None else b64url(meta.signature),
        "blob": b64url(blob.body or b""),
    }


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps(body, separators=(",", ":")).encode(),
        content_type="application/json",
        headers=headers,
    )


def _head_json(head: Head | None) -> dict[str, Any] | None:
    if head is None:
        return None
    return {"epoch": head.epoch, "group_state_hash": b64url(head.group_state_hash)}


def _blob_url(request: web.Request, sha256: bytes) -> str:
    base = request.path
    marker = "/blobs"
    cut = base.find(marker)
    prefix = base[:cut] if cut >= 0 else base.rsplit("/", 1)[0]
    return f"{prefix}/blobs/{sha256.hex()}"


# --- handlers ------------------------------------------------------------------------


class Handlers:
    """Route handlers for one slot kind (the lane and open route trees share the code)."""

    def __init__(self, kind: SlotKind) -> None:
        self.kind = kind

    @staticmethod
    def _state(request: web.Request) -> ServiceState:
        return request.app[STATE_KEY]

    def _read_gate(self, request: web.Request, state: ServiceState) -> SlotAddress:
        address = _address(request, self.kind, state)
        if state.limits is not None:
            state.limits.client_read(state.client_of(request))
        return address

    async def upload_post(self, request: web.Request) -> web.StreamResponse:
        """POST …/blobs: admit the body."""
        return await self._upload(request, None)

    async def upload_put(self, request: web.Request) -> web.StreamResponse:
        """PUT …/blobs/{sha256}: admit the body if it hashes to the URL."""
        return await self._upload(request, _content_address(request))

    async def _upload(self, request: web.Request, expected: bytes | None) -> web.StreamResponse:
        state = self._state(request)
        address = _address(request, self.kind, state)
        if state.limits is not None:
            state.limits.client_write(state.client_of(request))
            state.limits.slot_write(address.tag)
        length = request.content_length
        if length is not None and length > state.settings.max_body_bytes:
            raise Problem(413, "payload-too-large")
        body = await request.read()
        if len(body) > state.settings.max_body_bytes:
            raise Problem(413, "payload-too-large")
        state.metrics.bytes_in.inc(len(body))
        sha256 = hashlib.sha256(body).digest()
        if expected is not None and sha256 != expected:
            raise Problem(400, "content-address-mismatch")
        signature: bytes | None = None
        if self.kind is SlotKind.LANE:
            header = request.headers.get(SIGNATURE_HEADER)
            if not header:
                raise Problem(
                    401,
                    "missing-signature",
                    headers={"WWW-Authenticate": 'Invitekit-Lane-Signature realm="lane"'},
                )
            signature = parse_b64url(header.strip())
            if (
                signature is None
                or len(signature) != SIGNATURE_LENGTH
                or not verify_upload_digest(address.lane_id, address.slot_id, sha256, signature)
            ):
                raise Problem(403, "bad-signature")
        try:
            parsed = parse_blob(body, max_bytes=state.settings.max_body_bytes)
            if len(parsed.blob.group_state_hash) not in state.settings.digest_lengths:
                raise InvalidDigestLength("digest length not accepted by this service")
        except InviteKitError as exc:
            raise Problem(
                400, "invalid-blob", "body is not an acceptable blob", extra={"code": exc.code}
            ) from None
        now = logs.now_ns()
        upload = Upload.from_blob(
            body, parsed.blob, sha256=sha256, signature=signature, received_ns=now
        )
        result = await state.store.admit(address, upload, state.policy(self.kind), now)
        state.metrics.uploads.labels(self.kind.value, result.outcome.value).inc()
        head = _head_json(result.head)
        if result.outcome is Outcome.STALE or result.outcome is Outcome.FORK:
            raise Problem(409, result.outcome.value, extra={"head": head})
        if result.outcome is Outcome.EPOCH_JUMP:
            raise Problem(
                422,
                "epoch-jump",
                f"epoch jump above {state.policy(self.kind).max_epoch_jump} refused",
                extra={"head": head},
            )
        if result.outcome is Outcome.EXPIRED:
            raise Problem(422, "expired")
        entry = result.entry
        assert entry is not None
        location = _blob_url(request, entry.sha256)
        payload = {
            "outcome": result.outcome.value,
            "kind": self.kind.value,
            "sha256": entry.sha256.hex(),
            "epoch": entry.epoch,
            "group_state_hash": b64url(entry.group_state_hash),
            "expires_at_ns": entry.expires_at_ns,
            "location": location,
            "head": head,
        }
        status = 201 if result.outcome is Outcome.CREATED else 200
        headers = {"ETag": _etag(entry.sha256), "Cache-Control": "no-store"}
        if status == 201:
            headers["Location"] = location
        return _json(status, payload, headers)

    async def head(self, request: web.Request) -> web.StreamResponse:
        """GET …/head: the first candidate as raw bytes, cacheable, with ETag."""
        state = self._state(request)
        address = self._read_gate(request, state)
        entry = await self._cached_head(state, address)
        if entry.blob is None:
            state.count_fetch(self.kind, "head", "404")
            raise Problem(404, "not-found", "slot holds no live blob")
        etag = entry.headers["ETag"]
        if _etag_matches(request.headers.get("If-None-Match"), etag):
            state.count_fetch(self.kind, "head", "304")
            return web.Response(
                status=304,
                headers={"ETag": etag, "Cache-Control": state.head_cache_control},
            )
        state.count_fetch(self.kind, "head", "200")
        body = entry.blob.body or b""
        state.metrics.bytes_out.inc(len(body))
        return web.Response(body=body, headers=entry.headers)

    async def _cached_head(self, state: ServiceState, address: SlotAddress) -> _HeadEntry:
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
            headers = _blob_headers(blob)
            headers["Cache-Control"] = state.head_cache_control
            headers["Content-Type"] = BLOB_MEDIA_TYPE
        entry = _HeadEntry(marker, blob, headers)
        if state.settings.head_cache_entries > 0:
            if len(state.head_cache) >= state.settings.head_cache_entries:
                state.head_cache.pop(next(iter(state.head_cache)))
            state.head_cache[key] = entry
        return entry

    async def list_blobs(self, request: web.Request) -> web.StreamResponse:
        """GET …/blobs: the candidate set (optionally only one (epoch, hash) pair)."""
        state = self._state(request)
        address = self._read_gate(request, state)
        match = _match(request, required=False)
        limit = _limit(request, state, self.kind)
        now = logs.now_ns()
        items = await state.store.list_entries(address, now_ns=now, limit=limit, match=match)
        digest = hashlib.sha256()
        for item in items:
            digest.update(item.meta.sha256)
        etag = f'"{digest.hexdigest()}"'
        cache = {"ETag": etag, "Cache-Control": state.head_cache_control}
        route = "lookup" if match is not None else "candidates"
        if _etag_matches(request.headers.get("If-None-Match"), etag):
            state.count_fetch(self.kind, route, "304")
            return web.Response(status=304, headers=cache)
        body = {
            "kind": self.kind.value,
            "slot": b64url(address.slot_id),
            "lane": b64url(address.lane_id) if address.lane_id else None,
            "count": len(items),
            "items": [_item_json(item) for item in items],
        }
        state.count_fetch(self.kind, route, "200")
        state.metrics.bytes_out.inc(sum(item.meta.size for item in items))
        return _json(200, body, cache)

    async def get_blob(self, request: web.Request) -> web.StreamResponse:
        """GET/HEAD …/blobs/{sha256}: one retained blob by content address (immutable)."""
        state = self._state(request)
        address = self._read_gate(request, state)
        sha256 = _content_address(request)
        now = logs.now_ns()
        with_body = request.method != "HEAD"
        blob = await state.store.get_by_sha256(address, sha256, now_ns=now, with_body=with_body)
        if blob is None:
            state.count_fetch(self.kind, "blob", "404")
            raise Problem(404, "not-found", "no live blob with that content address")
        headers = _blob_headers(blob)
        remaining = IMMUTABLE_MAX_AGE
        if blob.meta.expires_at_ns:
            remaining = min(remaining, max(0, (blob.meta.expires_at_ns - now) // 1_000_000_000))
        headers["Cache-Control"] = f"public, max-age={remaining}, immutable"
        if _etag_matches(request.headers.get("If-None-Match"), headers["ETag"]):
            state.count_fetch(self.kind, "blob", "304")
            return web.Response(
                status=304,
                headers={"ETag": headers["ETag"], "Cache-Control": headers["Cache-Control"]},
            )
        state.count_fetch(self.kind, "blob", "200")
        if not with_body:
            headers["Content-Length"] = str(blob.meta.size)
            return web.Response(headers=headers, content_type=BLOB_MEDIA_TYPE)
        body = blob.body or b""
        state.metrics.bytes_out.inc(len(body))
        return web.Response(body=body, headers=headers, content_type=BLOB_MEDIA_TYPE)

    async def presence(self, request: web.Request) -> web.StreamResponse:
        """GET …/presence: does the slot hold a live blob advertising (epoch, hash)?"""
        state = self._state(request)
        address = self._read_gate(request, state)
        match = _match(request, required=True)
        now = logs.now_ns()
        found = await state.store.list_entries(
            address,
            now_ns=now,
            limit=state.settings.max_candidates,
            match=match,
            with_body=False,
        )
        state.count_fetch(self.kind, "presence", "200")
        body = {
            "present": bool(found),
            "count": len(found),
            "items": [
                {"sha256": item.meta.sha256.hex(), "nonce": b64url(item.meta.nonce)}
                for item in found
            ],
        }
        return _json(200, body, {"Cache-Control": "no-cache"})


async def _healthz(request: web.Request) -> web.StreamResponse:
    return _json(200, {"status": "ok"}, {"Cache-Control": "no-store"})


async def _readyz(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE_KEY]
    try:
        await asyncio.wait_for(state.store.check_ready(), timeout=5)
    except (StorageUnavailable, TimeoutError) as exc:
        raise Problem(503, "unavailable", headers={"Retry-After": "1"}) from exc
    return _json(200, {"status": "ready"}, {"Cache-Control": "no-store"})


async def _metrics(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE_KEY]
    body = generate_latest(state.metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _openapi(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE_KEY]
    return web.Response(
        body=state.openapi_json,
        content_type="application/json",
        headers={"Cache-Control": "public, max-age=300"},
    )


def _route_label(request: web.Request) -> str:
    info = request.match_info
    route = getattr(info, "route", None)
    resource = getattr(route, "resource", None)
    canonical = getattr(resource, "canonical", None)
    return canonical if isinstance(canonical, str) else "unmatched"


@web.middleware
async def _edge_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Problems, metrics and access logs for every request; no exception escapes."""
    state: ServiceState = request.app[STATE_KEY]
    started = time.perf_counter()
    code: str | None = None
    try:
        response = await handler(request)
    except Problem as problem:
        code = problem.code
        response = problem_response(problem)
    except web.HTTPException as exc:
        mapped = http_exception_problem(exc)
        code = mapped.code
        response = problem_response(mapped)
    except StorageUnavailable:
        code = "unavailable"
        response = problem_response(Problem(503, "unavailable", headers={"Retry-After": "1"}))
    except (HttpProcessingError, ConnectionError):
        code = "bad-request"
        response = problem_response(Problem(400, "bad-request"))
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # the catch-all: a bug must still answer with problem+json
        code = "internal"
        logs.event(
            state.logger,
            "unhandled exception",
            logging.ERROR,
            route=_route_label(request),
            exc_type=type(exc).__name__,
        )
        response = problem_response(Problem(500, "internal"))
    try:
        route = _route_label(request)
        elapsed = time.perf_counter() - started
        state.observe_latency(route, request.method, elapsed)
        if code is not None:
            state.metrics.rejections.labels(code).inc()
        if state.settings.access_log:
            logs.event(
                state.logger,
                "request",
                method=request.method,
                route=route,
                status=response.status,
                ms=round(elapsed * 1000, 3),
                slot=address.tag if (address := request.get(ADDRESS_KEY)) else None,
                problem=code,
            )
    except Exception:  # metrics/logging must never turn a response into a 500
        state.logger.debug("metrics or access log failed")
    return response


async def _gc_loop(state: ServiceState) -> None:
    settings = state.settings
    min_gap = min(1.0, settings.gc_interval_s)
    while True:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(state.gc_wake.wait(), timeout=settings.gc_interval_s)
        state.gc_wake.clear()
        now = logs.now_ns()
        idle = None
        if settings.slot_idle_ttl_s is not None:
            idle = now - int(settings.slot_idle_ttl_s * 1e9)
        try:
            report = await state.store.collect_garbage(now, idle)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logs.event(state.logger, "gc failed", logging.WARNING, exc_type=type(exc).__name__)
        else:
            if report.expired_blobs or report.idle_slots:
                state.metrics.gc_deleted.labels("expired_blob").inc(report.expired_blobs)
                state.metrics.gc_deleted.labels("idle_slot").inc(report.idle_slots)
                state.head_cache.clear()
                logs.event(
                    state.logger,
                    "gc",
                    expired_blobs=report.expired_blobs,
                    idle_slots=report.idle_slots,
                )
        await asyncio.sleep(min_gap)


def create_app(
    settings: Settings, store: BlobStore | None = None, *, run_gc: bool = True
) -> web.Application:
    """Build the application. The store is opened on startup and closed on cleanup."""
    app = web.Application(middlewares=[_edge_middleware], client_max_size=settings.max_body_bytes)
    backend = (
        store
        if store is not None
        else open_store(settings.database, max_batch=settings.group_commit_max)
    )
    state = ServiceState(settings, backend, run_gc=run_gc)
    app[SETTINGS_KEY] = settings
    app[STATE_KEY] = state

    kinds = (
        ("/v1/slots/{slot}/lanes/{lane}", SlotKind.LANE),
        ("/v1/slots/{slot}/open", SlotKind.OPEN),
    )
    for prefix, kind in kinds:  # the hot read routes first: the router tries them in order
        app.router.add_get(prefix + "/head", Handlers(kind).head)
    for prefix, kind in kinds:
        h = Handlers(kind)
        app.router.add_post(prefix + "/blobs", h.upload_post)
        app.router.add_get(prefix + "/blobs", h.list_blobs)
        app.router.add_put(prefix + "/blobs/{sha256}", h.upload_put)
        app.router.add_get(prefix + "/blobs/{sha256}", h.get_blob)
        app.router.add_get(prefix + "/presence", h.presence)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/openapi.json", _openapi)

    async def _startup(app: web.Application) -> None:
        await state.store.start()
        state.store.set_expiry_listener(state.wake_gc)
        if state.run_gc:
            state.gc_task = asyncio.create_task(_gc_loop(state), name="gc")

    async def _cleanup(app: web.Application) -> None:
        if state.gc_task is not None:
            state.gc_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await state.gc_task
        await state.store.close()

    app.on_startup.append(_startup)
    app.on_cleanup.append(_cleanup)
    return app

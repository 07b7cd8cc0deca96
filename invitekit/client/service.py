"""Async client for the invitekit blob service (``spec/openapi.yaml``), one or many services.

A *service* is named by its API root URL — the URL a ServicePointer carries, e.g.
``https://blobs.example.org/v1``; a root with an empty path gets ``/v1`` appended. The
paths, headers and bodies below it are :mod:`invitekit.protocol`'s.

Every request goes through :func:`invitekit.client.http.request` over the client's
:class:`~invitekit.client.transport.Transport`, so the fetch-hygiene rules hold for every
transport. Failures follow the contract drawn in :mod:`invitekit.client.errors`.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from collections.abc import Callable, Sequence
from typing import TypeVar

import aiohttp
from yarl import URL

from ..encoding import b64url_encode as b64url
from ..envelope import parse_envelope
from ..errors import InviteKitError
from ..lane import LaneSigner
from ..protocol import (
    API_ROOT,
    BLOB_MEDIA_TYPE,
    BODIES_QUERY,
    SIGNATURE_HEADER,
    BlobRecord,
    CandidateListing,
    HeadRef,
    InvalidResponse,
    ListingBodies,
    Presence,
    Route,
    SlotKind,
    UploadReceipt,
    problem_code_of,
    slot_path,
)
from ..selection import (
    DEFAULT_MAX_BLOB_BYTES,
    DEFAULT_MAX_CANDIDATES,
    BodySource,
    Candidate,
    Listed,
    merge_candidates,
    merge_listed,
)
from .errors import (
    BodyNotFound,
    ClientError,
    LaneKeyRequired,
    MalformedResponse,
    ServiceError,
    UploadRejected,
)
from .http import FetchPolicy, request, safe_url
from .results import FetchResult, MergedFetch, StoredUpload, UploadResult
from .transport import AiohttpTransport, HttpResponse, Transport

T = TypeVar("T")

#: Statuses meaning "this service has no presence route": ask by listing instead.
_NO_PRESENCE_ROUTE = frozenset({404, 405, 501})
#: Both slot kinds: every write goes to both by default and every read merges both.
BOTH_KINDS: tuple[SlotKind, ...] = (SlotKind.LANE, SlotKind.OPEN)
#: JSON framing per listing item and per listing, beyond the base64url of the blob.
_ITEM_OVERHEAD = 1024
_LISTING_OVERHEAD = 64 * 1024


def listing_read_cap(max_candidates: int, max_blob_bytes: int) -> int:
    """The most bytes a listing of ``max_candidates`` blobs of ``max_blob_bytes`` can take.

    A listing read is capped at this (or the policy's ``max_body_bytes``, if larger), so a
    slot full of maximum-size junk can never make the read fail and hide a genuine blob.
    """
    per_item = -(-4 * max_blob_bytes // 3) + _ITEM_OVERHEAD
    return max_candidates * per_item + _LISTING_OVERHEAD


def keep_newest(items: Sequence[BlobRecord], cap: int) -> tuple[BlobRecord, ...]:
    """At most ``cap`` items: the most recent by arrival, in the service's listed order.

    Items without an ``arrival`` rank (a service that does not send it) count as older
    than every ranked one and keep their listed order among themselves.
    """
    if len(items) <= cap:
        return tuple(items)
    unranked = len(items)
    ranks = [
        item.arrival if item.arrival is not None else unranked + index
        for index, item in enumerate(items)
    ]
    kept = set(sorted(range(len(items)), key=ranks.__getitem__)[:cap])
    return tuple(item for index, item in enumerate(items) if index in kept)


def api_root(url: str, policy: FetchPolicy) -> URL:
    """The validated API root of a service URL (``/v1`` appended to an empty path)."""
    root = safe_url(url, policy).with_query(None)
    if root.path in ("", "/"):
        root = root.with_path(API_ROOT)
    return root


def label_of(url: str) -> str:
    """The label results carry for a service: its URL without userinfo or fragment."""
    try:
        parsed = URL(url)
        return str(parsed.with_user(None).with_fragment(None))
    except (ValueError, TypeError):
        return "<unparseable>"


def _decoded(body: bytes, reader: Callable[[bytes], T]) -> T:
    """Apply a protocol body reader; a contract breach becomes MalformedResponse."""
    try:
        return reader(body)
    except InvalidResponse as exc:
        raise MalformedResponse(str(exc)) from None


def _unexpected(resp: HttpResponse, what: str) -> ServiceError:
    problem = problem_code_of(resp.status, resp.content_type, resp.body)
    return ServiceError(
        f"{what} answered HTTP {resp.status} ({problem})", status=resp.status,
        problem_type=problem,
    )


class InviteClient:
    """A client for any number of blob services over one transport (an async context
    manager; it closes the transport it created).

    ``transport`` defaults to :class:`~invitekit.client.transport.AiohttpTransport` (with
    ``session``/``ssl_context`` when given; ``ssl_context`` lets tests and private
    deployments trust their own CA and never relaxes the https-only rule).
    ``listing_bodies`` picks the listing form asked for (metadata only by default; a
    service that predates the choice answers with bodies inline, which is read as well).
    """

    def __init__(
        self,
        policy: FetchPolicy | None = None,
        *,
        transport: Transport | None = None,
        session: aiohttp.ClientSession | None = None,
        ssl_context: ssl.SSLContext | None = None,
        listing_bodies: ListingBodies = ListingBodies.OMIT,
    ) -> None:
        self.policy = policy or FetchPolicy()
        #: How listings are asked for: metadata only (bodies by content address, the
        #: default) or with every body inline (the form services before ``bodies`` send).
        self.listing_bodies = listing_bodies
        self._own_transport = transport is None
        self.transport: Transport = transport or AiohttpTransport(
            session=session, ssl_context=ssl_context
        )
        self._signers: dict[bytes, LaneSigner] = {}

    async def __aenter__(self) -> InviteClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the transport if this client created it."""
        if self._own_transport:
            await self.transport.aclose()

    # --- addressing ----------------------------------------------------------------

    def signer(self, key: bytes) -> LaneSigner:
        """The lane signer an invite key derives (cached per key)."""
        signer = self._signers.get(key)
        if signer is None:
            signer = self._signers[key] = LaneSigner(key)
        return signer

    def _lane(self, kind: SlotKind, key: bytes | None, lane_id: bytes | None) -> bytes | None:
        if kind is SlotKind.OPEN:
            return None
        if lane_id is not None:
            return lane_id
        if key is None:
            raise LaneKeyRequired("a keyed-lane request needs the invite key or a lane id")
        return self.signer(key).lane_id

    def slot_url(
        self,
        service: str,
        slot_id: bytes,
        kind: SlotKind,
        lane_id: bytes | None,
        route: Route,
        *,
        sha256: bytes | None = None,
    ) -> URL:
        """The URL of ``route`` of one slot below the service's API root (``sha256``: the
        content address of the :attr:`~invitekit.protocol.Route.BLOB` route)."""
        root = api_root(service, self.policy)
        path = slot_path(slot_id, kind, lane_id, route, sha256=sha256)
        return root.with_path(root.path.rstrip("/") + path, encoded=False)

    async def _send(
        self,
        method: str,
        url: URL,
        *,
        headers: dict[str, str] | None = None,
        data: bytes | None = None,
    ) -> HttpResponse:
        return await request(self.transport, method, url, self.policy, headers=headers, data=data)

    # --- uploads -------------------------------------------------------------------

    async def upload(
        self,
        service: str,
        slot_id: bytes,
        body: bytes,
        *,
        kind: SlotKind = SlotKind.LANE,
        key: bytes | None = None,
        lane_id: bytes | None = None,
        signature: bytes | None = None,
    ) -> UploadResult:
        """Upload one blob. Lanes are signed with the key's lane signer, or ``signature``
        (a stored proof, when mirroring) is sent as is. Raises only
        :class:`~.errors.LaneKeyRequired` (a caller bug); every service failure is a result.
        """
        lane = self._lane(kind, key, lane_id)
        headers = {"Content-Type": BLOB_MEDIA_TYPE}
        if lane is not None:
            if signature is None:
                if key is None:
                    raise LaneKeyRequired("a lane upload needs the invite key or a signature")
                signature = self.signer(key).sign(slot_id, body)
            headers[SIGNATURE_HEADER] = b64url(signature)
        label = label_of(service)
        try:
            url = self.slot_url(service, slot_id, kind, lane, Route.BLOBS)
            resp = await self._send("POST", url, headers=headers, data=body)
            if resp.status not in (200, 201):
                problem = problem_code_of(resp.status, resp.content_type, resp.body)
                raise UploadRejected(
                    f"upload answered HTTP {resp.status} ({problem})",
                    status=resp.status, problem_type=problem,
                )
            outcome = _decoded(resp.body, UploadReceipt.outcome_from_json)
        except ClientError as exc:
            return UploadResult.failed(label, kind, exc)
        return UploadResult(label, kind, outcome, resp.status)

    async def upload_many(
        self,
        services: Sequence[str],
        slot_id: bytes,
        body: bytes,
        *,
        kinds: Sequence[SlotKind] = BOTH_KINDS,
        key: bytes | None = None,
    ) -> list[UploadResult]:
        """Upload the same bytes to every service and kind (lane and open slot by default)
        at once; one result each."""
        jobs = [
            self.upload(s, slot_id, body, kind=k, key=key) for s in services for k in kinds
        ]
        return list(await asyncio.gather(*jobs))

    async def replay(self, service: str, slot_id: bytes, stored: StoredUpload) -> UploadResult:
        """Re-upload a stored upload verbatim (lane uploads with their stored signature)."""
        if stored.kind is SlotKind.LANE:
            if stored.signature is None:
                return UploadResult.failed(
                    label_of(service), stored.kind,
                    LaneKeyRequired("source served a lane upload without its signature"),
                )
            return await self.upload(
                service, slot_id, stored.body, kind=SlotKind.LANE, lane_id=stored.lane_id,
                signature=stored.signature,
            )
        return await self.upload(service, slot_id, stored.body, kind=SlotKind.OPEN)

    # --- reads ---------------------------------------------------------------------

    async def _list(
        self,
        service: str,
        slot_id: bytes,
        kind: SlotKind,
        lane: bytes | None,
        match: HeadRef | None,
        read_cap: int | None = None,
        bodies: ListingBodies | None = None,
    ) -> tuple[BlobRecord, ...]:
        """A listing's items: metadata only when the service honours ``bodies=omit``, with
        inline bodies otherwise (a service before the parameter ignores it)."""
        url = self.slot_url(service, slot_id, kind, lane, Route.BLOBS)
        query = {} if match is None else match.to_query()
        form = self.listing_bodies if bodies is None else bodies
        if form is ListingBodies.OMIT:
            query[BODIES_QUERY] = form.value
        if query:
            url = url.with_query(query)
        if read_cap is None:
            read_cap = listing_read_cap(DEFAULT_MAX_CANDIDATES, DEFAULT_MAX_BLOB_BYTES)
        cap = max(read_cap, self.policy.max_body_bytes)
        resp = await request(self.transport, "GET", url, self.policy, max_body_bytes=cap)
        if resp.status == 404:
            return ()
        if resp.status != 200:
            raise _unexpected(resp, "candidate listing")
        return _decoded(resp.body, CandidateListing.items_from_json)

    async def blob(
        self,
        service: str,
        slot_id: bytes,
        sha256: bytes,
        *,
        kind: SlotKind = SlotKind.LANE,
        lane_id: bytes | None = None,
        key: bytes | None = None,
        max_bytes: int = DEFAULT_MAX_BLOB_BYTES,
    ) -> bytes | None:
        """One retained blob by content address (``None``: not retained), read up to
        ``max_bytes`` and checked against ``sha256``. Raises :class:`~.errors.ClientError`."""
        lane = self._lane(kind, key, lane_id)
        url = self.slot_url(service, slot_id, kind, lane, Route.BLOB, sha256=sha256)
        resp = await request(self.transport, "GET", url, self.policy, max_body_bytes=max_bytes)
        if resp.status == 404:
            return None
        if resp.status != 200:
            raise _unexpected(resp, "blob")
        if hashlib.sha256(resp.body).digest() != sha256:
            raise MalformedResponse("blob: body does not hash to its content address")
        return resp.body

    async def fetch_body(
        self, listed: Listed, *, max_bytes: int = DEFAULT_MAX_BLOB_BYTES
    ) -> bytes:
        """A listed candidate's body, from the first of its locations that serves it (in
        listed order; one that fails or serves other bytes is passed over). Raises the last
        :class:`~.errors.ClientError` (:class:`~.errors.BodyNotFound` when every location
        answered 404)."""
        failure: ClientError = BodyNotFound("no location retains this blob any more")
        for location in listed.locations:
            try:
                body = await self.blob(
                    location.service, location.slot_id, listed.sha256, kind=location.kind,
                    lane_id=location.lane_id, max_bytes=max_bytes,
                )
            except ClientError as exc:
                failure = exc
                continue
            if body is not None:
                return body
        raise failure

    async def fetch(
        self,
        service: str,
        slot_id: bytes,
        *,
        kind: SlotKind = SlotKind.LANE,
        key: bytes | None = None,
        lane_id: bytes | None = None,
        max_candidates: int | None = None,
        match: tuple[int, bytes] | None = None,
        max_blob_bytes: int = DEFAULT_MAX_BLOB_BYTES,
        lazy: bool = False,
    ) -> FetchResult:
        """The candidate set of one slot (or only the ``(epoch, digest)`` ``match``).

        Keeps at most ``max_candidates``, the most recent by arrival (:func:`keep_newest`),
        never the highest claimed epochs; the read is bounded by :func:`listing_read_cap`.
        Items listed without their body are fetched by content address, one at a time —
        or, with ``lazy``, become :class:`~invitekit.selection.Listed` entries
        (``result.listed``) whose bodies the selection fetches only when it reaches them
        (the join and the deep check); one listed without the claims to place it in the
        order is fetched at once either way.
        """
        label = label_of(service)
        cap = max_candidates if max_candidates is not None else DEFAULT_MAX_CANDIDATES
        lane = self._lane(kind, key, lane_id)
        source = f"{label} {kind}"
        try:
            ref = None if match is None else HeadRef(*match)
            items = await self._list(
                service, slot_id, kind, lane, ref, listing_read_cap(cap, max_blob_bytes)
            )
            kept = keep_newest(items, cap)
            candidates: list[Candidate] = []
            listed: list[Listed] = []
            # A body's content address is already its own SHA-256 here: computed from the
            # inline body when the listing was read, or checked by blob() when fetched by it.
            for item in kept:
                if item.body is not None:
                    candidates.append(Candidate(item.body, item.content_address, (source,)))
                elif not lazy or item.epoch is None or item.group_state_hash is None:
                    body = await self.blob(
                        service, slot_id, item.content_address, kind=kind, lane_id=lane,
                        max_bytes=max_blob_bytes,
                    )
                    if body is not None:
                        candidates.append(Candidate(body, item.content_address, (source,)))
                else:
                    listed.append(
                        Listed(
                            sha256=item.content_address,
                            size=item.length,
                            epoch=item.epoch,
                            group_state_hash=item.group_state_hash,
                            expires_at_ns=item.expires_at_ns or 0,
                            locations=(BodySource(service, slot_id, kind, lane),),
                            sources=(source,),
                        )
                    )
        except ClientError as exc:
            return FetchResult(label, kind, failure=exc)
        return FetchResult(
            label, kind, tuple(candidates), truncated=len(items) > cap, listed=tuple(listed)
        )

    async def lookup(
        self,
        service: str,
        slot_id: bytes,
        epoch: int,
        digest: bytes,
        *,
        kind: SlotKind = SlotKind.LANE,
        key: bytes | None = None,
    ) -> FetchResult:
        """Only the candidates advertising ``(epoch, digest)`` (service rule 7)."""
        return await self.fetch(service, slot_id, kind=kind, key=key, match=(epoch, digest))

    async def fetch_merged(
        self,
        services: Sequence[str],
        slot_id: bytes,
        *,
        kinds: Sequence[SlotKind] = BOTH_KINDS,
        key: bytes | None = None,
        max_candidates: int | None = None,
        max_blob_bytes: int = DEFAULT_MAX_BLOB_BYTES,
        lazy: bool = False,
    ) -> MergedFetch:
        """Fetch every (service, kind) concurrently; merge, de-duplicated by content hash
        (``lazy``: see :meth:`fetch`; listed entries merge by content address too)."""
        jobs = [
            self.fetch(
                s, slot_id, kind=k, key=key, max_candidates=max_candidates,
                max_blob_bytes=max_blob_bytes, lazy=lazy,
            )
            for s in services
            for k in kinds
        ]
        results = tuple(await asyncio.gather(*jobs))
        merged = merge_candidates(r.candidates for r in results)
        in_hand = {c.content_hash for c in merged}
        listed = [
            item for item in merge_listed(r.listed for r in results) if item.sha256 not in in_hand
        ]
        return MergedFetch(tuple(merged), results, tuple(listed))

    async def head(
        self,
        service: str,
        slot_id: bytes,
        *,
        kind: SlotKind = SlotKind.LANE,
        key: bytes | None = None,
    ) -> Candidate | None:
        """The service's first candidate (its ``head`` fast path); ``None``: the slot is
        empty. Raises :class:`~.errors.ClientError`."""
        lane = self._lane(kind, key, None)
        resp = await self._send("GET", self.slot_url(service, slot_id, kind, lane, Route.HEAD))
        if resp.status == 404:
            return None
        if resp.status != 200:
            raise _unexpected(resp, "head")
        return Candidate.of(resp.body, f"{label_of(service)} {kind}")

    async def exists(
        self,
        service: str,
        slot_id: bytes,
        epoch: int,
        digest: bytes,
        *,
        kind: SlotKind = SlotKind.LANE,
        key: bytes | None = None,
    ) -> bool:
        """Existence query (service rule 8): is ``(epoch, digest)`` advertised? Raises
        :class:`~.errors.ClientError` when the service cannot say.

        A service without the presence route (404/405/501) is asked by metadata instead:
        the candidate listing, filtered on each blob's plaintext ``(epoch, digest)``.
        """
        lane = self._lane(kind, key, None)
        ref = HeadRef(epoch, digest)
        url = self.slot_url(service, slot_id, kind, lane, Route.PRESENCE)
        resp = await self._send("GET", url.with_query(ref.to_query()))
        if resp.status in _NO_PRESENCE_ROUTE:
            return await self._exists_by_listing(service, slot_id, kind, lane, ref)
        if resp.status != 200:
            raise _unexpected(resp, "presence")
        return _decoded(resp.body, Presence.present_from_json)

    async def _exists_by_listing(
        self, service: str, slot_id: bytes, kind: SlotKind, lane: bytes | None, ref: HeadRef
    ) -> bool:
        for item in await self._list(service, slot_id, kind, lane, None):
            if item.body is None:  # a listing by metadata: its claims are what it says
                if (item.epoch, item.group_state_hash) == (ref.epoch, ref.group_state_hash):
                    return True
                continue
            try:
                blob = parse_envelope(item.body).blob
            except InviteKitError:
                continue
            if blob.epoch == ref.epoch and blob.group_state_hash == ref.group_state_hash:
                return True
        return False

    async def stored_uploads(
        self,
        service: str,
        slot_id: bytes,
        kind: SlotKind,
        lane_id: bytes | None = None,
    ) -> list[StoredUpload]:
        """Everything a slot retains, with stored signatures (for mirroring): listed by
        metadata, then each body fetched by content address, one at a time (a blob gone
        in between is left out, as a listing a moment later would). Raises
        :class:`~.errors.ClientError`."""
        lane = self._lane(kind, None, lane_id)
        items = await self._list(service, slot_id, kind, lane, None)
        stored: list[StoredUpload] = []
        for item in items:
            body = item.body
            if body is None:
                body = await self.blob(
                    service, slot_id, item.content_address, kind=kind, lane_id=lane,
                    max_bytes=max(item.length, 1),
                )
                if body is None:
                    continue
            stored.append(StoredUpload(body, kind, lane or b"", item.signature, item.epoch))
        return stored


__all__ = [
    "BOTH_KINDS",
    "DEFAULT_MAX_CANDIDATES",
    "InviteClient",
    "api_root",
    "keep_newest",
    "label_of",
    "listing_read_cap",
]

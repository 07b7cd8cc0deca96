"""Async client for the invitekit blob service (``spec/openapi.yaml``), one or many services.

A *service* is named by its API root URL — the URL a ServicePointer carries, e.g.
``https://blobs.example.org/v1``; a root with an empty path gets ``/v1`` appended. Slot
routes hang below it: ``{root}/slots/{slot}/lanes/{lane}/…`` (keyed lane) and
``{root}/slots/{slot}/open/…`` (open FIFO slot), ids in unpadded base64url.

Every request goes through :func:`invitekit.client.http.request`, so the fetch-hygiene
rules hold everywhere. Per-service failures of uploads, fetches and existence queries are
*results* (``UploadResult.ok = False``, ``FetchResult.error``, ``None``), never exceptions,
so one dead mirror never sinks a multi-service call; :meth:`InviteClient.head` and
:meth:`InviteClient.stored_uploads` (single-service reads) raise typed client errors.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable, Sequence
from typing import TypeVar

import aiohttp
from yarl import URL

from ..blob import parse_blob
from ..errors import InviteKitError
from ..join import Candidate, merge_candidates
from ..lane import LaneSigner
from ..protocol import (
    BLOB_MEDIA_TYPE,
    SIGNATURE_HEADER,
    BlobRecord,
    CandidateListing,
    HeadRef,
    InvalidResponse,
    Presence,
    Route,
    SlotKind,
    UploadReceipt,
    b64url,
    problem_code_of,
    slot_path,
)
from .errors import ClientError, MalformedResponse, ServiceError
from .http import FetchPolicy, HttpResponse, new_session, request, safe_url
from .results import FetchResult, MergedFetch, StoredUpload, UploadResult

T = TypeVar("T")

def _decoded(body: bytes, reader: Callable[[bytes], T]) -> T:
    """Apply a protocol body reader; a contract breach becomes MalformedResponse."""
    try:
        return reader(body)
    except InvalidResponse as exc:
        raise MalformedResponse(str(exc)) from None


def api_root(url: str, policy: FetchPolicy) -> URL:
    """The validated API root of a service URL (``/v1`` appended to an empty path)."""
    root = safe_url(url, policy).with_query(None)
    if root.path in ("", "/"):
        root = root.with_path("/v1")
    return root


def label_of(url: str) -> str:
    """The label results carry for a service: its URL without userinfo or fragment."""
    try:
        parsed = URL(url)
        return str(parsed.with_user(None).with_fragment(None))
    except (ValueError, TypeError):
        return "<unparseable>"


def _problem_code(resp: HttpResponse) -> str:
    return problem_code_of(resp.status, resp.content_type, resp.body)


class InviteClient:
    """One aiohttp session for any number of blob services. Use as an async context manager.

    ``ssl_context`` lets tests and private deployments trust their own CA; it never
    relaxes the https-only rule.
    """

    def __init__(
        self,
        policy: FetchPolicy | None = None,
        *,
        session: aiohttp.ClientSession | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.policy = policy or FetchPolicy()
        self._session = session
        self._own_session = session is None
        self._ssl = ssl_context
        self._signers: dict[bytes, LaneSigner] = {}

    async def __aenter__(self) -> InviteClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the session if this client created it."""
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        """The session (created on first use, inside the running loop)."""
        if self._session is None:
            self._session = new_session()
        return self._session

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
            raise ValueError("a keyed-lane request needs the invite key or a lane id")
        return self.signer(key).lane_id

    def slot_url(
        self, service: str, slot_id: bytes, kind: SlotKind, lane_id: bytes | None, route: Route
    ) -> URL:
        """The URL of ``route`` of one slot below the service's API root."""
        root = api_root(service, self.policy)
        path = slot_path(slot_id, kind, lane_id, route)
        return root.with_path(root.path.rstrip("/") + path, encoded=False)

    async def _send(
        self,
        method: str,
        url: URL,
        *,
        headers: dict[str, str] | None = None,
        data: bytes | None = None,
    ) -> HttpResponse:
        return await request(
            self.session, method, url, self.policy, headers=headers, data=data,
            ssl_context=self._ssl,
        )

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
        (a stored proof, when mirroring) is sent as is."""
        label = label_of(service)
        try:
            lane = self._lane(kind, key, lane_id)
            headers = {"Content-Type": BLOB_MEDIA_TYPE}
            if lane is not None:
                if signature is None:
                    if key is None:
                        raise ValueError("a lane upload needs the invite key or a signature")
                    signature = self.signer(key).sign(slot_id, body)
                headers[SIGNATURE_HEADER] = b64url(signature)
            url = self.slot_url(service, slot_id, kind, lane, Route.BLOBS)
            resp = await self._send("POST", url, headers=headers, data=body)
        except ClientError as exc:
            return UploadResult(label, kind, False, exc.code, None, str(exc))
        if resp.status in (200, 201):
            try:
                outcome = _decoded(resp.body, UploadReceipt.outcome_from_json)
            except MalformedResponse as exc:
                return UploadResult(label, kind, False, exc.code, resp.status, str(exc))
            return UploadResult(label, kind, True, outcome, resp.status)
        code = _problem_code(resp)
        return UploadResult(label, kind, False, code, resp.status, f"HTTP {resp.status}")

    async def upload_many(
        self,
        services: Sequence[str],
        slot_id: bytes,
        body: bytes,
        *,
        kinds: Sequence[SlotKind] = (SlotKind.LANE,),
        key: bytes | None = None,
    ) -> list[UploadResult]:
        """Upload the same bytes to every service and kind at once; one result each."""
        jobs = [
            self.upload(s, slot_id, body, kind=k, key=key) for s in services for k in kinds
        ]
        return list(await asyncio.gather(*jobs))

    async def replay(self, service: str, slot_id: bytes, stored: StoredUpload) -> UploadResult:
        """Re-upload a stored upload verbatim (lane uploads with their stored signature)."""
        if stored.kind is SlotKind.LANE:
            if stored.signature is None:
                return UploadResult(
                    label_of(service), stored.kind, False, "missing-signature", None,
                    "source served a lane upload without its signature",
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
        match: tuple[int, bytes] | None,
    ) -> tuple[BlobRecord, ...]:
        url = self.slot_url(service, slot_id, kind, lane, Route.BLOBS)
        if match is not None:
            url = url.with_query(HeadRef(*match).to_query())
        resp = await self._send("GET", url)
        if resp.status == 404:
            return ()
        if resp.status != 200:
            raise ServiceError(
                f"candidate listing answered HTTP {resp.status}",
                status=resp.status,
                problem_type=_problem_code(resp),
            )
        return _decoded(resp.body, CandidateListing.items_from_json)

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
    ) -> FetchResult:
        """The candidate set of one slot (or only the ``(epoch, digest)`` ``match``)."""
        label = label_of(service)
        cap = max_candidates if max_candidates is not None else 16
        try:
            lane = self._lane(kind, key, lane_id)
            items = await self._list(service, slot_id, kind, lane, match)
            blobs = [item.body for item in items[:cap]]
        except ClientError as exc:
            return FetchResult(label, kind, error=exc.code, detail=str(exc))
        candidates = tuple(Candidate.of(b, f"{label} {kind}") for b in blobs)
        return FetchResult(label, kind, candidates, truncated=len(items) > cap)

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
        kinds: Sequence[SlotKind] = (SlotKind.LANE, SlotKind.OPEN),
        key: bytes | None = None,
        max_candidates: int | None = None,
    ) -> MergedFetch:
        """Fetch every (service, kind) concurrently; merge, de-duplicated by content hash."""
        jobs = [
            self.fetch(s, slot_id, kind=k, key=key, max_candidates=max_candidates)
            for s in services
            for k in kinds
        ]
        results = tuple(await asyncio.gather(*jobs))
        merged = merge_candidates(r.candidates for r in results)
        return MergedFetch(tuple(merged), results)

    async def head(
        self,
        service: str,
        slot_id: bytes,
        *,
        kind: SlotKind = SlotKind.LANE,
        key: bytes | None = None,
    ) -> Candidate | None:
        """The service's first candidate (its ``head`` fast path), or None when empty."""
        lane = self._lane(kind, key, None)
        resp = await self._send("GET", self.slot_url(service, slot_id, kind, lane, Route.HEAD))
        if resp.status == 404:
            return None
        if resp.status != 200:
            raise ServiceError(
                f"head answered HTTP {resp.status}", status=resp.status,
                problem_type=_problem_code(resp),
            )
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
    ) -> bool | None:
        """Existence query (service rule 8): is ``(epoch, digest)`` advertised? None: failed.

        A service without the presence route (404/405/501) is asked by metadata instead:
        the candidate listing, filtered on each blob's plaintext ``(epoch, digest)``.
        """
        try:
            lane = self._lane(kind, key, None)
            url = self.slot_url(service, slot_id, kind, lane, Route.PRESENCE).with_query(
                HeadRef(epoch, digest).to_query()
            )
            resp = await self._send("GET", url)
            if resp.status in (404, 405, 501):
                return await self._exists_by_listing(service, slot_id, kind, lane, epoch, digest)
            if resp.status != 200:
                return None
            return _decoded(resp.body, Presence.present_from_json)
        except ClientError:
            return None

    async def _exists_by_listing(
        self,
        service: str,
        slot_id: bytes,
        kind: SlotKind,
        lane: bytes | None,
        epoch: int,
        digest: bytes,
    ) -> bool:
        items = await self._list(service, slot_id, kind, lane, None)
        for item in items:
            try:
                blob = parse_blob(item.body).blob
            except InviteKitError:
                continue
            if blob.epoch == epoch and blob.group_state_hash == digest:
                return True
        return False

    async def stored_uploads(
        self,
        service: str,
        slot_id: bytes,
        kind: SlotKind,
        lane_id: bytes | None = None,
    ) -> list[StoredUpload]:
        """Everything a slot retains, with stored signatures (for mirroring). Raises."""
        lane = self._lane(kind, None, lane_id)
        items = await self._list(service, slot_id, kind, lane, None)
        return [
            StoredUpload(item.body, kind, lane or b"", item.signature, item.epoch)
            for item in items
        ]

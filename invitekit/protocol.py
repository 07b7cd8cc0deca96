"""The blob-service HTTP protocol (``spec/openapi.yaml``), sans-IO: one owner for every rule
the client and the service must agree on.

Owned here and nowhere else: the slot kinds, the route templates and path builders, the
header names, the unpadded base64url text form (and its strict canonical reader), the query
parameters, the problem codes with their ``type`` URIs, titles and statuses, and the JSON
bodies of every route (candidate listing, upload receipt, presence, problem). Everything is
a pure function or a frozen dataclass over ``str``/``bytes``/``dict``; no HTTP library is
imported, so both :mod:`invitekit.client` and the ``service`` package build on it.

Two error directions, both :class:`ProtocolError`:

* :class:`InvalidRequest` — a request a service must refuse; it names the
  :class:`ProblemCode` (and so the status) to answer with;
* :class:`InvalidResponse` — a response body that breaks the contract (a client reports it
  as a malformed response).
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Self

from .encoding import b64url_encode as b64url
from .errors import InviteKitError
from .expiry import U64_MAX
from .lane import LANE_ID_LENGTH, MAX_SLOT_ID_LENGTH, MIN_SLOT_ID_LENGTH, SIGNATURE_LENGTH
from .wire import DIGEST_LENGTHS

# --- media types and headers ---------------------------------------------------------

BLOB_MEDIA_TYPE = "application/octet-stream"
JSON_MEDIA_TYPE = "application/json"
PROBLEM_MEDIA_TYPE = "application/problem+json"

#: Lane uploads carry the lane signature over (slot id, lane id, SHA-256 of the body).
SIGNATURE_HEADER = "Invitekit-Signature"
#: The ``WWW-Authenticate`` challenge of a lane upload without a signature.
SIGNATURE_CHALLENGE = 'Invitekit-Lane-Signature realm="lane"'
EPOCH_HEADER = "Invitekit-Epoch"
GROUP_STATE_HASH_HEADER = "Invitekit-Group-State-Hash"
EXPIRES_AT_HEADER = "Invitekit-Expires-At-Ns"

# --- errors --------------------------------------------------------------------------


class ProtocolError(InviteKitError):
    """A message that breaks the service protocol."""

    code = "protocol"


class InvalidRequest(ProtocolError):
    """A request the service refuses; ``problem`` names the answer."""

    code = "invalid-request"

    def __init__(self, problem: ProblemCode, detail: str | None = None) -> None:
        super().__init__(detail or problem.problem_title)
        self.problem = problem
        self.detail = detail


class InvalidResponse(ProtocolError):
    """A response body that does not follow the service contract (the client reports it as
    :class:`invitekit.client.errors.MalformedResponse`)."""

    code = "invalid-response"


# --- base64url -----------------------------------------------------------------------

_B64URL = re.compile(r"\A[A-Za-z0-9_-]*\Z")
_HEX64 = re.compile(r"\A[0-9a-f]{64}\Z")
_DECIMAL = re.compile(r"\A[0-9]{1,20}\Z")


def parse_b64url(text: str) -> bytes | None:
    """Strict unpadded base64url (the canonical encoding only), or ``None``.

    Ids and digests are written with :func:`invitekit.encoding.b64url_encode` (exported
    here as ``b64url``); unlike the lenient invite-text reader, this one refuses padding,
    whitespace and non-canonical trailing bits, so one id has exactly one path.
    """
    if len(text) % 4 == 1 or not _B64URL.match(text):
        return None
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
    return raw if b64url(raw) == text else None


# --- slot kinds and routes -----------------------------------------------------------


class SlotKind(enum.StrEnum):
    """The two kinds of slot a service hosts under one ``external_group_id``.

    ``LANE``: the keyed lane named by the invite key (signed writes, ordered by epoch).
    ``OPEN``: the XIP's open FIFO slot (unsigned writes, last N by arrival).
    """

    LANE = "lane"
    OPEN = "open"


class Route(enum.StrEnum):
    """The routes below one slot (relative to the slot's path)."""

    HEAD = "head"
    BLOBS = "blobs"
    BLOB = "blobs/{sha256}"
    PRESENCE = "presence"


#: The path prefix of the API a service mounts; a client's service URL is the API root.
API_ROOT = "/v1"
HEALTHZ_PATH = "/healthz"
READYZ_PATH = "/readyz"
METRICS_PATH = "/metrics"
OPENAPI_PATH = "/openapi.json"

_SLOT_TEMPLATES = {
    SlotKind.LANE: "/slots/{slot}/lanes/{lane}",
    SlotKind.OPEN: "/slots/{slot}/open",
}


def route_template(kind: SlotKind, route: Route) -> str:
    """The server-side path template of ``route`` (``/v1/slots/{slot}/…``)."""
    return f"{API_ROOT}{_SLOT_TEMPLATES[kind]}/{route.value}"


def slot_path(
    slot_id: bytes,
    kind: SlotKind,
    lane_id: bytes | None,
    route: Route,
    *,
    sha256: bytes | None = None,
) -> str:
    """The path of ``route`` for one slot, relative to the API root (starts with ``/``)."""
    if (kind is SlotKind.LANE) != (lane_id is not None):
        raise ProtocolError("a lane path needs a lane id; an open path must not have one")
    if (route is Route.BLOB) != (sha256 is not None):
        raise ProtocolError("only the blob route takes a content address")
    middle = "open" if lane_id is None else f"lanes/{b64url(lane_id)}"
    tail = route.value if sha256 is None else f"blobs/{sha256.hex()}"
    return f"/slots/{b64url(slot_id)}/{middle}/{tail}"


def blob_location(collection_path: str, sha256: bytes) -> str:
    """The ``Location`` of a stored blob, given the path of the upload request."""
    cut = collection_path.find("/blobs")
    prefix = collection_path[:cut] if cut >= 0 else collection_path.rsplit("/", 1)[0]
    return f"{prefix}/blobs/{sha256.hex()}"


# --- problem codes -------------------------------------------------------------------

PROBLEM_TYPE_PREFIX = "urn:invitekit:problem:"


class ProblemCode(enum.StrEnum):
    """The stable problem codes; the RFC 9457 ``type`` is ``urn:invitekit:problem:<code>``."""

    INVALID_SLOT_ID = "invalid-slot-id"
    INVALID_LANE_ID = "invalid-lane-id"
    INVALID_CONTENT_ADDRESS = "invalid-content-address"
    CONTENT_ADDRESS_MISMATCH = "content-address-mismatch"
    INVALID_QUERY = "invalid-query"
    INVALID_BLOB = "invalid-blob"
    PAYLOAD_TOO_LARGE = "payload-too-large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported-media-type"
    MISSING_SIGNATURE = "missing-signature"
    BAD_SIGNATURE = "bad-signature"
    STALE = "stale"
    FORK = "fork"
    EPOCH_JUMP = "epoch-jump"
    EXPIRED = "expired"
    NOT_FOUND = "not-found"
    METHOD_NOT_ALLOWED = "method-not-allowed"
    RATE_LIMITED = "rate-limited"
    REQUEST_TIMEOUT = "request-timeout"
    UNAVAILABLE = "unavailable"
    BAD_REQUEST = "bad-request"
    UNAUTHORIZED = "unauthorized"
    INTERNAL = "internal"

    @property
    def type_uri(self) -> str:
        """The problem's ``type`` URI."""
        return PROBLEM_TYPE_PREFIX + self.value

    @property
    def problem_title(self) -> str:
        """The problem's human-readable ``title``."""
        return _PROBLEMS[self][1]

    @property
    def status(self) -> int:
        """The HTTP status the service answers this problem with."""
        return _PROBLEMS[self][0]


_PROBLEMS: dict[ProblemCode, tuple[int, str]] = {
    ProblemCode.INVALID_SLOT_ID: (400, "Slot id is not 4..255 bytes of unpadded base64url"),
    ProblemCode.INVALID_LANE_ID: (
        400,
        "Lane id is not a 32-byte Ed25519 public key in base64url",
    ),
    ProblemCode.INVALID_CONTENT_ADDRESS: (
        400,
        "Content address is not 64 lowercase hex digits",
    ),
    ProblemCode.CONTENT_ADDRESS_MISMATCH: (
        400,
        "Body does not hash to the content address in the URL",
    ),
    ProblemCode.INVALID_QUERY: (400, "Query parameters are malformed"),
    ProblemCode.INVALID_BLOB: (400, "Body is not an acceptable EncryptedGroupInfoBlob"),
    ProblemCode.PAYLOAD_TOO_LARGE: (413, "Body exceeds the service's size limit"),
    ProblemCode.UNSUPPORTED_MEDIA_TYPE: (
        415,
        "Uploads are application/octet-stream (a serialized blob)",
    ),
    ProblemCode.MISSING_SIGNATURE: (401, "Lane uploads need an Invitekit-Signature header"),
    ProblemCode.BAD_SIGNATURE: (403, "Signature does not verify for this slot, lane and body"),
    ProblemCode.STALE: (409, "Epoch is below the lane head"),
    ProblemCode.FORK: (409, "Same epoch as the lane head with a different group_state_hash"),
    ProblemCode.EPOCH_JUMP: (
        422,
        "Epoch exceeds the highest stored epoch by more than the allowed jump",
    ),
    ProblemCode.EXPIRED: (422, "Blob's expires_at_ns has already passed"),
    ProblemCode.NOT_FOUND: (404, "No such resource"),
    ProblemCode.METHOD_NOT_ALLOWED: (405, "Method not allowed on this resource"),
    ProblemCode.RATE_LIMITED: (429, "Too many requests"),
    ProblemCode.REQUEST_TIMEOUT: (408, "The request was not received in time"),
    ProblemCode.UNAVAILABLE: (503, "The service cannot take this request now"),
    ProblemCode.BAD_REQUEST: (400, "Malformed request"),
    ProblemCode.UNAUTHORIZED: (401, "This resource needs an Authorization: Bearer token"),
    ProblemCode.INTERNAL: (500, "Internal error"),
}


def problem_json(
    code: ProblemCode,
    *,
    status: int | None = None,
    detail: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> bytes:
    """An RFC 9457 problem body (``status`` defaults to the code's own)."""
    body: dict[str, Any] = {
        "type": code.type_uri,
        "title": code.problem_title,
        "status": code.status if status is None else status,
    }
    if detail:
        body["detail"] = detail
    body.update(extra or {})
    return encode_json(body)


def problem_code_of(status: int, content_type: str, body: bytes) -> str:
    """The problem code of an error response, or ``http-<status>`` when it carries none.

    A code this client does not know is still returned verbatim (services may add codes).
    """
    if content_type == PROBLEM_MEDIA_TYPE:
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            kind = parsed.get("type")
            if isinstance(kind, str) and kind.startswith(PROBLEM_TYPE_PREFIX):
                return kind[len(PROBLEM_TYPE_PREFIX) :]
    return f"http-{status}"


# --- request parsing (service side) --------------------------------------------------


def parse_slot_id(text: str) -> bytes:
    """The slot id of a path segment (4..255 bytes of canonical base64url)."""
    slot_id = parse_b64url(text)
    if slot_id is None or not MIN_SLOT_ID_LENGTH <= len(slot_id) <= MAX_SLOT_ID_LENGTH:
        raise InvalidRequest(ProblemCode.INVALID_SLOT_ID)
    return slot_id


def parse_lane_id(text: str) -> bytes:
    """The lane id of a path segment (a 32-byte key in canonical base64url)."""
    lane_id = parse_b64url(text)
    if lane_id is None or len(lane_id) != LANE_ID_LENGTH:
        raise InvalidRequest(ProblemCode.INVALID_LANE_ID)
    return lane_id


def parse_content_address(text: str) -> bytes:
    """A content address path segment: 64 lowercase hex digits."""
    if not _HEX64.match(text):
        raise InvalidRequest(ProblemCode.INVALID_CONTENT_ADDRESS)
    return bytes.fromhex(text)


def parse_signature_header(text: str | None) -> bytes:
    """The lane signature of an upload (its validity is checked by the caller)."""
    if not text:
        raise InvalidRequest(ProblemCode.MISSING_SIGNATURE)
    signature = parse_b64url(text.strip())
    if signature is None or len(signature) != SIGNATURE_LENGTH:
        raise InvalidRequest(ProblemCode.BAD_SIGNATURE)
    return signature


def _query_uint64(query: Mapping[str, str], name: str) -> int | None:
    raw = query.get(name)
    if raw is None:
        return None
    if not _DECIMAL.match(raw) or int(raw) > U64_MAX:
        raise InvalidRequest(ProblemCode.INVALID_QUERY, f"{name} must be a decimal uint64")
    return int(raw)


@dataclass(frozen=True, slots=True)
class HeadRef:
    """An ``(epoch, group_state_hash)`` pair as the protocol carries it."""

    epoch: int
    group_state_hash: bytes

    def to_json(self) -> dict[str, Any]:
        """The JSON object of a head."""
        return {"epoch": self.epoch, "group_state_hash": b64url(self.group_state_hash)}

    def to_query(self) -> dict[str, str]:
        """The ``epoch``/``group_state_hash`` query of a lookup or presence request."""
        return {"epoch": str(self.epoch), "group_state_hash": b64url(self.group_state_hash)}


def parse_match_query(query: Mapping[str, str], *, required: bool) -> HeadRef | None:
    """The ``(epoch, group_state_hash)`` filter of a request: both or neither."""
    epoch = _query_uint64(query, "epoch")
    digest_text = query.get("group_state_hash")
    if epoch is None and digest_text is None:
        if required:
            raise InvalidRequest(
                ProblemCode.INVALID_QUERY, "epoch and group_state_hash are required"
            )
        return None
    if epoch is None or digest_text is None:
        raise InvalidRequest(
            ProblemCode.INVALID_QUERY, "give both epoch and group_state_hash, or neither"
        )
    digest = parse_b64url(digest_text)
    if digest is None or len(digest) not in DIGEST_LENGTHS:
        raise InvalidRequest(
            ProblemCode.INVALID_QUERY, "group_state_hash must be a base64url digest"
        )
    return HeadRef(epoch, digest)


def parse_limit_query(query: Mapping[str, str], *, cap: int, default: int) -> int:
    """The ``limit`` of a candidate listing: ``1..cap``, ``default`` when absent."""
    raw = query.get("limit")
    if raw is None:
        return default
    if not _DECIMAL.match(raw) or not 1 <= int(raw) <= cap:
        raise InvalidRequest(ProblemCode.INVALID_QUERY, f"limit must be 1..{cap}")
    return int(raw)


# --- caching -------------------------------------------------------------------------


def etag_of(sha256: bytes) -> str:
    """The strong ETag of a content address."""
    return f'"{sha256.hex()}"'


def etag_matches(header: str | None, etag: str) -> bool:
    """RFC 9110 ``If-None-Match`` (weak comparison)."""
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


# --- bodies --------------------------------------------------------------------------


def encode_json(body: Mapping[str, Any]) -> bytes:
    """Compact JSON bytes."""
    return json.dumps(body, separators=(",", ":")).encode()


def decode_json_object(body: bytes, where: str) -> dict[str, Any]:
    """A JSON object response body, or :class:`InvalidResponse`."""
    try:
        parsed = json.loads(body)
    except ValueError:
        raise InvalidResponse(f"{where}: body is not JSON") from None
    if not isinstance(parsed, dict):
        raise InvalidResponse(f"{where}: body is not a JSON object")
    return parsed


def _bytes_field(obj: Mapping[str, Any], name: str, where: str) -> bytes:
    text = obj.get(name)
    raw = parse_b64url(text) if isinstance(text, str) else None
    if raw is None:
        raise InvalidResponse(f"{where}: {name!r} is not base64url")
    return raw


def _optional_bytes_field(obj: Mapping[str, Any], name: str, where: str) -> bytes | None:
    return None if obj.get(name) is None else _bytes_field(obj, name, where)


def _int_field(obj: Mapping[str, Any], name: str, where: str) -> int:
    value = obj.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= U64_MAX:
        raise InvalidResponse(f"{where}: {name!r} is not a uint64")
    return value


def _optional_int_field(obj: Mapping[str, Any], name: str, where: str) -> int | None:
    return None if obj.get(name) is None else _int_field(obj, name, where)


def _sha256_field(obj: Mapping[str, Any], name: str, where: str) -> bytes:
    text = obj.get(name)
    if not isinstance(text, str) or not _HEX64.match(text):
        raise InvalidResponse(f"{where}: {name!r} is not a hex SHA-256")
    return bytes.fromhex(text)


def _head_field(obj: Mapping[str, Any], where: str) -> HeadRef | None:
    head = obj.get("head")
    if head is None:
        return None
    if not isinstance(head, dict):
        raise InvalidResponse(f"{where}: 'head' is not an object")
    return HeadRef(
        _int_field(head, "epoch", where), _bytes_field(head, "group_state_hash", where)
    )


def _objects(obj: Mapping[str, Any], name: str, where: str) -> list[dict[str, Any]]:
    items = obj.get(name)
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise InvalidResponse(f"{where}: {name!r} is not a list of objects")
    return items


class ListingBodies(enum.StrEnum):
    """What a candidate listing carries per item (the ``bodies`` query parameter).

    ``INLINE`` (the default, and the only form a service before this parameter knows): every
    item carries its blob, base64url, in ``blob``. ``OMIT``: items carry metadata only and a
    reader fetches each body it wants by content address (``…/blobs/{sha256}``). A service
    that predates the parameter ignores it and answers ``INLINE``; a reader tells the forms
    apart per item (``blob`` present or not), so old and new meet in both directions.
    """

    INLINE = "inline"
    OMIT = "omit"


BODIES_QUERY = "bodies"


def parse_bodies_query(query: Mapping[str, str]) -> ListingBodies:
    """The ``bodies`` of a listing request (``inline`` when absent)."""
    raw = query.get(BODIES_QUERY)
    if raw is None:
        return ListingBodies.INLINE
    try:
        return ListingBodies(raw)
    except ValueError:
        raise InvalidRequest(
            ProblemCode.INVALID_QUERY, "bodies must be 'inline' or 'omit'"
        ) from None


@dataclass(frozen=True, slots=True)
class BlobRecord:
    """One retained blob in a candidate listing: its metadata, its bytes when the listing
    carries them (``body is None``: fetch it by content address), and (lanes) its proof.

    Only ``body`` is part of the XIP's service contract; the metadata is what invitekit
    services add (a minimal service may send the blob alone). A reader re-derives anything
    it relies on from the blob bytes, and checks fetched bytes against ``sha256``.
    """

    body: bytes | None = field(default=None, repr=False)
    signature: bytes | None = field(default=None, repr=False)
    epoch: int | None = None
    group_state_hash: bytes | None = None
    expires_at_ns: int | None = None
    #: The body's SHA-256 (the content address); computed from ``body`` when omitted.
    sha256: bytes | None = field(default=None, compare=False)
    #: Rank by arrival among the listed items, 0 = the most recent upload (invitekit
    #: services send it; a client that keeps fewer items than listed keeps the newest).
    arrival: int | None = None
    #: The body's length in bytes (``len(body)`` when the body is carried).
    size: int | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.body is None and (self.sha256 is None or self.size is None):
            raise ProtocolError("a record without its body needs its sha256 and size")

    @property
    def content_address(self) -> bytes:
        """The SHA-256 of the body."""
        if self.sha256 is not None:
            return self.sha256
        assert self.body is not None
        return hashlib.sha256(self.body).digest()

    @property
    def length(self) -> int:
        """The body's length in bytes."""
        return len(self.body) if self.body is not None else (self.size or 0)

    def meta_json(self) -> dict[str, Any]:
        """The listing item object without ``blob`` (``arrival`` only when known)."""
        extra: dict[str, Any] = {} if self.arrival is None else {"arrival": self.arrival}
        return {
            **extra,
            "sha256": self.content_address.hex(),
            "epoch": self.epoch,
            "group_state_hash": None
            if self.group_state_hash is None
            else b64url(self.group_state_hash),
            "expires_at_ns": self.expires_at_ns,
            "size": self.length,
            "signature": None if self.signature is None else b64url(self.signature),
        }

    def to_json(self) -> dict[str, Any]:
        """The listing item object (``blob`` last, and only when the body is carried)."""
        obj = self.meta_json()
        if self.body is not None:
            obj["blob"] = b64url(self.body)
        return obj

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Self:
        """Read a listing item; every field present must be well formed (fail closed).

        With ``blob``: the body is the item and ``sha256``/``size``, when sent, must match
        it. Without: ``sha256`` and ``size`` are required (the body is fetched by address).
        """
        where = "candidate"
        body: bytes | None = None
        if "blob" in obj:
            body = _bytes_field(obj, "blob", where)
            sha256 = hashlib.sha256(body).digest()
            if "sha256" in obj and _sha256_field(obj, "sha256", where) != sha256:
                raise InvalidResponse(f"{where}: 'sha256' does not match the blob")
            size = _optional_int_field(obj, "size", where)
            if size is not None and size != len(body):
                raise InvalidResponse(f"{where}: 'size' does not match the blob")
            size = len(body)
        else:
            sha256 = _sha256_field(obj, "sha256", where)
            size = _int_field(obj, "size", where)
        return cls(
            body=body,
            sha256=sha256,
            size=size,
            signature=_optional_bytes_field(obj, "signature", where),
            epoch=_optional_int_field(obj, "epoch", where),
            group_state_hash=_optional_bytes_field(obj, "group_state_hash", where),
            expires_at_ns=_optional_int_field(obj, "expires_at_ns", where),
            arrival=_optional_int_field(obj, "arrival", where),
        )


@dataclass(frozen=True, slots=True)
class CandidateListing:
    """The body of ``GET …/blobs``: a slot's live candidates in service order."""

    kind: SlotKind
    slot_id: bytes
    lane_id: bytes | None
    items: tuple[BlobRecord, ...]

    def head_json(self) -> dict[str, Any]:
        """The listing object without ``items`` (a streamed listing writes them after)."""
        return {
            "kind": self.kind.value,
            "slot": b64url(self.slot_id),
            "lane": None if self.lane_id is None else b64url(self.lane_id),
            "count": len(self.items),
        }

    def to_json(self) -> dict[str, Any]:
        """The listing object (``items`` last)."""
        return {**self.head_json(), "items": [item.to_json() for item in self.items]}

    @classmethod
    def items_from_json(cls, body: bytes) -> tuple[BlobRecord, ...]:
        """The items of a listing response body (what a client needs of it)."""
        obj = decode_json_object(body, "candidates")
        return tuple(BlobRecord.from_json(item) for item in _objects(obj, "items", "candidates"))


@dataclass(frozen=True, slots=True)
class UploadReceipt:
    """The body of a 200/201 upload answer."""

    outcome: str
    kind: SlotKind
    sha256: bytes
    epoch: int
    group_state_hash: bytes
    expires_at_ns: int
    location: str
    head: HeadRef | None

    def to_json(self) -> dict[str, Any]:
        """The receipt object."""
        return {
            "outcome": self.outcome,
            "kind": self.kind.value,
            "sha256": self.sha256.hex(),
            "epoch": self.epoch,
            "group_state_hash": b64url(self.group_state_hash),
            "expires_at_ns": self.expires_at_ns,
            "location": self.location,
            "head": None if self.head is None else self.head.to_json(),
        }

    @staticmethod
    def outcome_from_json(body: bytes) -> str:
        """The admission outcome of an upload answer (``created`` when a service omits it)."""
        outcome = decode_json_object(body, "upload").get("outcome", "created")
        if not isinstance(outcome, str) or not outcome:
            raise InvalidResponse("upload: 'outcome' is not a string")
        return outcome


@dataclass(frozen=True, slots=True)
class PresenceItem:
    """One live blob advertising the queried pair: its content address and nonce."""

    sha256: bytes
    nonce: bytes

    def to_json(self) -> dict[str, Any]:
        """The presence item object."""
        return {"sha256": self.sha256.hex(), "nonce": b64url(self.nonce)}


@dataclass(frozen=True, slots=True)
class Presence:
    """The body of ``GET …/presence``."""

    items: tuple[PresenceItem, ...]

    @property
    def present(self) -> bool:
        """True when at least one live blob advertises the pair."""
        return bool(self.items)

    def to_json(self) -> dict[str, Any]:
        """The presence object."""
        return {
            "present": self.present,
            "count": len(self.items),
            "items": [item.to_json() for item in self.items],
        }

    @staticmethod
    def present_from_json(body: bytes) -> bool:
        """The ``present`` flag of a presence answer."""
        present = decode_json_object(body, "presence").get("present")
        if not isinstance(present, bool):
            raise InvalidResponse("presence: 'present' is not a boolean")
        return present


def blob_headers(
    *,
    sha256: bytes,
    epoch: int,
    group_state_hash: bytes,
    expires_at_ns: int,
    signature: bytes | None,
) -> dict[str, str]:
    """The metadata headers served with a blob's bytes (head and by-address reads)."""
    headers = {
        "ETag": etag_of(sha256),
        EPOCH_HEADER: str(epoch),
        GROUP_STATE_HASH_HEADER: b64url(group_state_hash),
        EXPIRES_AT_HEADER: str(expires_at_ns),
        "X-Content-Type-Options": "nosniff",
    }
    if signature is not None:
        headers[SIGNATURE_HEADER] = b64url(signature)
    return headers


__all__ = [
    "API_ROOT",
    "BLOB_MEDIA_TYPE",
    "BODIES_QUERY",
    "EPOCH_HEADER",
    "EXPIRES_AT_HEADER",
    "GROUP_STATE_HASH_HEADER",
    "HEALTHZ_PATH",
    "JSON_MEDIA_TYPE",
    "METRICS_PATH",
    "OPENAPI_PATH",
    "PROBLEM_MEDIA_TYPE",
    "PROBLEM_TYPE_PREFIX",
    "READYZ_PATH",
    "SIGNATURE_CHALLENGE",
    "SIGNATURE_HEADER",
    "BlobRecord",
    "CandidateListing",
    "HeadRef",
    "InvalidRequest",
    "InvalidResponse",
    "ListingBodies",
    "Presence",
    "PresenceItem",
    "ProblemCode",
    "ProtocolError",
    "Route",
    "SlotKind",
    "UploadReceipt",
    "b64url",
    "blob_headers",
    "blob_location",
    "decode_json_object",
    "encode_json",
    "etag_matches",
    "etag_of",
    "parse_b64url",
    "parse_bodies_query",
    "parse_content_address",
    "parse_lane_id",
    "parse_limit_query",
    "parse_match_query",
    "parse_signature_header",
    "parse_slot_id",
    "problem_code_of",
    "problem_json",
    "route_template",
    "slot_path",
]

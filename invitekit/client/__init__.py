"""The client side of invitekit: fetch hygiene, one or many blob services, any transport.

* :class:`InviteClient` — upload (signed to a keyed lane, or to the open slot), fetch
  candidates / head / by ``(epoch, hash)``, existence query; many services at once with
  one result per service; candidates merged and de-duplicated by content hash.
* :class:`FetchPolicy` — the hygiene limits (https only, redirects, caps, timeouts).
* :class:`Transport` — the one-exchange seam: :class:`AiohttpTransport` (network) and
  :class:`InProcessTransport` (applications mounted in this process).
* The error contract and its tree: :mod:`invitekit.client.errors`.
"""

from __future__ import annotations

from ..protocol import SlotKind
from .errors import (
    BodyNotFound,
    BodyTooLarge,
    ClientError,
    DuplicateMount,
    FetchTimeout,
    InsecureUrl,
    InvalidFetchPolicy,
    LaneKeyRequired,
    MalformedResponse,
    RedirectRefused,
    ServiceError,
    ServiceUnreachable,
    TooManyRedirects,
    UnresolvablePointer,
    UploadRejected,
)
from .http import FetchPolicy
from .inprocess import InProcessTransport
from .results import FetchResult, MergedFetch, StoredUpload, UploadResult
from .service import InviteClient, api_root
from .transport import AiohttpTransport, HttpResponse, Transport, TransportRequest

__all__ = [
    "AiohttpTransport",
    "BodyNotFound",
    "BodyTooLarge",
    "ClientError",
    "DuplicateMount",
    "FetchPolicy",
    "FetchResult",
    "FetchTimeout",
    "HttpResponse",
    "InProcessTransport",
    "InsecureUrl",
    "InvalidFetchPolicy",
    "InviteClient",
    "LaneKeyRequired",
    "MalformedResponse",
    "MergedFetch",
    "RedirectRefused",
    "ServiceError",
    "ServiceUnreachable",
    "SlotKind",
    "StoredUpload",
    "TooManyRedirects",
    "Transport",
    "TransportRequest",
    "UnresolvablePointer",
    "UploadRejected",
    "UploadResult",
    "api_root",
]

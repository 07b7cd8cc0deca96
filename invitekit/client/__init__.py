"""The aiohttp client side of invitekit: fetch hygiene, one or many blob services.

* :class:`InviteClient` — upload (signed to a keyed lane, or to the open slot), fetch
  candidates / head / by ``(epoch, hash)``, existence query; many services at once with
  one result per service; candidates merged and de-duplicated by content hash.
* :class:`FetchPolicy` — the hygiene limits (https only, redirects, caps, timeouts).
"""

from __future__ import annotations

from ..protocol import SlotKind
from .errors import (
    BodyTooLarge,
    ClientError,
    FetchTimeout,
    InsecureUrl,
    MalformedResponse,
    RedirectRefused,
    ServiceError,
    ServiceUnreachable,
    TooManyRedirects,
    UnresolvablePointer,
    UploadRejected,
)
from .http import FetchPolicy
from .results import FetchResult, MergedFetch, StoredUpload, UploadResult
from .service import InviteClient, api_root

__all__ = [
    "BodyTooLarge",
    "ClientError",
    "FetchPolicy",
    "FetchResult",
    "FetchTimeout",
    "InsecureUrl",
    "InviteClient",
    "MalformedResponse",
    "MergedFetch",
    "RedirectRefused",
    "ServiceError",
    "ServiceUnreachable",
    "SlotKind",
    "StoredUpload",
    "TooManyRedirects",
    "UnresolvablePointer",
    "UploadRejected",
    "UploadResult",
    "api_root",
]

"""The client's one error contract: every failure is a :class:`ClientError` with a stable
``code`` (and, for service answers, the HTTP status and problem code).

::

    InviteKitError                                   (invitekit.errors)
    └── ClientError                  client
        ├── InvalidFetchPolicy       invalid-fetch-policy    a FetchPolicy limit is not positive
        ├── LaneKeyRequired          lane-key-required       a lane request without key/lane id
        ├── DuplicateMount           duplicate-mount         in-process origin mounted twice
        ├── InsecureUrl              insecure-url            not https (http: loopback opt-in)
        ├── RedirectRefused          redirect-refused        other scheme/origin, or a write
        ├── TooManyRedirects         too-many-redirects
        ├── BodyTooLarge             body-too-large          over the cap; read aborted
        ├── FetchTimeout             fetch-timeout           retryable
        ├── ServiceUnreachable       service-unreachable     retryable
        ├── MalformedResponse        malformed-response      body breaks the protocol
        ├── BodyNotFound             blob-not-found          a listed blob is retained nowhere
        ├── ServiceError             service-error           unexpected status (+ problem)
        │   └── UploadRejected       upload-rejected         the service refused an upload
        └── UnresolvablePointer      unresolvable-pointer    opaque pointer, no resolver

How failures reach the caller (:class:`~invitekit.client.service.InviteClient`):

* single-service reads whose answer is data (``head``, ``exists``, ``stored_uploads``)
  raise a :class:`ClientError`;
* per-service steps of a multi-service operation (``upload``, ``replay``, ``upload_many``,
  ``fetch``, ``lookup``, ``fetch_merged``) return one result record per (service, kind)
  carrying either the answer or the :class:`ClientError` (``result.failure``), so one dead
  mirror never sinks the call.

Messages name the origin (scheme, host, port) and never the URL path, query or userinfo,
so a slot id or a credential embedded in a URL never reaches a log line.
"""

from __future__ import annotations

from ..errors import InviteKitError


class ClientError(InviteKitError):
    """Base of every client-side failure."""

    code = "client"

    @property
    def retryable(self) -> bool:
        """Worth a bounded retry: transport failures, 5xx and 429. Refusals are final."""
        return False


class InvalidFetchPolicy(ClientError, ValueError):
    """A :class:`~invitekit.client.http.FetchPolicy` limit that is not positive."""

    code = "invalid-fetch-policy"


class LaneKeyRequired(ClientError):
    """A keyed-lane request without the invite key (or, for reads and replays, a lane id)."""

    code = "lane-key-required"


class DuplicateMount(ClientError):
    """An in-process transport asked to mount a second application under one origin."""

    code = "duplicate-mount"


class InsecureUrl(ClientError):
    """A URL that is not https (plain http only for loopback, and only when allowed)."""

    code = "insecure-url"


class RedirectRefused(ClientError):
    """A redirect to another scheme or origin, or a redirect for a non-idempotent request."""

    code = "redirect-refused"


class TooManyRedirects(ClientError):
    """More same-origin redirects than the fetch policy allows."""

    code = "too-many-redirects"


class BodyTooLarge(ClientError):
    """A response body past the size cap (checked while streaming; the read was aborted)."""

    code = "body-too-large"


class FetchTimeout(ClientError):
    """The service did not answer within the timeout."""

    code = "fetch-timeout"

    @property
    def retryable(self) -> bool:
        """A timeout may pass."""
        return True


class ServiceUnreachable(ClientError):
    """Connection refused, reset, DNS failure, TLS failure."""

    code = "service-unreachable"

    @property
    def retryable(self) -> bool:
        """An outage may pass."""
        return True


class ServiceError(ClientError):
    """The service answered with an unexpected status; ``problem_type`` is its problem code
    (``http-<status>`` when the answer carried none)."""

    code = "service-error"

    def __init__(self, message: str, *, status: int, problem_type: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.problem_type = problem_type or f"http-{status}"

    @property
    def retryable(self) -> bool:
        """Server errors and rate limits may pass."""
        return self.status >= 500 or self.status == 429


class UploadRejected(ServiceError):
    """The service refused an upload (stale lane epoch, fork, size, rate limit, bad proof)."""

    code = "upload-rejected"


class MalformedResponse(ClientError):
    """A response body that does not follow the service contract."""

    code = "malformed-response"


class BodyNotFound(ClientError):
    """A blob a listing named is no longer retained at any of its locations (evicted or
    collected between the listing and the body read)."""

    code = "blob-not-found"


class UnresolvablePointer(ClientError):
    """An opaque (application-defined) service pointer and no resolver to interpret it."""

    code = "unresolvable-pointer"


__all__ = [
    "BodyNotFound",
    "BodyTooLarge",
    "ClientError",
    "DuplicateMount",
    "FetchTimeout",
    "InsecureUrl",
    "InvalidFetchPolicy",
    "LaneKeyRequired",
    "MalformedResponse",
    "RedirectRefused",
    "ServiceError",
    "ServiceUnreachable",
    "TooManyRedirects",
    "UnresolvablePointer",
    "UploadRejected",
]

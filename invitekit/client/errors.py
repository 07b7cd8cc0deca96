"""Typed errors of the HTTP client and the join/refresh/mirror flows.

Every class subclasses :class:`invitekit.errors.InviteKitError` and has a stable ``code``.
Messages name the origin (scheme, host, port) and never the URL path, query or userinfo,
so a slot id or a credential embedded in a URL never reaches a log line.
"""

from __future__ import annotations

from ..errors import InviteKitError


class ClientError(InviteKitError):
    """Base of every client-side failure."""

    code = "client"


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


class ServiceUnreachable(ClientError):
    """Connection refused, reset, DNS failure, TLS failure."""

    code = "service-unreachable"


class ServiceError(ClientError):
    """The service answered with an unexpected status (details from problem+json)."""

    code = "service-error"

    def __init__(self, message: str, *, status: int, problem_type: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.problem_type = problem_type


class UploadRejected(ServiceError):
    """The service refused an upload (stale lane epoch, fork, size, rate limit, bad proof)."""

    code = "upload-rejected"


class MalformedResponse(ClientError):
    """A response body that does not follow the service contract."""

    code = "malformed-response"


class UnresolvablePointer(ClientError):
    """An opaque (application-defined) service pointer and no resolver to interpret it."""

    code = "unresolvable-pointer"

"""Fetch hygiene (XIP-82 "Joiner-side resource bounds and fetch hygiene") over any transport.

Rules every request follows:

* **https only.** Plain ``http`` is accepted solely for loopback hosts (``127.0.0.0/8``,
  ``::1``, ``localhost``) and only when :attr:`FetchPolicy.allow_insecure_loopback` is set
  (tests, a local service).
* **Credentials in URLs are ignored**: userinfo is stripped before any request and never
  sent; the network transport never reads ``.netrc`` or proxy settings from the environment.
* **Redirects are handled here**, never by the transport (which never follows one): a redirect
  to another scheme is refused; one to another origin (scheme, host, port) is refused
  unless the origin is allow-listed; same-origin redirects are followed at most
  :attr:`FetchPolicy.max_redirects` times, and only for GET and HEAD.
* **Bounded reads** and **timeouts** (connect, whole exchange): passed to the transport in
  every :class:`~.transport.TransportRequest`; the transport streams the body and aborts
  as soon as the cap is passed (see :mod:`invitekit.client.transport`).

Error messages name only the origin, never the path (which carries slot ids).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass

from yarl import URL

from .errors import (
    InsecureUrl,
    InvalidFetchPolicy,
    MalformedResponse,
    RedirectRefused,
    TooManyRedirects,
)
from .transport import HttpResponse, Transport, TransportRequest, origin_of

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_SAFE_METHODS = frozenset({"GET", "HEAD"})


@dataclass(frozen=True, slots=True)
class FetchPolicy:
    """Client limits. Defaults suit a phone joining a 10,000-member group."""

    allow_insecure_loopback: bool = False
    max_redirects: int = 3
    #: Origins (``https://host:port``) a cross-origin redirect may go to.
    redirect_allowlist: frozenset[str] = frozenset()
    connect_timeout_s: float = 5.0
    total_timeout_s: float = 30.0
    max_body_bytes: int = 32 * 1024 * 1024
    chunk_bytes: int = 64 * 1024

    def __post_init__(self) -> None:
        if self.max_redirects < 0 or self.max_body_bytes < 1 or self.chunk_bytes < 1:
            raise InvalidFetchPolicy("FetchPolicy limits must be positive")


def is_loopback_host(host: str | None) -> bool:
    """True for ``localhost`` and for IP literals in the loopback ranges."""
    if not host:
        return False
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def safe_url(url: str | URL, policy: FetchPolicy) -> URL:
    """Validate a request URL under the hygiene rules; return it without userinfo/fragment."""
    try:
        parsed = url if isinstance(url, URL) else URL(url)
    except (ValueError, TypeError):
        raise InsecureUrl("URL does not parse") from None
    if not parsed.is_absolute() or not parsed.host:
        raise InsecureUrl("URL must be absolute, with a host")
    scheme = parsed.scheme.lower()
    if scheme == "http":
        if not policy.allow_insecure_loopback:
            raise InsecureUrl(f"plain http refused for {origin_of(parsed)} (https only)")
        if not is_loopback_host(parsed.host):
            raise InsecureUrl(f"plain http is allowed only for loopback, not {origin_of(parsed)}")
    elif scheme != "https":
        raise InsecureUrl(f"scheme {scheme!r} refused (https only)")
    return parsed.with_user(None).with_fragment(None)


def _redirect_target(current: URL, location: str | None, method: str, policy: FetchPolicy) -> URL:
    where = origin_of(current)
    if not location:
        raise MalformedResponse(f"{where} sent a redirect without Location")
    if method not in _SAFE_METHODS:
        raise RedirectRefused(f"{where} redirected a {method}; not followed")
    try:
        target = current.join(URL(location))
    except (ValueError, TypeError):
        raise MalformedResponse(f"{where} sent an unparseable Location") from None
    if (target.scheme or "").lower() != (current.scheme or "").lower():
        raise RedirectRefused(
            f"{where} redirected to another scheme ({target.scheme!r}); refused"
        )
    target_origin = origin_of(target)
    if target_origin != where and target_origin not in policy.redirect_allowlist:
        raise RedirectRefused(f"{where} redirected to another origin ({target_origin}); refused")
    return safe_url(target, policy)


async def request(
    transport: Transport,
    method: str,
    url: str | URL,
    policy: FetchPolicy,
    *,
    headers: Mapping[str, str] | None = None,
    data: bytes | None = None,
    max_body_bytes: int | None = None,
) -> HttpResponse:
    """One request under the hygiene rules (see the module docstring), over ``transport``."""
    method = method.upper()
    current = safe_url(url, policy)
    cap = max_body_bytes if max_body_bytes is not None else policy.max_body_bytes
    for _hop in range(policy.max_redirects + 1):
        resp = await transport.send(
            TransportRequest(
                method,
                current,
                dict(headers or {}),
                data,
                max_body_bytes=cap,
                chunk_bytes=policy.chunk_bytes,
                connect_timeout_s=policy.connect_timeout_s,
                total_timeout_s=policy.total_timeout_s,
            )
        )
        if resp.status not in REDIRECT_STATUSES:
            return resp
        current = _redirect_target(current, resp.headers.get("Location"), method, policy)
    raise TooManyRedirects(f"more than {policy.max_redirects} redirects from {origin_of(current)}")


__all__ = [
    "REDIRECT_STATUSES",
    "FetchPolicy",
    "InvalidFetchPolicy",
    "is_loopback_host",
    "request",
    "safe_url",
]

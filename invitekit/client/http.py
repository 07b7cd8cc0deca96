"""Fetch hygiene (XIP-82 "Joiner-side resource bounds and fetch hygiene") over aiohttp.

Rules every request follows:

* **https only.** Plain ``http`` is accepted solely for loopback hosts (``127.0.0.0/8``,
  ``::1``, ``localhost``) and only when :attr:`FetchPolicy.allow_insecure_loopback` is set
  (tests, a local service).
* **Credentials in URLs are ignored**: userinfo is stripped before any request and never
  sent; the session never reads ``.netrc`` or proxy settings from the environment.
* **Redirects are handled here**, never by aiohttp (``allow_redirects=False``): a redirect
  to another scheme is refused; one to another origin (scheme, host, port) is refused
  unless the origin is allow-listed; same-origin redirects are followed at most
  :attr:`FetchPolicy.max_redirects` times, and only for GET and HEAD.
* **Bounded reads**: bodies are streamed in chunks and the read is aborted (connection
  closed) as soon as the cap is passed; a larger ``Content-Length`` fails before reading.
* **Timeouts** on connect and on the whole exchange.

Error messages name only the origin, never the path (which carries slot ids).
"""

from __future__ import annotations

import ipaddress
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from .errors import (
    BodyTooLarge,
    FetchTimeout,
    InsecureUrl,
    MalformedResponse,
    RedirectRefused,
    ServiceUnreachable,
    TooManyRedirects,
)

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_SAFE_METHODS = frozenset({"GET", "HEAD"})
_DEFAULT_PORTS = {"https": 443, "http": 80}


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
            raise ValueError("FetchPolicy limits must be positive")


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


def origin_of(url: URL) -> str:
    """``scheme://host:port`` with the default port spelled out."""
    scheme = (url.scheme or "").lower()
    port = url.port or _DEFAULT_PORTS.get(scheme, 0)
    host = (url.host or "").lower()
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}"


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


@dataclass(frozen=True)
class HttpResponse:
    """A fully read (and size-capped) response."""

    status: int
    headers: CIMultiDictProxy[str] = field(repr=False)
    body: bytes = field(repr=False)
    url: URL

    @property
    def content_type(self) -> str:
        """The media type without parameters, lower-cased."""
        return self.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()


async def read_capped(resp: aiohttp.ClientResponse, cap: int, chunk: int) -> bytes:
    """Stream the body; abort (and drop the connection) once it passes ``cap`` bytes."""
    declared = resp.content_length
    if declared is not None and declared > cap:
        resp.close()
        raise BodyTooLarge(f"{origin_of(resp.url)} declared a {declared}-byte body (cap {cap})")
    parts: list[bytes] = []
    total = 0
    while True:
        piece = await resp.content.read(chunk)
        if not piece:
            break
        total += len(piece)
        if total > cap:
            resp.close()
            raise BodyTooLarge(f"{origin_of(resp.url)} sent more than {cap} bytes; aborted")
        parts.append(piece)
    return b"".join(parts)


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
    session: aiohttp.ClientSession,
    method: str,
    url: str | URL,
    policy: FetchPolicy,
    *,
    headers: Mapping[str, str] | None = None,
    data: bytes | None = None,
    max_body_bytes: int | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> HttpResponse:
    """One request under the hygiene rules (see the module docstring)."""
    method = method.upper()
    current = safe_url(url, policy)
    cap = max_body_bytes if max_body_bytes is not None else policy.max_body_bytes
    timeout = aiohttp.ClientTimeout(
        total=policy.total_timeout_s, connect=policy.connect_timeout_s
    )
    ssl_arg: ssl.SSLContext | bool = ssl_context if ssl_context is not None else True
    for _hop in range(policy.max_redirects + 1):
        try:
            async with session.request(
                method,
                current,
                headers=dict(headers or {}),
                data=data,
                allow_redirects=False,
                timeout=timeout,
                ssl=ssl_arg,
            ) as resp:
                if resp.status in REDIRECT_STATUSES:
                    current = _redirect_target(
                        current, resp.headers.get("Location"), method, policy
                    )
                    continue
                body = b"" if method == "HEAD" else await read_capped(resp, cap, policy.chunk_bytes)
                return HttpResponse(
                    resp.status, CIMultiDictProxy(CIMultiDict(resp.headers)), body, current
                )
        except TimeoutError:
            raise FetchTimeout(f"{origin_of(current)} timed out") from None
        except aiohttp.ClientPayloadError:
            raise MalformedResponse(f"{origin_of(current)} sent a broken body") from None
        except (aiohttp.ClientConnectionError, aiohttp.ClientResponseError, OSError) as exc:
            raise ServiceUnreachable(
                f"{origin_of(current)} unreachable ({type(exc).__name__})"
            ) from None
    raise TooManyRedirects(f"more than {policy.max_redirects} redirects from {origin_of(current)}")


def new_session(*, connector: aiohttp.BaseConnector | None = None) -> aiohttp.ClientSession:
    """A session that ignores the environment (no proxies, no .netrc) and sends no cookies."""
    return aiohttp.ClientSession(
        connector=connector,
        trust_env=False,
        cookie_jar=aiohttp.DummyCookieJar(),
        raise_for_status=False,
    )


__all__ = [
    "REDIRECT_STATUSES",
    "FetchPolicy",
    "HttpResponse",
    "is_loopback_host",
    "new_session",
    "origin_of",
    "read_capped",
    "request",
    "safe_url",
]

"""The transport seam: one HTTP exchange, no policy.

A :class:`Transport` performs exactly one request/response exchange and never follows a
redirect; :func:`invitekit.client.http.request` layers the fetch-hygiene rules (https only,
userinfo stripped, manual redirects) over any transport, so every transport is held to
them. A transport owns the IO-level rules: the streamed body cap and the timeouts in the
:class:`TransportRequest`, and the typed errors (:class:`~.errors.FetchTimeout`,
:class:`~.errors.ServiceUnreachable`, :class:`~.errors.BodyTooLarge`,
:class:`~.errors.MalformedResponse`).

:class:`AiohttpTransport` is the network implementation;
:class:`invitekit.client.memory.MemoryTransport` serves in-process aiohttp apps.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from .errors import BodyTooLarge, FetchTimeout, MalformedResponse, ServiceUnreachable

_DEFAULT_PORTS = {"https": 443, "http": 80}


def origin_of(url: URL) -> str:
    """``scheme://host:port`` with the default port spelled out (what error messages name)."""
    scheme = (url.scheme or "").lower()
    port = url.port or _DEFAULT_PORTS.get(scheme, 0)
    host = (url.host or "").lower()
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}"


@dataclass(frozen=True, slots=True)
class TransportRequest:
    """One exchange to perform: the URL is already validated and stripped of userinfo."""

    method: str
    url: URL
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = field(default=None, repr=False)
    max_body_bytes: int = 32 * 1024 * 1024
    chunk_bytes: int = 64 * 1024
    connect_timeout_s: float = 5.0
    total_timeout_s: float = 30.0


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


class Transport(Protocol):
    """Performs one exchange (never follows redirects); raises only typed client errors."""

    async def send(self, request: TransportRequest) -> HttpResponse:
        """Send ``request`` and read the whole response under its cap and timeouts."""
        ...

    async def aclose(self) -> None:
        """Release connections (idempotent)."""
        ...


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


def new_session(*, connector: aiohttp.BaseConnector | None = None) -> aiohttp.ClientSession:
    """A session that ignores the environment (no proxies, no .netrc) and sends no cookies."""
    return aiohttp.ClientSession(
        connector=connector,
        trust_env=False,
        cookie_jar=aiohttp.DummyCookieJar(),
        raise_for_status=False,
    )


async def exchange(
    session: aiohttp.ClientSession,
    request: TransportRequest,
    *,
    target: URL | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> HttpResponse:
    """One exchange over an aiohttp session (``target``: where to connect, if not the URL)."""
    where = origin_of(request.url)
    timeout = aiohttp.ClientTimeout(
        total=request.total_timeout_s, connect=request.connect_timeout_s
    )
    try:
        async with session.request(
            request.method,
            target or request.url,
            headers=dict(request.headers),
            data=request.body,
            allow_redirects=False,
            timeout=timeout,
            ssl=ssl_context if ssl_context is not None else True,
        ) as resp:
            body = (
                b""
                if request.method == "HEAD"
                else await read_capped(resp, request.max_body_bytes, request.chunk_bytes)
            )
            return HttpResponse(
                resp.status, CIMultiDictProxy(CIMultiDict(resp.headers)), body, request.url
            )
    except TimeoutError:
        raise FetchTimeout(f"{where} timed out") from None
    except aiohttp.ClientPayloadError:
        raise MalformedResponse(f"{where} sent a broken body") from None
    except (aiohttp.ClientConnectionError, aiohttp.ClientResponseError, OSError) as exc:
        raise ServiceUnreachable(f"{where} unreachable ({type(exc).__name__})") from None


class AiohttpTransport:
    """The network transport: one aiohttp session (created lazily, inside the running loop).

    ``ssl_context`` lets tests and private deployments trust their own CA; it never relaxes
    the https-only rule, which :func:`~invitekit.client.http.request` enforces.
    """

    def __init__(
        self,
        *,
        session: aiohttp.ClientSession | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._session = session
        self._own_session = session is None
        self._ssl = ssl_context

    @property
    def session(self) -> aiohttp.ClientSession:
        """The session (created on first use)."""
        if self._session is None:
            self._session = new_session()
        return self._session

    async def send(self, request: TransportRequest) -> HttpResponse:
        """One exchange over the network."""
        return await exchange(self.session, request, ssl_context=self._ssl)

    async def aclose(self) -> None:
        """Close the session if this transport created it."""
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None


__all__ = [
    "AiohttpTransport",
    "HttpResponse",
    "Transport",
    "TransportRequest",
    "exchange",
    "new_session",
    "origin_of",
    "read_capped",
]

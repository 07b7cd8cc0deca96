"""Fetch hygiene against real loopback servers: schemes, redirects, userinfo, caps, timeouts.

These stay on real sockets (and TLS) on purpose: they test the network transport itself.
The last tests show the same rules hold over the in-process transport.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiohttp import web

from invitekit.client.errors import (
    BodyTooLarge,
    FetchTimeout,
    InsecureUrl,
    RedirectRefused,
    ServiceUnreachable,
    TooManyRedirects,
)
from invitekit.client.http import FetchPolicy, is_loopback_host, request, safe_url
from invitekit.client.inprocess import InProcessTransport
from invitekit.client.transport import AiohttpTransport

from .servers import serve
from .tls import SelfSignedCert, make_cert

LOOPBACK = FetchPolicy(allow_insecure_loopback=True)


@asynccontextmanager
async def network(ssl_context: ssl.SSLContext | None = None) -> AsyncIterator[AiohttpTransport]:
    transport = AiohttpTransport(ssl_context=ssl_context)
    try:
        yield transport
    finally:
        await transport.aclose()


def reply(body: bytes):  # type: ignore[no-untyped-def]
    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=body)

    return handler


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> SelfSignedCert:
    return make_cert(Path(tmp_path_factory.mktemp("tls")))


def test_https_only_by_default() -> None:
    with pytest.raises(InsecureUrl):
        safe_url("http://127.0.0.1:8080/v1", FetchPolicy())
    with pytest.raises(InsecureUrl):
        safe_url("ftp://example.org/x", FetchPolicy(allow_insecure_loopback=True))
    with pytest.raises(InsecureUrl):
        safe_url("/relative/path", FetchPolicy())
    assert str(safe_url("https://example.org/v1", FetchPolicy())) == "https://example.org/v1"


def test_plain_http_only_for_loopback_when_allowed() -> None:
    assert safe_url("http://127.0.0.1:9/v1", LOOPBACK).host == "127.0.0.1"
    assert safe_url("http://[::1]:9/v1", LOOPBACK).port == 9
    assert safe_url("http://localhost:9/", LOOPBACK).host == "localhost"
    for url in ("http://10.0.0.1/v1", "http://example.org/v1", "http://127.0.0.1.nip.io/"):
        with pytest.raises(InsecureUrl):
            safe_url(url, LOOPBACK)
    assert is_loopback_host("127.8.9.10")
    assert not is_loopback_host("0.0.0.0")


def test_userinfo_and_fragment_are_stripped() -> None:
    url = safe_url("https://alice:secret@example.org/v1/slot#frag", FetchPolicy())
    assert url.user is None
    assert url.password is None
    assert url.fragment == ""
    assert "secret" not in str(url)


async def test_credentials_in_url_are_never_sent() -> None:
    seen: list[str | None] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization"))
        return web.Response(body=b"ok")

    app = web.Application()
    app.router.add_get("/x", handler)
    async with serve(app) as base, network() as session:
        url = base.replace("http://", "http://mallory:hunter2@") + "/x"
        resp = await request(session, "GET", url, LOOPBACK)
    assert resp.status == 200
    assert resp.body == b"ok"
    assert seen == [None]


async def test_redirect_to_http_is_refused(cert: SelfSignedCert) -> None:
    target = web.Application()
    target.router.add_get("/x", reply(b"plain"))
    async with serve(target) as plain_base:
        app = web.Application()

        async def bounce(request: web.Request) -> web.Response:
            raise web.HTTPFound(plain_base + "/x")

        app.router.add_get("/x", bounce)
        async with serve(app, ssl_context=cert.server_context()) as tls_base, network(
            cert.client_context()
        ) as s:
            with pytest.raises(RedirectRefused, match="another scheme"):
                await request(s, "GET", tls_base + "/x", LOOPBACK)


async def test_cross_origin_redirect_is_refused(cert: SelfSignedCert) -> None:
    other = web.Application()
    other.router.add_get("/x", reply(b"elsewhere"))
    async with serve(other, ssl_context=cert.server_context()) as other_base:
        app = web.Application()

        async def bounce(request: web.Request) -> web.Response:
            raise web.HTTPTemporaryRedirect(other_base + "/x")

        app.router.add_get("/x", bounce)
        async with serve(app, ssl_context=cert.server_context()) as base, network(
            cert.client_context()
        ) as s:
            with pytest.raises(RedirectRefused, match="another origin"):
                await request(s, "GET", base + "/x", LOOPBACK)
            # An application allow-list opts a specific origin in.
            allowed = FetchPolicy(redirect_allowlist=frozenset({other_base}))
            resp = await request(s, "GET", base + "/x", allowed)
            assert resp.body == b"elsewhere"


async def test_same_origin_redirects_are_bounded() -> None:
    app = web.Application()

    async def step(request: web.Request) -> web.Response:
        n = int(request.match_info["n"])
        if n == 0:
            return web.Response(body=b"arrived")
        raise web.HTTPMovedPermanently(f"/hop/{n - 1}")

    app.router.add_get("/hop/{n}", step)
    async with serve(app) as base, network() as s:
        resp = await request(s, "GET", base + "/hop/3", LOOPBACK)
        assert resp.body == b"arrived"
        with pytest.raises(TooManyRedirects):
            await request(s, "GET", base + "/hop/4", LOOPBACK)


async def test_redirect_of_an_upload_is_refused() -> None:
    app = web.Application()

    async def bounce(request: web.Request) -> web.Response:
        raise web.HTTPPermanentRedirect("/elsewhere")

    app.router.add_post("/x", bounce)
    async with serve(app) as base, network() as s:
        with pytest.raises(RedirectRefused):
            await request(s, "POST", base + "/x", LOOPBACK, data=b"blob")


async def test_endless_body_hits_the_cap() -> None:
    sent = 0

    async def endless(request: web.Request) -> web.StreamResponse:
        nonlocal sent
        resp = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        await resp.prepare(request)
        chunk = b"\xab" * 65536
        try:
            while True:
                await resp.write(chunk)
                sent += len(chunk)
        except (ConnectionError, asyncio.CancelledError):
            pass
        return resp

    app = web.Application()
    app.router.add_get("/x", endless)
    policy = FetchPolicy(allow_insecure_loopback=True, max_body_bytes=1 << 20)
    async with serve(app) as base, network() as s:
        with pytest.raises(BodyTooLarge, match="aborted"):
            await asyncio.wait_for(request(s, "GET", base + "/x", policy), timeout=20)
    assert sent < 64 << 20  # the server was cut off, not drained


async def test_declared_oversize_body_fails_before_reading() -> None:
    app = web.Application()
    app.router.add_get("/x", reply(b"\0" * 4096))
    policy = FetchPolicy(allow_insecure_loopback=True, max_body_bytes=1024)
    async with serve(app) as base, network() as s:
        with pytest.raises(BodyTooLarge, match="declared"):
            await request(s, "GET", base + "/x", policy)


async def test_timeout_is_typed() -> None:
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.Response(body=b"late")

    app = web.Application()
    app.router.add_get("/x", slow)
    policy = FetchPolicy(allow_insecure_loopback=True, total_timeout_s=0.3)
    async with serve(app) as base, network() as s:
        with pytest.raises(FetchTimeout):
            await request(s, "GET", base + "/x", policy)


async def test_connection_refused_is_typed() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    async with network() as s:
        with pytest.raises(ServiceUnreachable):
            await request(s, "GET", f"http://127.0.0.1:{port}/x", LOOPBACK)


async def test_in_process_transport_is_held_to_the_same_rules() -> None:
    """Redirects across mounted origins are refused; caps are enforced while streaming."""
    transport = InProcessTransport()
    try:
        other = web.Application()
        other.router.add_get("/x", reply(b"elsewhere"))
        other_origin = transport.mount("other", other)

        async def bounce(request: web.Request) -> web.Response:
            raise web.HTTPFound(other_origin + "/x")

        app = web.Application()
        app.router.add_get("/bounce", bounce)
        app.router.add_get("/big", reply(b"\0" * 4096))
        origin = transport.mount("svc", app)
        with pytest.raises(RedirectRefused, match="another origin"):
            await request(transport, "GET", origin + "/bounce", FetchPolicy())
        with pytest.raises(BodyTooLarge):
            await request(transport, "GET", origin + "/big", FetchPolicy(max_body_bytes=1024))
        with pytest.raises(InsecureUrl):  # the virtual origins are https; http is refused
            await request(transport, "GET", origin.replace("https", "http") + "/big", LOOPBACK)
        assert (await request(transport, "GET", other_origin + "/x", FetchPolicy())).status == 200
        transport.take_down(other_origin)
        with pytest.raises(ServiceUnreachable, match="taken down"):
            await request(transport, "GET", other_origin + "/x", FetchPolicy())
        with pytest.raises(ServiceUnreachable, match="not mounted"):
            await request(transport, "GET", "https://nowhere.example/x", FetchPolicy())
    finally:
        await transport.aclose()


async def test_in_process_transport_falls_back_to_the_network() -> None:
    app = web.Application()
    app.router.add_get("/x", reply(b"from the network"))
    transport = InProcessTransport(fallback=AiohttpTransport())
    try:
        async with serve(app) as base:
            resp = await request(transport, "GET", base + "/x", LOOPBACK)
        assert resp.body == b"from the network"
    finally:
        await transport.aclose()

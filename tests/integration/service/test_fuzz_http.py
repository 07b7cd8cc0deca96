"""No request can produce a 500: hypothesis throws random methods, paths, queries, headers
and bodies (random bytes and mutated real blobs) at the application in process, and a
smaller batch at a real server process. Every error must be problem+json."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from invitekit_service.app import create_app
from invitekit_service.config import Settings

from .support import Invite, b64

INV = Invite()
GOOD = INV.blob(3)

segments = st.one_of(
    st.sampled_from(
        [
            b64(INV.slot),
            b64(INV.signer.lane_id),
            "open",
            "lanes",
            "blobs",
            "head",
            "presence",
            "v1",
            "slots",
            "a" * 64,
            "",
            "..",
            "%00",
            "%ff",
            "YWJjZA==",
            b64(b"\x00" * 300),
        ]
    ),
    st.text(max_size=12),
)


@st.composite
def paths(draw: st.DrawFn) -> str:
    if draw(st.booleans()):
        tail = draw(st.sampled_from(["/blobs", "/head", "/presence", "/blobs/" + "b" * 64, ""]))
        base = draw(st.sampled_from([INV.lane_path, INV.open_path]))
        return base + tail
    from urllib.parse import quote

    if draw(st.booleans()):
        slot = quote(draw(segments), safe="")
        lane = quote(draw(segments), safe="")
        kind = draw(st.sampled_from([f"lanes/{lane}", "open", lane]))
        tail = draw(st.sampled_from(["blobs", "head", "presence", "blobs/" + lane, ""]))
        return f"/v1/slots/{slot}/{kind}/{tail}"
    parts = draw(st.lists(segments, max_size=7))

    return "/x/" + "/".join(quote(p, safe="") for p in parts)


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    kind = draw(st.integers(0, 3))
    if kind == 0:
        return draw(st.binary(max_size=300))
    if kind == 1:
        data = bytearray(GOOD)
        for _ in range(draw(st.integers(1, 6))):
            i = draw(st.integers(0, len(data) - 1))
            data[i] = draw(st.integers(0, 255))
        return bytes(data)
    if kind == 2:
        return GOOD[: draw(st.integers(0, len(GOOD)))]
    return GOOD


headers_st = st.dictionaries(
    st.sampled_from(
        [
            "Invitekit-Signature",
            "If-None-Match",
            "Content-Type",
            "X-Forwarded-For",
            "Content-Encoding",
            "Accept",
        ]
    ),
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=100),
    max_size=4,
)
queries = st.dictionaries(
    st.sampled_from(["limit", "epoch", "group_state_hash", "x"]),
    st.one_of(
        st.text(max_size=30),
        st.sampled_from(["1", "0", "18446744073709551616", "99999999999999999999", "-1"]),
    ),
    max_size=3,
)
methods = st.sampled_from(["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"])


class _BackgroundServer:
    """The application on a real loopback socket, served from its own thread and loop."""

    def __init__(self, tmp_path: Path) -> None:
        import threading

        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        cfg = Settings(
            database=f"sqlite:///{tmp_path / 'fuzz.sqlite3'}",
            access_log=False,
            rate_limits_enabled=False,
            max_body_bytes=4096,
        )
        self.client: TestClient = self._run(self._start(cfg))

    async def _start(self, cfg: Settings) -> TestClient:
        client = TestClient(TestServer(create_app(cfg)))
        await client.start_server()
        return client

    def _run(self, coro):  # type: ignore[no-untyped-def]
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)

    def request(self, method: str, path: str, **kw) -> tuple[int, str]:  # type: ignore[no-untyped-def]
        async def once() -> tuple[int, str]:
            async with self.client.request(method, path, **kw) as r:
                await r.read()
                return r.status, r.content_type

        return self._run(once())

    def close(self) -> None:
        self._run(self.client.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


@pytest.fixture
def server(tmp_path: Path):
    srv = _BackgroundServer(tmp_path)
    yield srv
    srv.close()


def _check(status: int, ctype: str, method: str) -> None:
    assert status < 500, status
    if status >= 400 and method != "HEAD":
        assert ctype == "application/problem+json", (status, ctype)


def test_fuzz_in_process(server: _BackgroundServer) -> None:
    @settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
    @given(methods, paths(), queries, headers_st, bodies())
    def run(method: str, path: str, query: dict, headers: dict, body: bytes) -> None:
        status, ctype = server.request(
            method,
            path,
            params=query,
            headers=headers,
            data=body if method in ("POST", "PUT") else None,
        )
        _check(status, ctype, method)

    run()


async def test_fuzz_real_process(service_factory) -> None:
    svc = service_factory("--no-rate-limits-enabled", "--max-body-bytes", "4096")
    rng = __import__("random").Random(1234)
    async with aiohttp.ClientSession() as session:
        for i in range(300):
            method = rng.choice(["GET", "HEAD", "POST", "PUT", "DELETE"])
            base = rng.choice([INV.lane_path, INV.open_path, "/v1/slots/x", "/"])
            path = base + rng.choice(["/blobs", "/head", "/presence", "/blobs/" + "c" * 64, ""])
            body = rng.choice([os.urandom(rng.randint(0, 200)), GOOD, GOOD[:-3], b""])
            hdrs = rng.choice(
                [
                    {},
                    {"Invitekit-Signature": b64(os.urandom(64))},
                    INV.sign(GOOD),
                    {"If-None-Match": "*"},
                ]
            )
            async with session.request(
                method, svc.base_url + path, data=body, headers=hdrs, params={"limit": str(i % 40)}
            ) as r:
                await r.read()
                _check(r.status, r.content_type, method)
        oversized = os.urandom(10_000)
        async with session.post(svc.base_url + INV.open_path + "/blobs", data=oversized) as r:
            assert r.status == 413
    assert svc.proc is not None
    assert svc.proc.poll() is None

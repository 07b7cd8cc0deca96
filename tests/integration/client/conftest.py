"""Fixtures: blob services (temp SQLite), TLS fronts, an MLS world, and a client.

By default ``service``/``start_service`` mount the real service app in this process
(:class:`~invitekit.client.inprocess.InProcessTransport`: no subprocess, no TCP port) and
``client`` talks to them through that transport (falling back to the network for the
hostile loopback servers some tests start). A test module or test marked
``service_process`` gets real ``invitekit-service`` processes on 127.0.0.1 instead — the
tests about sockets, TLS and the CLI (which makes its own network client).
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from invitekit.client import AiohttpTransport, FetchPolicy, InProcessTransport, InviteClient
from tests.support.processes import free_port

from .servers import serve
from .tls import SelfSignedCert, make_cert
from .world import World


@dataclass
class ServiceProcess:
    """One ``invitekit-service`` process; ``url`` is its API root."""

    db: Path
    port: int
    extra: tuple[str, ...] = ()
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> ServiceProcess:
        cmd = [
            sys.executable,
            "-m",
            "invitekit_service",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--database",
            f"sqlite:///{self.db}",
            "--no-rate-limits-enabled",
            "--log-level",
            "WARNING",
            "--no-access-log",
            *self.extra,
        ]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise RuntimeError(f"service exited early: {err}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=1):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("service did not become healthy")

    def kill(self) -> None:
        """SIGKILL: the process dies mid-whatever, like a crashed mirror."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


@dataclass
class InProcessService:
    """The real service app mounted in this process; ``url`` is its API root."""

    transport: InProcessTransport
    url: str

    def kill(self) -> None:
        """The host vanishes: every later request fails as unreachable."""
        self.transport.take_down(self.url)

    def stop(self) -> None:
        self.kill()


Service = ServiceProcess | InProcessService


@pytest.fixture
async def inprocess() -> AsyncIterator[InProcessTransport]:
    transport = InProcessTransport(fallback=AiohttpTransport())
    yield transport
    await transport.aclose()


@pytest.fixture
def start_service(
    request: pytest.FixtureRequest, tmp_path: Path, inprocess: InProcessTransport
) -> Iterator[Callable[..., Service]]:
    started: list[ServiceProcess] = []
    as_process = request.node.get_closest_marker("service_process") is not None

    def start(name: str = "svc") -> Service:
        db = tmp_path / f"{name}.sqlite3"
        if not as_process:
            url = inprocess.add_service(
                name,
                f"sqlite:///{db}",
                rate_limits_enabled=False,
                access_log=False,
                log_level="WARNING",
            )
            return InProcessService(inprocess, url)
        svc = ServiceProcess(db, free_port()).start()
        started.append(svc)
        return svc

    yield start
    for svc in started:
        svc.stop()


@pytest.fixture
def service(start_service: Callable[..., Service]) -> Service:
    return start_service("a")


@pytest.fixture
async def client(inprocess: InProcessTransport) -> AsyncIterator[InviteClient]:
    async with InviteClient(FetchPolicy(allow_insecure_loopback=True), transport=inprocess) as c:
        yield c


@pytest.fixture
def world(tmp_path: Path) -> World:
    (tmp_path / "mls").mkdir()
    world = World(tmp_path / "mls")
    world.create("admin")
    return world


@pytest.fixture(scope="session")
def cert(tmp_path_factory: pytest.TempPathFactory) -> SelfSignedCert:
    return make_cert(Path(tmp_path_factory.mktemp("tls")))


@pytest.fixture
async def tls_front(cert: SelfSignedCert) -> AsyncIterator[Callable[[str], object]]:
    """Start TLS reverse proxies in front of plain-http services: ``await front(url)``."""
    stack: list[object] = []
    session = aiohttp.ClientSession()

    async def front(upstream: str) -> str:
        upstream_root = upstream.rsplit("/v1", 1)[0]

        async def forward(request: web.Request) -> web.Response:
            async with session.request(
                request.method,
                upstream_root + request.path_qs,
                data=await request.read(),
                headers={k: v for k, v in request.headers.items() if k.lower() != "host"},
                allow_redirects=False,
            ) as resp:
                body = await resp.read()
                hop = {"transfer-encoding", "content-encoding", "content-length", "connection"}
                headers = {k: v for k, v in resp.headers.items() if k.lower() not in hop}
                return web.Response(status=resp.status, body=body, headers=headers)

        app = web.Application(client_max_size=64 << 20)
        app.router.add_route("*", "/{tail:.*}", forward)
        ctx = serve(app, ssl_context=cert.server_context())
        base = await ctx.__aenter__()
        stack.append(ctx)
        return base + "/v1"

    yield front  # type: ignore[misc]
    for ctx in reversed(stack):
        await ctx.__aexit__(None, None, None)  # type: ignore[attr-defined]
    await session.close()

"""A transport that serves aiohttp applications inside this process — for fast flow tests and
for applications that embed the blob service.

Each application is mounted under a virtual origin (``https://<name>.inprocess.invalid``;
the ``.invalid`` TLD never resolves, so a mounted name cannot shadow a real host) and
served by aiohttp's own server on a Unix-domain socket in a private temporary directory;
requests reach it through aiohttp's client. So an exchange runs the real HTTP parser, the
real middleware and handlers, the real streamed body cap and timeouts — without a
subprocess, a TCP port or any network. (aiohttp has no public socket-free entry point like
ASGI's ``scope``/``receive``/``send``: feeding its request handler through a fake
``asyncio.Transport`` would depend on private protocol internals.)

The hygiene rules still apply: the client sees https URLs, and redirects, caps and
timeouts are enforced as for the network. Origins that are not mounted go to ``fallback``
(none by default: :class:`~.errors.ServiceUnreachable`).

:meth:`InProcessTransport.add_service` builds the real blob service (``invitekit_service.app``),
imported lazily so the library install does not need the service's dependencies.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from yarl import URL

from ..protocol import API_ROOT
from .errors import DuplicateMount, ServiceUnreachable
from .transport import HttpResponse, Transport, TransportRequest, exchange, new_session, origin_of

VIRTUAL_TLD = "inprocess.invalid"


@dataclass
class _Mounted:
    app: web.Application
    path: str
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    runner: web.AppRunner | None = None
    session: aiohttp.ClientSession | None = None
    up: bool = True


class InProcessTransport:
    """Routes each request by origin to an application mounted in this process.

    Mounting is synchronous; an application starts (its startup hooks run) on the first
    request to its origin, or on :meth:`start`.
    """

    def __init__(self, *, fallback: Transport | None = None) -> None:
        self._fallback = fallback
        self._mounted: dict[str, _Mounted] = {}
        self._dir: Path | None = None

    @staticmethod
    def origin(name: str) -> str:
        """The virtual https origin of a mounted name."""
        return f"https://{name}.{VIRTUAL_TLD}"

    def mount(self, name: str, app: web.Application) -> str:
        """Serve ``app`` under ``name``; return its origin (``https://<name>.inprocess.invalid``)."""
        origin = self.origin(name)
        key = origin_of(URL(origin))
        if key in self._mounted:
            raise DuplicateMount(f"{key} is already mounted")
        if self._dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix="invitekit-inproc-"))
        self._mounted[key] = _Mounted(app, str(self._dir / f"{len(self._mounted)}.sock"))
        return origin

    def add_service(self, name: str, database: str, **settings: Any) -> str:
        """Mount the real blob service on ``database`` (a URL such as ``sqlite:///…``);
        ``settings`` override :class:`invitekit_service.config.Settings` fields. Returns the API
        root URL (``https://<name>.inprocess.invalid/v1``)."""
        from invitekit_service.app import create_app  # noqa: PLC0415 - the service is an optional extra
        from invitekit_service.config import Settings  # noqa: PLC0415

        app = create_app(Settings(database=database, **settings))
        return self.mount(name, app) + API_ROOT

    async def start(self, url: str) -> None:
        """Start the application mounted at ``url``'s origin now (idempotent)."""
        await self._session(self._entry(url), origin_of(URL(url)))

    async def _session(self, entry: _Mounted, where: str) -> aiohttp.ClientSession:
        async with entry.lock:
            if entry.session is None:
                runner = web.AppRunner(entry.app, access_log=None, handle_signals=False)
                try:
                    await runner.setup()
                    await web.UnixSite(runner, entry.path).start()
                except Exception as exc:
                    await runner.cleanup()
                    raise ServiceUnreachable(
                        f"{where} failed to start ({type(exc).__name__})"
                    ) from exc
                entry.runner = runner
                entry.session = new_session(connector=aiohttp.UnixConnector(path=entry.path))
            return entry.session

    def take_down(self, url: str) -> None:
        """Make a mounted origin unreachable from now on, like a crashed host (its app keeps
        running until :meth:`aclose`, so nothing it acknowledged is lost)."""
        self._entry(url).up = False

    def bring_up(self, url: str) -> None:
        """Make a taken-down origin reachable again."""
        self._entry(url).up = True

    def _entry(self, url: str) -> _Mounted:
        where = origin_of(URL(url))
        mounted = self._mounted.get(where)
        if mounted is None:
            raise ServiceUnreachable(f"{where} is not mounted in this process")
        return mounted

    async def send(self, request: TransportRequest) -> HttpResponse:
        """Serve ``request`` from the mounted application of its origin (or the fallback)."""
        where = origin_of(request.url)
        mounted = self._mounted.get(where)
        if mounted is None:
            if self._fallback is None:
                raise ServiceUnreachable(f"{where} unreachable (not mounted in this process)")
            return await self._fallback.send(request)
        if not mounted.up:
            raise ServiceUnreachable(f"{where} unreachable (taken down)")
        session = await self._session(mounted, where)
        return await exchange(session, request, target=request.url.with_scheme("http"))

    async def aclose(self) -> None:
        """Stop every mounted application (cleanup hooks run) and the fallback."""
        mounted, self._mounted = self._mounted, {}
        for entry in mounted.values():
            if entry.session is not None:
                await entry.session.close()
            if entry.runner is not None:
                await entry.runner.cleanup()
        if self._fallback is not None:
            await self._fallback.aclose()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None


__all__ = ["VIRTUAL_TLD", "InProcessTransport"]

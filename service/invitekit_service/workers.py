"""Serving processes: one in-process worker (``--workers 1``), or gunicorn's arbiter running N
aiohttp workers (``GunicornUVLoopWebWorker``) on one shared listening socket.

Both run the same worker (:func:`build_runner`): the app, the connection guard and, with
``metrics_listen``, the metrics-only site. The entry point binds every listening socket
before either starts (so a busy port is one line and status 2, and workers inherit the
sockets: no ``SO_REUSEPORT`` is needed) and prepares the database once.

Invariants of the gunicorn mode:

* worker ``i`` of ``N`` keeps its index across restarts (``pre_fork`` gives a new worker the
  lowest free index); worker 0 runs the garbage collector;
* a worker that dies is restarted, at most ``worker_max_restarts`` times per
  ``worker_restart_window_s``; past that the arbiter stops the others and exits 1;
* SIGTERM stops every worker gracefully (``graceful_timeout_s``, then SIGKILL) and exits 0;
* workers die with the arbiter: the kernel sends them SIGTERM when it dies
  (``PR_SET_PDEATHSIG``), and aiohttp's worker also checks its parent id every second;
* each worker opens its own store after the fork (its own SQLite writer thread and group
  commit, or its own PostgreSQL pool); the arbiter holds no database connection;
* a dead worker's live gauges are dropped from the shared metric files; its counters stay.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import itertools
import logging
import math
import os
import resource
import signal
import socket
import sys
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

import uvloop
from aiohttp import web
from aiohttp.worker import GunicornUVLoopWebWorker
from gunicorn import glogging
from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter
from gunicorn.errors import HaltServer

from . import logs, metrics
from .app import create_app, create_metrics_app
from .config import Settings, split_host_port
from .connections import (
    ConnectionGuard,
    GuardedAppRunner,
    default_max_connections,
    install,
)

BACKLOG = 2048
_PR_SET_PDEATHSIG = 1


def bind(host: str, port: int) -> list[socket.socket]:
    """Listening sockets for every address ``host`` resolves to (``OSError`` if one fails)."""
    infos = socket.getaddrinfo(
        host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )
    sockets: list[socket.socket] = []
    seen: set[tuple[int, Any]] = set()
    try:
        for family, kind, proto, _, address in infos:
            if (family, address) in seen:
                continue
            seen.add((family, address))
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            if port == 0 and len(sockets) > 1:  # every address on the port the first got
                sock.bind((address[0], sockets[0].getsockname()[1], *address[2:]))
            else:
                sock.bind(address)
            sock.listen(BACKLOG)
            sock.setblocking(False)
            sock.set_inheritable(True)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def bind_metrics(settings: Settings) -> list[socket.socket]:
    """The sockets of ``metrics_listen`` (none when /metrics is on the public port)."""
    if settings.metrics_listen is None:
        return []
    host, port = split_host_port(settings.metrics_listen)
    return bind(host, port)


def build_runner(
    settings: Settings, *, index: int, metrics_sockets: Sequence[socket.socket] = ()
) -> GuardedAppRunner:
    """One worker's runner (not yet set up): the app behind the connection guard, GC in
    worker 0, and the metrics-only site on ``metrics_sockets`` while the app runs."""
    soft_limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    guard = ConnectionGuard(
        max_connections=settings.max_connections or default_max_connections(soft_limit),
        header_timeout_s=settings.header_timeout_s,
    )
    app = create_app(settings, run_gc=index == 0)
    install(app, guard)
    logger = logs.service_logger()
    metrics_runner: list[web.AppRunner] = []

    async def _started(app: web.Application) -> None:
        if metrics_sockets:
            runner = web.AppRunner(create_metrics_app(app), handle_signals=False, access_log=None)
            await runner.setup()
            metrics_runner.append(runner)
            for sock in metrics_sockets:
                await web.SockSite(runner, sock, backlog=BACKLOG).start()
        logs.event(
            logger,
            "worker started",
            worker=index,
            pid=os.getpid(),
            max_connections=guard.max_connections,
        )

    async def _stopping(app: web.Application) -> None:
        for runner in metrics_runner:
            await runner.cleanup()
        guard.close()

    app.on_startup.append(_started)
    app.on_shutdown.append(_stopping)
    return GuardedAppRunner(
        app,
        guard,
        keepalive_timeout=settings.idle_timeout_s,
        lingering_time=min(2.0, settings.body_timeout_s),
        access_log=None,
        shutdown_timeout=settings.graceful_timeout_s,
    )


# --- one process ------------------------------------------------------------------------


async def serve(
    settings: Settings,
    sockets: Sequence[socket.socket],
    metrics_sockets: Sequence[socket.socket] = (),
) -> None:
    """Serve on ``sockets`` in this process until SIGTERM/SIGINT."""
    runner = build_runner(settings, index=0, metrics_sockets=metrics_sockets)
    await runner.setup()
    try:
        for sock in sockets:
            await web.SockSite(runner, sock, backlog=BACKLOG).start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        await runner.cleanup()  # closes the store: its threads must not keep the process up
        logs.event(logs.service_logger(), "stopped", worker=0)


def run_one(
    settings: Settings,
    sockets: Sequence[socket.socket],
    metrics_sockets: Sequence[socket.socket] = (),
) -> None:
    """:func:`serve` on uvloop."""
    uvloop.run(serve(settings, sockets, metrics_sockets))


# --- gunicorn ---------------------------------------------------------------------------


class ServiceWorker(GunicornUVLoopWebWorker):
    """aiohttp's uvloop gunicorn worker, serving :func:`build_runner`'s runner."""

    index = 0  # set by the arbiter's pre_fork hook

    def handle_exit(self, sig: int, frame: Any) -> None:
        """SIGTERM (also the kernel's, when the arbiter dies): stop now, gracefully — aiohttp's
        worker would notice only at its next once-a-second check."""
        self.handle_quit(sig, frame)

    def load_wsgi(self) -> None:
        """The "application" aiohttp's worker awaits: a coroutine returning our runner."""
        self.wsgi = self._runner

    async def _runner(self) -> web.AppRunner:
        service: GunicornService = self.app
        runner = build_runner(
            service.settings, index=self.index, metrics_sockets=service.metrics_sockets
        )
        backlog_task: list[asyncio.Task[None]] = []

        async def _started(app: web.Application) -> None:
            backlog_task.append(asyncio.create_task(self._widen_backlog()))

        runner.app.on_startup.append(_started)
        return runner

    async def _widen_backlog(self) -> None:
        """aiohttp's worker starts its sites with the default backlog (128), and the event
        loop calls ``listen(128)`` on the shared socket: set it back to :data:`BACKLOG` once
        the sites are up (a connection burst must not be refused at 129)."""
        while not self.booted and self.alive:
            await asyncio.sleep(0.05)
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.listen(BACKLOG)


class JsonGunicornLogger(glogging.Logger):  # type: ignore[misc]
    """gunicorn's own messages (arbiter and workers) as the service's JSON lines."""

    def setup(self, cfg: Any) -> None:
        """gunicorn's set-up, then its handlers replaced by the process's JSON handler."""
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for handler in list(log.handlers):
                log.removeHandler(handler)
        self.error_log.propagate = True  # the root logger writes JSON lines


class _Arbiter(Arbiter):  # type: ignore[misc]
    """gunicorn's arbiter, remembering which exits it asked for (a stop, a reload, fewer
    workers): those are not deaths and cost no restart budget."""

    stopping = False

    def __init__(self, app: Any) -> None:
        super().__init__(app)
        self.retired: set[int] = set()

    def stop(self, graceful: bool = True) -> None:
        self.stopping = True
        super().stop(graceful)

    def reload(self) -> None:
        """SIGHUP: new workers replace the current ones, taking over their indices."""
        for worker in self.WORKERS.values():
            worker.outgoing = True
        super().reload()

    def kill_worker(self, pid: int, sig: int) -> None:
        if sig in (signal.SIGTERM, signal.SIGQUIT):
            self.retired.add(pid)
        super().kill_worker(pid, sig)


class GunicornService(BaseApplication):  # type: ignore[misc]
    """The gunicorn application: configuration from :class:`Settings`, pre-bound sockets."""

    def __init__(
        self,
        settings: Settings,
        sockets: Sequence[socket.socket],
        metrics_sockets: Sequence[socket.socket],
    ) -> None:
        self.settings = settings
        # gunicorn closes the descriptors it is given once it has wrapped them: give it copies.
        self.bind_fds = [os.dup(sock.fileno()) for sock in sockets]
        self.metrics_sockets = list(metrics_sockets)
        self.restarts: deque[float] = deque()
        self.service_logger = logs.service_logger()
        super().__init__()

    def load_config(self) -> None:
        """Every gunicorn setting the service uses (nothing from gunicorn's own files)."""
        s = self.settings
        options: dict[str, Any] = {
            "bind": [f"fd://{fd}" for fd in self.bind_fds],
            "workers": s.workers,
            "worker_class": ServiceWorker,
            "timeout": max(1, math.ceil(s.worker_timeout_s)),
            "graceful_timeout": max(1, math.ceil(s.graceful_timeout_s)),
            "loglevel": s.log_level.lower(),
            "logger_class": JsonGunicornLogger,
            "accesslog": None,
            "errorlog": "-",
            "proc_name": "invitekit-service",
            "control_socket_disable": True,
            "pre_fork": _pre_fork,
            "post_fork": _post_fork,
            "child_exit": _child_exit,
        }
        for key, value in options.items():
            self.cfg.set(key, value)

    def load(self) -> None:
        """Nothing to load in the arbiter: each worker builds its own app after the fork."""
        return

    def run(self) -> None:
        """Run the arbiter until it exits (``SystemExit`` with its status)."""
        _Arbiter(self).run()

    def may_restart(self) -> bool:
        """Count one worker death; False once the restart budget of the window is spent."""
        now = time.monotonic()
        window = self.settings.worker_restart_window_s
        while self.restarts and now - self.restarts[0] > window:
            self.restarts.popleft()
        if len(self.restarts) >= self.settings.worker_max_restarts:
            return False
        self.restarts.append(now)
        return True


def _pre_fork(server: Any, worker: Any) -> None:
    """Arbiter: the new worker takes the lowest index no living worker holds."""
    taken = {
        getattr(w, "index", None)
        for w in server.WORKERS.values()
        if not getattr(w, "outgoing", False)  # replaced by a reload: its index is free
    }
    worker.index = next(i for i in itertools.count() if i not in taken)


def _post_fork(server: Any, worker: Any) -> None:
    """Worker: die with the arbiter."""
    _die_with_parent(server.pid)


def _child_exit(server: Any, worker: Any) -> None:
    """Arbiter: a worker exited. Drop its live gauges; restart it within the budget."""
    metrics.worker_exited(worker.pid)
    if server.stopping or worker.pid in server.retired:
        server.retired.discard(worker.pid)
        return
    service: GunicornService = server.app
    logger = service.service_logger
    logs.event(logger, "worker exited", logging.WARNING, worker=worker.index, pid=worker.pid)
    if not service.may_restart():
        logs.event(logger, "giving up: workers keep dying", logging.ERROR)
        raise HaltServer("workers keep dying", 1)


def _die_with_parent(parent: int) -> None:
    """Ask Linux to SIGTERM this process when its parent dies; exit if it already has."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(0)


def run_gunicorn(
    settings: Settings,
    sockets: Sequence[socket.socket],
    metrics_sockets: Sequence[socket.socket] = (),
) -> int:
    """Run gunicorn's arbiter with ``settings.workers`` workers; its exit status."""
    service = GunicornService(settings, sockets, metrics_sockets)
    for sock in sockets:  # the arbiter holds its own copies now
        sock.close()
    try:
        service.run()
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0


__all__ = [
    "BACKLOG",
    "GunicornService",
    "JsonGunicornLogger",
    "ServiceWorker",
    "bind",
    "bind_metrics",
    "build_runner",
    "run_gunicorn",
    "run_one",
    "serve",
]

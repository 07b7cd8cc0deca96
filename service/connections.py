"""Connection guard: a bound on open connections and a deadline on request heads.

Each accepted connection gets a thin :class:`GuardedProtocol` in front of aiohttp's own
protocol (plain asyncio delegation, no aiohttp internals). Invariants:

* at most ``max_connections`` connections are open in this process: a new connection past
  the bound closes the connection that has been idle longest (no request in progress), or,
  when every connection is busy, is itself closed at once. The bound sits below the
  descriptor limit, so ``accept`` never fails and health checks and reads keep answering;
* once a request head has started to arrive, it must be complete within ``header_timeout_s``
  or the connection is closed (slow-loris). Idle connections are closed by aiohttp's
  keep-alive timer (``idle_timeout_s``), which also runs from the moment of connecting.

The edge middleware tells the guard when a request is in progress (:func:`request_started`,
:func:`request_finished`); body deadlines live in :mod:`service.bodies`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, cast

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest
from prometheus_client import Gauge

from invitekit.protocol import ProblemCode

from . import logs
from .problems import Problem, problem_response
from .state import STATE_KEY

#: Descriptors kept free for the database, its WAL and shared-memory files, logs.
DESCRIPTOR_RESERVE = 256
_GUARD_KEY: web.AppKey[ConnectionGuard] = web.AppKey("connection_guard")


def raise_descriptor_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit; return the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if target > soft:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def default_max_connections(soft_limit: int) -> int:
    """Connections a process may hold under a descriptor limit (leaving the reserve free)."""
    return max(16, soft_limit - DESCRIPTOR_RESERVE)


class ProblemRequestHandler(RequestHandler):
    """aiohttp's protocol, except that errors it answers itself (a request it cannot parse:
    bad request line, oversize or malformed headers, broken chunking) are problem+json and
    are logged as one JSON line with the status only — never the parser's message, which
    quotes request bytes."""

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """A problem+json answer that closes the connection; no request bytes anywhere."""
        logs.event(
            logs.service_logger(),
            "request refused by the HTTP parser" if status < 500 else "request failed",
            logging.WARNING if status < 500 else logging.ERROR,
            status=status,
            exc_type=None if exc is None else type(exc).__name__,
        )
        if request.writer.output_size > 0:
            raise ConnectionError("response already started")
        if 400 <= status < 500:
            problem = Problem(ProblemCode.BAD_REQUEST, status=status, close=True)
        elif status == 504:
            problem = Problem(ProblemCode.UNAVAILABLE, headers={"Retry-After": "1"}, close=True)
        else:
            problem = Problem(ProblemCode.INTERNAL, close=True)
        return problem_response(problem)


def handler_factory(server: web.Server, **kwargs: Any) -> Callable[[], RequestHandler]:
    """Build :class:`ProblemRequestHandler` s for ``server`` (kwargs: RequestHandler's)."""
    loop = asyncio.get_running_loop()
    return lambda: ProblemRequestHandler(server, loop=loop, **kwargs)


class GuardedProtocol(asyncio.Protocol):
    """Delegates to aiohttp's protocol; tracks activity for the guard."""

    def __init__(self, guard: ConnectionGuard, inner: asyncio.Protocol) -> None:
        self.guard = guard
        self.inner = inner
        self.transport: asyncio.Transport | None = None
        self.in_request = False
        self._head_timer: asyncio.TimerHandle | None = None
        self._shed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Admit (possibly shedding an idle connection) or close at once."""
        self.transport = cast(asyncio.Transport, transport)
        if not self.guard.admit(self):
            self._shed = True
            self.transport.abort()
            return
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        """Start the head deadline on the first byte of a request head."""
        if self._shed:
            return
        if not self.in_request and self._head_timer is None and data:
            self._head_timer = asyncio.get_running_loop().call_later(
                self.guard.header_timeout_s, self._head_expired
            )
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        """Delegate."""
        return None if self._shed else self.inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the connection; delegate."""
        self._cancel_head_timer()
        if self._shed:
            return
        self.guard.forget(self)
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        """Delegate."""
        if not self._shed:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        """Delegate."""
        if not self._shed:
            self.inner.resume_writing()

    def started(self) -> None:
        """A complete request head arrived; its handler runs."""
        self._cancel_head_timer()
        self.in_request = True
        self.guard.idle.pop(self, None)

    def finished(self) -> None:
        """The handler returned; the connection is idle again."""
        self.in_request = False
        if self.inner in self.guard.open:
            self.guard.idle[self] = None  # the most recently idle go last

    def close(self) -> None:
        """Close the connection now."""
        if self.transport is not None:
            self.transport.abort()

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_expired(self) -> None:
        self._head_timer = None
        if not self.in_request:
            self.guard.timed_out += 1
            self.close()


class ConnectionGuard:
    """The open connections of one process and the limits applied to them."""

    def __init__(self, *, max_connections: int, header_timeout_s: float) -> None:
        self.max_connections = max_connections
        self.header_timeout_s = header_timeout_s
        self.open: dict[asyncio.Protocol, GuardedProtocol] = {}
        #: Open connections with no request in progress, longest idle first.
        self.idle: OrderedDict[GuardedProtocol, None] = OrderedDict()
        self.shed = 0
        self.timed_out = 0

    def factory(self, inner_factory: Callable[[], Any]) -> Callable[[], GuardedProtocol]:
        """A protocol factory for ``loop.create_server`` wrapping aiohttp's."""
        return lambda: GuardedProtocol(self, inner_factory())

    def admit(self, conn: GuardedProtocol) -> bool:
        """Make room for ``conn`` (closing the longest-idle connection) or refuse it."""
        if len(self.open) >= self.max_connections:
            self.shed += 1
            if not self.idle:
                return False
            victim = next(iter(self.idle))
            self.forget(victim)
            victim.close()
        self.open[conn.inner] = conn
        self.idle[conn] = None
        return True

    def forget(self, conn: GuardedProtocol) -> None:
        """``conn`` is gone."""
        self.open.pop(conn.inner, None)
        self.idle.pop(conn, None)

    def of(self, protocol: object) -> GuardedProtocol | None:
        """The guarded connection behind aiohttp's protocol object, if guarded."""
        return self.open.get(protocol)  # type: ignore[call-overload,no-any-return]


def install(app: web.Application, guard: ConnectionGuard) -> None:
    """Let the middleware of ``app`` report request progress to ``guard``; export its counts."""
    app[_GUARD_KEY] = guard
    registry = app[STATE_KEY].metrics.registry
    for name, doc, read in (
        ("invitekit_open_connections", "Open connections", lambda: len(guard.open)),
        (
            "invitekit_connections_shed",
            "Connections closed to stay under the bound",
            lambda: guard.shed,
        ),
        (
            "invitekit_head_timeouts",
            "Connections closed for a slow request head",
            lambda: guard.timed_out,
        ),
    ):
        Gauge(name, doc, registry=registry).set_function(read)


def request_started(request: web.Request) -> GuardedProtocol | None:
    """Mark the request's connection busy (no-op when the app runs unguarded)."""
    guard = request.app.get(_GUARD_KEY)
    conn = None if guard is None else guard.of(request.protocol)
    if conn is not None:
        conn.started()
    return conn


def request_finished(conn: GuardedProtocol | None) -> None:
    """Mark the connection idle again."""
    if conn is not None:
        conn.finished()


__all__ = [
    "DESCRIPTOR_RESERVE",
    "ConnectionGuard",
    "GuardedProtocol",
    "ProblemRequestHandler",
    "default_max_connections",
    "handler_factory",
    "install",
    "raise_descriptor_limit",
    "request_finished",
    "request_started",
]

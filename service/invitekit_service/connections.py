"""Connection guard: a bound on open connections and a deadline on request heads.

Each accepted connection is a :class:`GuardedRequestHandler` — aiohttp's own protocol with
problem+json parser errors and the guard's bookkeeping (a subclass, so the per-request path
pays no delegation). Invariants:

* at most ``max_connections`` connections are open in this process: a new connection past
  the bound closes the connection that has been idle longest (no request in progress), or,
  when every connection is busy, is itself closed at once. The bound sits below the
  descriptor limit, so ``accept`` never fails and health checks and reads keep answering;
* once a request head has started to arrive, it must be complete within ``header_timeout_s``
  or the connection is closed (slow-loris). One sweep per process checks the deadlines
  (``sweep_interval_s``, at most a quarter of the timeout), so a head is cut off between
  ``header_timeout_s`` and ``header_timeout_s + sweep_interval_s`` after its first byte.
  Idle connections are closed by aiohttp's keep-alive timer (``idle_timeout_s``), which
  also runs from the moment of connecting.

The edge middleware tells the guard when a request is in progress (:func:`request_started`,
:func:`request_finished`); body deadlines live in :mod:`invitekit_service.bodies`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
from collections import OrderedDict
from typing import Any, cast

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from invitekit.protocol import ProblemCode

from . import logs
from .problems import Problem, problem_response
from .state import STATE_KEY

#: Descriptors kept free for the database, its WAL and shared-memory files, logs.
DESCRIPTOR_RESERVE = 256


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


class GuardedRequestHandler(RequestHandler):
    """aiohttp's protocol, with the guard's bookkeeping, and with errors it answers itself
    (a request it cannot parse: bad request line, oversize or malformed headers, broken
    chunking) as problem+json, logged as one JSON line with the status only — never the
    parser's message, which quotes request bytes."""

    def __init__(self, guard: ConnectionGuard, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.guard = guard
        self.in_request = False
        self.shed = False
        self.transport_: asyncio.Transport | None = None
        self.closing = False
        self.drained: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Admit (possibly shedding an idle connection) or close at once."""
        self.transport_ = cast(asyncio.Transport, transport)
        if not self.guard.admit(self):
            self.shed = True
            self.transport_.abort()
            return
        super().connection_made(transport)

    def data_received(self, data: bytes) -> None:
        """Start the head deadline on the first byte of a request head."""
        if self.shed:
            return
        if not self.in_request and data:
            self.guard.head_started(self)
        super().data_received(data)

    def connection_lost(self, exc: BaseException | None) -> None:
        """Forget the connection."""
        if self.shed:
            return
        self.guard.forget(self)
        super().connection_lost(exc)

    def started(self) -> None:
        """A complete request head arrived; its handler runs."""
        self.in_request = True
        guard = self.guard
        guard.heads.pop(self, None)
        guard.idle.pop(self, None)

    def finished(self) -> None:
        """The handler returned; the connection is idle again (or closes, when stopping)."""
        self.in_request = False
        if self in self.guard.open:
            self.guard.idle[self] = None  # the most recently idle go last
        if self.closing:
            super().close()  # after this response; the body was read in full
        if self.drained is not None and not self.drained.done():
            self.drained.set_result(None)

    def close(self) -> None:
        """Graceful stop: close now if idle; else after the request in progress.

        aiohttp ignores every byte that arrives after ``close()``, so a request whose body
        was still arriving when the service began to stop would be lost; the close waits
        for its handler instead.
        """
        if self.in_request:
            self.closing = True
            return
        super().close()

    async def shutdown(self, timeout: float | None = 15.0) -> None:
        """Let the request in progress read its body and finish (within ``timeout``), then
        aiohttp's shutdown."""
        if self.in_request and timeout:
            self.drained = asyncio.get_running_loop().create_future()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(self.drained), timeout)
        await super().shutdown(timeout)

    def close_now(self) -> None:
        """Close the connection now."""
        if self.transport_ is not None:
            self.transport_.abort()

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


class ConnectionGuard:
    """The open connections of one process and the limits applied to them."""

    def __init__(self, *, max_connections: int, header_timeout_s: float) -> None:
        self.max_connections = max_connections
        self.header_timeout_s = header_timeout_s
        self.sweep_interval_s = min(1.0, header_timeout_s / 4)
        self.open: set[GuardedRequestHandler] = set()
        #: Open connections with no request in progress, longest idle first.
        self.idle: OrderedDict[GuardedRequestHandler, None] = OrderedDict()
        #: Connections whose request head is arriving → when its first byte came (loop time);
        #: insertion order is arrival order, so the sweep stops at the first one in time.
        self.heads: dict[GuardedRequestHandler, float] = {}
        self.shed = 0
        self.timed_out = 0
        self._sweeper: asyncio.TimerHandle | None = None

    def admit(self, conn: GuardedRequestHandler) -> bool:
        """Make room for ``conn`` (closing the longest-idle connection) or refuse it."""
        if len(self.open) >= self.max_connections:
            self.shed += 1
            if not self.idle:
                return False
            victim = next(iter(self.idle))
            self.forget(victim)
            victim.close_now()
        self.open.add(conn)
        self.idle[conn] = None
        return True

    def head_started(self, conn: GuardedRequestHandler) -> None:
        """The first byte of a request head arrived on ``conn`` (later bytes: no-op)."""
        heads = self.heads
        if conn not in heads:
            loop = asyncio.get_running_loop()
            heads[conn] = loop.time()
            if self._sweeper is None:
                self._sweeper = loop.call_later(self.sweep_interval_s, self._sweep)

    def _sweep(self) -> None:
        """Close connections whose request head is overdue; re-arm while heads are pending."""
        self._sweeper = None
        loop = asyncio.get_running_loop()
        cutoff = loop.time() - self.header_timeout_s
        heads = self.heads
        while heads:
            conn, since = next(iter(heads.items()))
            if since > cutoff:
                break
            del heads[conn]
            if not conn.in_request:
                self.timed_out += 1
                self.forget(conn)
                conn.close_now()
        if heads:
            self._sweeper = loop.call_later(self.sweep_interval_s, self._sweep)

    def forget(self, conn: GuardedRequestHandler) -> None:
        """``conn`` is gone."""
        self.open.discard(conn)
        self.idle.pop(conn, None)
        self.heads.pop(conn, None)

    def close(self) -> None:
        """Stop the deadline sweep."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None


class GuardedServer(web.Server):
    """aiohttp's low-level server whose every connection is a :class:`GuardedRequestHandler`
    of ``guard``."""

    def __init__(self, guard: ConnectionGuard, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.guard = guard

    def __call__(self) -> GuardedRequestHandler:
        """The protocol of one accepted connection."""
        return GuardedRequestHandler(self.guard, self, loop=self._loop, **self._kwargs)


class GuardedAppRunner(web.AppRunner):
    """An :class:`aiohttp.web.AppRunner` whose server guards its connections: every site
    started on it (``web.SockSite``, in one process or in a gunicorn worker) is guarded."""

    def __init__(self, app: web.Application, guard: ConnectionGuard, **kwargs: Any) -> None:
        super().__init__(app, handle_signals=False, **kwargs)
        self.guard = guard

    async def _make_server(self) -> web.Server:
        plain = await super()._make_server()  # starts the app
        return GuardedServer(
            self.guard,
            plain.request_handler,
            request_factory=plain.request_factory,
            handler_cancellation=plain.handler_cancellation,
            loop=asyncio.get_running_loop(),
            **plain._kwargs,
        )


def install(app: web.Application, guard: ConnectionGuard) -> None:
    """Export the counts of ``guard`` in the metrics of ``app``."""
    metrics = app[STATE_KEY].metrics
    metrics.sampled_gauge("invitekit_open_connections", "Open connections", lambda: len(guard.open))
    metrics.sampled_gauge(
        "invitekit_connections_shed",
        "Connections closed to stay under the bound",
        lambda: guard.shed,
        live=False,
    )
    metrics.sampled_gauge(
        "invitekit_head_timeouts",
        "Connections closed for a slow request head",
        lambda: guard.timed_out,
        live=False,
    )


def request_started(request: web.Request) -> GuardedRequestHandler | None:
    """Mark the request's connection busy (no-op when the app runs unguarded)."""
    conn = request.protocol
    if isinstance(conn, GuardedRequestHandler):
        conn.started()
        return conn
    return None


def request_finished(conn: GuardedRequestHandler | None) -> None:
    """Mark the connection idle again."""
    if conn is not None:
        conn.finished()


__all__ = [
    "DESCRIPTOR_RESERVE",
    "ConnectionGuard",
    "GuardedAppRunner",
    "GuardedRequestHandler",
    "GuardedServer",
    "default_max_connections",
    "install",
    "raise_descriptor_limit",
    "request_finished",
    "request_started",
]

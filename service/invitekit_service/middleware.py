"""The edge middleware: problems, metrics and access logs for every request.

Invariant: every response to a request that reaches the application is either a success
documented in ``spec/openapi.yaml`` or an RFC 9457 problem — an unexpected exception
becomes a problem+json 500 here, never a bare traceback. Logs and metric labels carry route
templates and slot *tags*, never ids, keys or bodies.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from invitekit.protocol import InvalidRequest, ProblemCode

from . import logs
from .connections import request_finished, request_started
from .problems import Problem, http_exception_problem, problem_response
from .state import ADDRESS_KEY, STATE_KEY, ServiceState
from .storage import StorageUnavailable

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def route_label(request: web.Request) -> str:
    """The matched route template (``unmatched`` when routing failed)."""
    info = request.match_info
    route = getattr(info, "route", None)
    resource = getattr(route, "resource", None)
    canonical = getattr(resource, "canonical", None)
    return canonical if isinstance(canonical, str) else "unmatched"


def _problem_of(exc: Exception) -> Problem | None:
    """The problem an expected exception answers with (``None``: not an expected one)."""
    if isinstance(exc, Problem):
        return exc
    if isinstance(exc, InvalidRequest):
        return Problem.of(exc)
    if isinstance(exc, web.HTTPException):
        return http_exception_problem(exc)
    if isinstance(exc, StorageUnavailable):
        return Problem(ProblemCode.UNAVAILABLE, headers={"Retry-After": "1"})
    if isinstance(exc, HttpProcessingError | ConnectionError):
        return Problem(ProblemCode.BAD_REQUEST)
    return None


@web.middleware
async def edge_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Problems, metrics and access logs for every request; no exception escapes."""
    state: ServiceState = request.app[STATE_KEY]
    started = time.perf_counter()
    code: str | None = None
    connection = request_started(request)
    try:
        response = await handler(request)
    except asyncio.CancelledError:
        request_finished(connection)
        raise
    except Exception as exc:  # the catch-all: a bug must still answer with problem+json
        problem = _problem_of(exc)
        if problem is None:
            logs.event(
                state.logger,
                "unhandled exception",
                logging.ERROR,
                route=route_label(request),
                exc_type=type(exc).__name__,
            )
            problem = Problem(ProblemCode.INTERNAL)
        code = problem.code.value
        response = problem_response(problem)
    request_finished(connection)
    try:
        route = route_label(request)
        elapsed = time.perf_counter() - started
        state.observe_latency(route, request.method, elapsed)
        if code is not None:
            state.metrics.rejections.inc((code,))
        if state.settings.access_log:
            logs.event(
                state.logger,
                "request",
                method=request.method,
                route=route,
                status=response.status,
                ms=round(elapsed * 1000, 3),
                slot=address.tag if (address := request.get(ADDRESS_KEY)) else None,
                problem=code,
            )
    except Exception:  # metrics/logging must never turn a response into a 500
        state.logger.debug("metrics or access log failed")
    return response


__all__ = ["edge_middleware", "route_label"]

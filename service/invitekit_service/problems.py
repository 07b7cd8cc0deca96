"""RFC 9457 problem details: every error response the service sends is one of these.

The codes, their ``type`` URIs, titles and default statuses are owned by
:class:`invitekit.protocol.ProblemCode` (the client reads them with the same table); this
module only turns a :class:`Problem` into an aiohttp response. Details never contain
payload bytes, keys, signatures or full slot ids.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from invitekit.protocol import PROBLEM_MEDIA_TYPE, InvalidRequest, ProblemCode, problem_json


class Problem(Exception):
    """Raise from a handler to answer with problem+json (code, optional status and extras).

    ``close`` ends the connection after the answer (a body left unread, a timed-out read).
    """

    def __init__(
        self,
        code: ProblemCode,
        detail: str | None = None,
        *,
        status: int | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
        close: bool = False,
    ) -> None:
        super().__init__(code.value)
        self.code = code
        self.status = code.status if status is None else status
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra or {}
        self.close = close

    @classmethod
    def of(cls, error: InvalidRequest) -> Problem:
        """The answer to a request the protocol module refused."""
        return cls(error.problem, error.detail)


def problem_response(problem: Problem) -> web.Response:
    """Serialise a :class:`Problem` as an RFC 9457 response."""
    body = problem_json(
        problem.code, status=problem.status, detail=problem.detail, extra=problem.extra
    )
    response = web.Response(
        status=problem.status,
        body=body,
        content_type=PROBLEM_MEDIA_TYPE,
        headers={"Cache-Control": "no-store", **problem.headers},
    )
    if problem.close:
        response.force_close()
    return response


def http_exception_problem(exc: web.HTTPException) -> Problem:
    """Map aiohttp's own HTTP exceptions (routing, size limits) to problems."""
    status = exc.status
    if status == 404:
        return Problem(ProblemCode.NOT_FOUND)
    if status == 405:
        allow = exc.headers.get("Allow")
        return Problem(
            ProblemCode.METHOD_NOT_ALLOWED, headers={"Allow": allow} if allow else None
        )
    if status == 413:
        return Problem(ProblemCode.PAYLOAD_TOO_LARGE)
    if 400 <= status < 500:
        return Problem(ProblemCode.BAD_REQUEST, status=status)
    return Problem(ProblemCode.INTERNAL)


__all__ = ["Problem", "http_exception_problem", "problem_response"]

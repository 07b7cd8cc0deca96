"""RFC 9457 problem details: every error response the service sends is one of these.

``type`` is ``urn:invitekit:problem:<code>``; codes are stable and listed in spec/SPEC.md.
Details never contain payload bytes, keys, signatures or full slot ids.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

PROBLEM_CONTENT_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:invitekit:problem:"

_TITLES: dict[str, str] = {
    "invalid-slot-id": "Slot id is not 4..255 bytes of unpadded base64url",
    "invalid-lane-id": "Lane id is not a 32-byte Ed25519 public key in base64url",
    "invalid-content-address": "Content address is not 64 lowercase hex digits",
    "content-address-mismatch": "Body does not hash to the content address in the URL",
    "invalid-query": "Query parameters are malformed",
    "invalid-blob": "Body is not an acceptable EncryptedGroupInfoBlob",
    "payload-too-large": "Body exceeds the service's size limit",
    "missing-signature": "Lane uploads need an Invitekit-Signature header",
    "bad-signature": "Signature does not verify for this slot, lane and body",
    "stale": "Epoch is below the lane head",
    "fork": "Same epoch as the lane head with a different group_state_hash",
    "epoch-jump": "Epoch exceeds the highest stored epoch by more than the allowed jump",
    "expired": "Blob's expires_at_ns has already passed",
    "not-found": "No such resource",
    "method-not-allowed": "Method not allowed on this resource",
    "rate-limited": "Too many requests",
    "unavailable": "Storage is not available",
    "bad-request": "Malformed request",
    "internal": "Internal error",
}


def problem_type(code: str) -> str:
    """The stable ``type`` URI for a problem code."""
    return TYPE_PREFIX + code


class Problem(Exception):
    """Raise from a handler to answer with problem+json (status, code, optional extras)."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(code)
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra or {}


def problem_response(problem: Problem, instance: str | None = None) -> web.Response:
    """Serialise a :class:`Problem` as an RFC 9457 response."""
    body: dict[str, Any] = {
        "type": problem_type(problem.code),
        "title": _TITLES.get(problem.code, problem.code),
        "status": problem.status,
    }
    if problem.detail:
        body["detail"] = problem.detail
    if instance:
        body["instance"] = instance
    body.update(problem.extra)
    headers = {"Cache-Control": "no-store", **problem.headers}
    return web.Response(
        status=problem.status,
        body=json.dumps(body, separators=(",", ":")).encode(),
        content_type=PROBLEM_CONTENT_TYPE,
        headers=headers,
    )


def http_exception_problem(exc: web.HTTPException) -> Problem:
    """Map aiohttp's own HTTP exceptions (routing, size limits) to problems."""
    status = exc.status
    if status == 404:
        return Problem(404, "not-found")
    if status == 405:
        allow = exc.headers.get("Allow")
        return Problem(405, "method-not-allowed", headers={"Allow": allow} if allow else None)
    if status == 413:
        return Problem(413, "payload-too-large")
    if 400 <= status < 500:
        return Problem(status, "bad-request")
    return Problem(500, "internal")

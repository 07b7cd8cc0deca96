"""Issue 12, error and log hygiene: requests the HTTP parser refuses get problem+json that
does not echo them, and every line the service logs (at DEBUG) is JSON without request bytes.
Raw requests over a real socket to a real ``invitekit-service``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import Callable

import aiohttp
import pytest

from .support import Api, Invite, ServiceProcess, b64

MARKER = "c0ffee" + secrets.token_hex(12)
INVITE = Invite()


def _requests() -> dict[str, bytes]:
    lane = INVITE.lane_path + "/blobs"
    body = MARKER.encode() * 4
    return {
        "control byte in target": f"GET /{MARKER}\x01 HTTP/1.1\r\nHost: x\r\n\r\n".encode(),
        "bad method": f"{MARKER}( / HTTP/1.1\r\nHost: x\r\n\r\n".encode(),
        "bad version": f"GET /healthz HTTP/{MARKER}\r\nHost: x\r\n\r\n".encode(),
        "request line too long": f"GET /{MARKER * 400} HTTP/1.1\r\nHost: x\r\n\r\n".encode(),
        "header too long": (
            f"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {MARKER * 400}\r\n\r\n".encode()
        ),
        "too many headers": (
            "GET /healthz HTTP/1.1\r\nHost: x\r\n"
            + "".join(f"X-{n}: {MARKER}\r\n" for n in range(200))
            + "\r\n"
        ).encode(),
        "bad header name": f"GET /healthz HTTP/1.1\r\nHost: x\r\n{MARKER}\x7f: 1\r\n\r\n".encode(),
        "bad content length": (
            f"POST {lane} HTTP/1.1\r\nHost: x\r\nContent-Length: {MARKER}\r\n\r\n".encode()
        ),
        "bad chunk size": (
            f"POST {INVITE.open_path}/blobs HTTP/1.1\r\nHost: x\r\n"
            f"Transfer-Encoding: chunked\r\n\r\nzz{MARKER}\r\n{MARKER}\r\n0\r\n\r\n"
        ).encode(),
        "garbage signature": (
            f"POST {lane} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            f"Invitekit-Signature: {MARKER}\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        + body,
        "slot id of the wrong length": (
            f"GET /v1/slots/{MARKER[:3]}/open/head HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        ).encode(),
    }


@pytest.fixture(scope="module")
def noisy(service_factory: Callable[..., ServiceProcess]) -> ServiceProcess:
    return service_factory("--no-rate-limits-enabled", "--access-log", "--log-level", "DEBUG")


async def _exchange(svc: ServiceProcess, raw: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", svc.port)
    received = b""
    try:
        with contextlib.suppress(ConnectionError):
            writer.write(raw)
            await writer.drain()
        async with asyncio.timeout(30):
            with contextlib.suppress(ConnectionError):
                while chunk := await reader.read(65536):
                    received += chunk
    finally:
        writer.close()
    return received


@pytest.mark.parametrize("name", sorted(_requests()))
async def test_malformed_requests_get_problem_json_without_their_bytes(
    noisy: ServiceProcess, name: str
) -> None:
    answer = await _exchange(noisy, _requests()[name])
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    assert 400 <= status < 500, answer[:300]
    assert b"content-type: application/problem+json" in head.lower(), answer[:300]
    problem = json.loads(body)
    assert problem["type"].startswith("urn:invitekit:problem:")
    assert MARKER.encode() not in answer
    assert MARKER[:12].encode() not in answer


async def test_every_log_line_is_json_without_request_bytes(
    noisy: ServiceProcess, session: aiohttp.ClientSession
) -> None:
    api = Api(noisy.base_url, session)
    invite = Invite()
    blob = invite.blob(3)
    assert (await api.upload_lane(invite, blob)).status == 201
    assert (await api.upload_open(invite, blob)).status == 201
    assert (await api.get(invite.lane_path + "/head")).status == 200
    for raw in _requests().values():
        await _exchange(noisy, raw)
    await asyncio.sleep(0.5)  # let the last lines reach the file
    text = noisy.log_text()
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) > len(_requests())
    for line in lines:
        record = json.loads(line)  # raises on a traceback or any non-JSON line
        assert isinstance(record, dict)
    secrets_seen = [
        MARKER,
        MARKER[:12],
        b64(invite.slot),
        b64(INVITE.slot),
        b64(invite.signer.lane_id),
        b64(invite.key),
        invite.sign(blob)["Invitekit-Signature"],
        b64(blob),
    ]
    for secret in secrets_seen:
        assert secret not in text, secret[:12]

"""Issue 12, connection abuse against a real ``invitekit-service`` on 127.0.0.1: slow bodies,
slow request heads, idle floods and descriptor exhaustion. Every test asserts behaviour (the
service keeps answering, the abusive connections are closed at all within a generous
deadline); none asserts a speed."""

from __future__ import annotations

import asyncio
import contextlib
import resource
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest

from .limited import launched
from .support import Api, Invite, ServiceProcess

#: Deadline for "the service closed it at all" (the configured timeouts are ~2 s).
CLOSED_WITHIN_S = 45.0
BODY_LIMIT = 1 << 20

SHORT_TIMEOUTS = [
    "--no-rate-limits-enabled",
    "--no-access-log",
    "--header-timeout-s",
    "1.5",
    "--idle-timeout-s",
    "2",
    "--body-timeout-s",
    "2",
    "--max-body-bytes",
    str(BODY_LIMIT),
    "--body-bytes-in-flight",
    str(2 * BODY_LIMIT),
]


@pytest.fixture(scope="module")
def guarded(service_factory: Callable[..., ServiceProcess]) -> ServiceProcess:
    return service_factory(*SHORT_TIMEOUTS)


async def _open(svc: ServiceProcess) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", svc.port)


async def _closed_by_server(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sent until it closed the connection (EOF or reset)."""
    received = b""
    with contextlib.suppress(ConnectionError):
        while chunk := await reader.read(65536):
            received += chunk
    return received


async def _probe(svc: ServiceProcess, session: aiohttp.ClientSession, invite: Invite) -> None:
    api = Api(svc.base_url, session)
    assert (await api.get("/healthz")).status == 200
    assert (await api.get(invite.open_path + "/head")).status == 200


async def _metric(svc: ServiceProcess, session: aiohttp.ClientSession, name: str) -> float:
    async with session.get(svc.base_url + "/metrics") as resp:
        text = await resp.text()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"metric {name} not exported")


async def _send_quietly(writer: asyncio.StreamWriter, data: bytes) -> None:
    with contextlib.suppress(ConnectionError):
        writer.write(data)
        await writer.drain()


async def test_slow_bodies_are_bounded_and_closed(
    guarded: ServiceProcess, session: aiohttp.ClientSession
) -> None:
    invite = Invite()
    assert (await Api(guarded.base_url, session).upload_open(invite, invite.blob(1))).status == 201
    head = (
        f"POST {invite.open_path}/blobs HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/octet-stream\r\nContent-Length: {BODY_LIMIT}\r\n\r\n"
    ).encode()
    connections = [await _open(guarded) for _ in range(12)]
    senders = [
        asyncio.create_task(_send_quietly(writer, head + bytes(BODY_LIMIT - 1)))
        for _, writer in connections
    ]
    closers = [asyncio.create_task(_closed_by_server(reader)) for reader, _ in connections]
    for _ in range(10):  # the service answers while the slow bodies are held
        await _probe(guarded, session, invite)
    async with asyncio.timeout(CLOSED_WITHIN_S):
        answers = await asyncio.gather(*closers)
    for task in senders:
        task.cancel()
    for _, writer in connections:
        writer.close()
    statuses = [int(answer.split(b" ", 2)[1]) for answer in answers if answer]
    assert statuses, "no slow-body connection got an answer"
    assert set(statuses) <= {408, 429, 503}, statuses
    assert 408 in statuses, statuses  # a body that started and stalled
    # a body past the bytes-in-flight bound: the client's share of it (429, one address
    # here) or the whole of it (503)
    assert {429, 503} & set(statuses), statuses
    assert all(b"application/problem+json" in answer for answer in answers if answer)
    assert await _metric(guarded, session, "invitekit_body_bytes_in_flight") == 0
    await _probe(guarded, session, invite)


async def test_slow_request_heads_are_closed(
    guarded: ServiceProcess, session: aiohttp.ClientSession
) -> None:
    invite = Invite()
    assert (await Api(guarded.base_url, session).upload_open(invite, invite.blob(1))).status == 201
    connections = [await _open(guarded) for _ in range(20)]

    async def drip(writer: asyncio.StreamWriter) -> None:
        await _send_quietly(writer, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        for n in range(1000):
            await _send_quietly(writer, f"X-Drip-{n}: 1\r\n".encode())
            await asyncio.sleep(0.25)

    drippers = [asyncio.create_task(drip(writer)) for _, writer in connections]
    closers = [asyncio.create_task(_closed_by_server(reader)) for reader, _ in connections]
    for _ in range(10):
        await _probe(guarded, session, invite)
    async with asyncio.timeout(CLOSED_WITHIN_S):
        answers = await asyncio.gather(*closers)
    for task in drippers:
        task.cancel()
    for _, writer in connections:
        writer.close()
    assert all(answer == b"" for answer in answers)  # closed, never answered
    assert await _metric(guarded, session, "invitekit_head_timeouts") >= 20


async def test_idle_connections_are_closed(
    guarded: ServiceProcess, session: aiohttp.ClientSession
) -> None:
    connections = [await _open(guarded) for _ in range(50)]
    async with asyncio.timeout(CLOSED_WITHIN_S):
        answers = await asyncio.gather(*(_closed_by_server(r) for r, _ in connections))
    for _, writer in connections:
        writer.close()
    assert answers == [b""] * 50
    assert (await Api(guarded.base_url, session).get("/healthz")).status == 200


async def test_descriptor_exhaustion_sheds_idle_connections(tmp_path: Path) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert hard >= 2048, "the test process needs descriptors for its own flood"
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 2048), hard))
    flood: list[asyncio.StreamWriter] = []
    try:
        limit = ["prlimit", "--nofile=384:384", "--"]  # the service's soft and hard limit
        args = ["--no-rate-limits-enabled", "--no-access-log"]
        with launched(tmp_path, limit, args) as svc:
            base, host, port = svc.base_url, "127.0.0.1", svc.port
            for _ in range(600):  # well past the service's 384 descriptors
                with contextlib.suppress(ConnectionError, OSError):
                    _, writer = await asyncio.open_connection(host, port)
                    flood.append(writer)
            invite = Invite()
            ok = 0
            fresh = aiohttp.TCPConnector(force_close=True)  # every probe on a new connection
            async with aiohttp.ClientSession(connector=fresh) as session:
                api = Api(base, session)
                assert (await api.upload_open(invite, invite.blob(1))).status == 201
                for _ in range(32):
                    health = await api.get("/healthz")
                    read = await api.get(invite.open_path + "/head")
                    ok += health.status == 200 and read.status == 200
            assert ok == 32
    finally:
        for writer in flood:
            writer.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

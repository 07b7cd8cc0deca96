"""Connection abuse against a real service process: idle floods, slow-loris heads, slow
bodies, half-closed connections, body-size edges and a low descriptor limit. Abusers come
from many loopback source addresses (127.0.0.x), each under its own budgets; an honest
probe from another address must keep getting health, uploads and reads answered.

CI: hundreds of connections. Longer: ``scripts/reliability.sh connections --scale 5``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket

import pytest

from invitekit.blob import seal
from invitekit.protocol import b64url

from .abuse import (
    Probe,
    free_socket_budget,
    hold_idle,
    hold_partial,
    open_raw,
    read_status,
    rss_bytes,
    source,
)
from .harness import env_float, record_figures

SCALE = env_float("RELIABILITY_SCALE", 1.0)
# Liveness bound for "the server eventually closes it" (never a speed claim: the service
# is configured with 1-2 s timeouts; this only stops a broken build from hanging CI).
EVENTUALLY_S = 90.0


@pytest.fixture(autouse=True)
def _descriptors() -> None:
    free_socket_budget()


async def eventually_closed(held, total: int) -> int:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + EVENTUALLY_S
    closed = 0
    while asyncio.get_running_loop().time() < deadline:
        closed = await held.closed_by_server()
        if closed >= total:
            break
        await asyncio.sleep(0.5)
    return closed


async def test_idle_flood_is_held_while_honest_clients_are_served(make_service) -> None:
    count = int(1000 * SCALE)
    svc = make_service("--no-access-log", "--idle-timeout-s", "3600", "--header-timeout-s",
                       "3600")
    held = await hold_idle(svc.proc.port, count, sources=50)
    probe = Probe(svc.base_url)
    try:
        assert len(held.writers) == count
        for _ in range(3):
            await probe.round()
        assert probe.failed == [], probe.failed
        assert svc.alive()
    finally:
        await held.close()
    record_figures("idle-flood", {"connections_held": count, "sources": 50,
                                  "probe_answers": probe.answered})


async def test_idle_and_slow_loris_connections_are_closed(make_service) -> None:
    idle, loris = int(200 * SCALE), int(50 * SCALE)
    svc = make_service("--no-access-log", "--idle-timeout-s", "1", "--header-timeout-s", "2")
    held = await hold_idle(svc.proc.port, idle, sources=20)
    partial = await hold_partial(
        svc.proc.port, loris, sources=20, first=b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
    )

    async def trickle(w: asyncio.StreamWriter) -> int:
        """One header byte at a time, forever: the head never completes."""
        sent = 0
        with contextlib.suppress(ConnectionError, OSError):
            for _ in range(int(EVENTUALLY_S / 0.2)):
                w.write(b"X-Slow: y\r\n"[sent % 11 : sent % 11 + 1])
                await w.drain()
                sent += 1
                await asyncio.sleep(0.2)
                if w.is_closing() or w.transport.get_extra_info("socket") is None:
                    break
        return sent

    trickles = [asyncio.create_task(trickle(w)) for w in partial.writers[: loris // 2]]
    probe = Probe(svc.base_url)
    try:
        await probe.round()
        closed_idle = await eventually_closed(held, idle)
        closed_partial = await eventually_closed(partial, loris)
        for t in trickles:
            t.cancel()
        await asyncio.gather(*trickles, return_exceptions=True)
        assert closed_idle == idle
        assert closed_partial == loris
        await probe.round()
        assert probe.failed == [], probe.failed
    finally:
        await held.close()
        await partial.close()
    record_figures("slow-loris", {"idle_closed": closed_idle, "slow_heads_closed": closed_partial})


async def test_slow_bodies_do_not_eat_memory(make_service) -> None:
    count, size = int(100 * SCALE), 1 << 20
    in_flight = 16 << 20
    svc = make_service(
        "--no-access-log", "--no-rate-limits-enabled", "--max-body-bytes", str(size),
        "--body-bytes-in-flight", str(in_flight), "--body-timeout-s", "2",
    )
    probe = Probe(svc.base_url)
    await probe.round()
    before = rss_bytes(svc.pid)
    path = f"/v1/slots/{b64url(probe.slot)}/open/blobs"
    head = (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {size}\r\n\r\n".encode()
    )
    filler = os.urandom(size - 1)
    conns = []
    sent_bytes = 0
    for i in range(count):
        r, w = await open_raw(svc.proc.port, source(i % 60))
        with contextlib.suppress(ConnectionError, OSError):
            w.write(head + filler)
            await asyncio.wait_for(w.drain(), timeout=5)
            sent_bytes += size - 1
        conns.append((r, w))
    peak = rss_bytes(svc.pid)
    health = Probe(svc.base_url)
    async with health.session() as http:
        async with http.get(svc.base_url + "/healthz") as resp:
            assert resp.status == 200
        async with http.get(svc.base_url + probe.lane_path + "/head") as resp:
            assert resp.status == 200
    statuses = []
    for r, w in conns:
        statuses.append(await read_status(r, timeout=EVENTUALLY_S))
        w.close()
    await probe.round()  # uploads work again once the slow bodies are gone
    assert probe.failed == [], probe.failed
    # every slow body was answered (429 past its client's or network's share of the bound
    # or 503 past the bound, before reading; 408 after the deadline) or closed, and the
    # service never held much more than its in-flight bound
    assert set(statuses) <= {"429", "503", "408", "closed"}, statuses
    growth = peak - before
    assert growth < in_flight + (64 << 20), (growth, sent_bytes)
    record_figures("slow-bodies", {
        "connections": count, "bytes_sent": sent_bytes, "rss_growth": growth,
        "answers": {s: statuses.count(s) for s in set(statuses)},
    })


def _exchange(port: int, data: bytes, *, half_close: bool = False) -> bytes:
    """Send ``data`` (optionally half-closing after it) and read until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=EVENTUALLY_S) as s:
        s.sendall(data)
        if half_close:
            s.shutdown(socket.SHUT_WR)
        chunks = []
        with contextlib.suppress(ConnectionResetError):
            while chunk := s.recv(65536):
                chunks.append(chunk)
    return b"".join(chunks)


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer.startswith((b"HTTP/1.1 ", b"HTTP/1.0 ")) else 0


def _blob_of_size(size: int) -> bytes:
    key = bytes(32)
    for n in range(size, 0, -1):
        body = seal(b"p" * n, key, epoch=1, group_state_hash=bytes(32)).to_bytes()
        if len(body) == size:
            return body
        if len(body) < size:
            break
    raise AssertionError(f"no blob of exactly {size} bytes")


async def test_half_close_and_body_size_edges(make_service) -> None:
    limit = 4096
    svc = make_service("--no-access-log", "--no-rate-limits-enabled", "--max-body-bytes",
                       str(limit))
    port = svc.proc.port
    slot = "/v1/slots/" + "QUJDREVGR0g" + "/open"

    def post(body: bytes, extra: bytes = b"", length: int | None = None) -> bytes:
        n = len(body) if length is None else length
        return (
            f"POST {slot}/blobs HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            f"Content-Length: {n}\r\n".encode()
            + extra + b"\r\n" + body
        )

    run = asyncio.to_thread
    health = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    assert _status(await run(_exchange, port, health)) == 200
    # Half-close after a complete request: aiohttp closes the connection on EOF, so the
    # answer may be lost (a known limit, RELIABILITY.md); what must hold is that the server
    # closes the connection rather than holding it (the read would time out) and stays up.
    half = await run(_exchange, port, health, half_close=True)
    assert _status(half) in (0, 200)
    exact, over = _blob_of_size(limit), _blob_of_size(limit + 1)
    assert _status(await run(_exchange, port, post(exact))) == 201
    assert _status(await run(_exchange, port, post(over))) == 413
    # a huge declared length is refused before any of the body is sent
    answer = await run(_exchange, port, post(b"", length=10**12))
    assert _status(answer) == 413
    assert b"application/problem+json" in answer
    # chunked bodies past the limit, empty bodies, half-closed mid-body, garbage after
    chunked = (
        f"POST {slot}/blobs HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        "Transfer-Encoding: chunked\r\n\r\n".encode()
        + b"".join(b"400\r\n" + b"a" * 1024 + b"\r\n" for _ in range(6)) + b"0\r\n\r\n"
    )
    cases = {
        "chunked over limit": (chunked, {413}),
        "empty": (post(b""), {400}),
        "half-closed mid-body": (post(exact[:100], length=len(exact)), {0, 400, 408}),
        "half-closed mid-head": (b"POST " + slot.encode() + b"/blobs HTTP/1.1\r\nHo", {0, 400}),
        "length below body": (post(exact, length=10), {400}),
    }
    half_closed = {"half-closed mid-body", "half-closed mid-head"}
    seen = {}
    for name, (data, allowed) in cases.items():
        answer = await run(_exchange, port, data, half_close=name in half_closed)
        seen[name] = _status(answer)
        assert seen[name] in allowed, (name, answer[:300])
        if seen[name] >= 400:
            assert b"application/problem+json" in answer, (name, answer[:300])
    assert _status(await run(_exchange, port, health)) == 200
    record_figures("body-edges", {"answers": seen, "half_close_answered": _status(half) == 200})


async def test_descriptor_limit_sheds_connections_before_it_runs_out(make_service) -> None:
    limit = 1024
    svc = make_service("--no-access-log", "--idle-timeout-s", "3600", "--header-timeout-s",
                       "3600", prefix=["prlimit", f"--nofile={limit}:{limit}"])
    count = int(limit * 1.4)
    held = await hold_idle(svc.proc.port, count, sources=10)
    probe = Probe(svc.base_url)
    try:
        for _ in range(5):
            await probe.round()
        assert probe.failed == [], probe.failed
        assert svc.alive()
    finally:
        await held.close()
    record_figures("descriptors", {"nofile": limit, "connections_opened": count,
                                   "probe_answers": probe.answered})

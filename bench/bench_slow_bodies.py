"""Service memory under stalled upload bodies (issue 12's slow-body attack), on loopback.

Run: .venv/bin/python bench/bench_slow_bodies.py [connections [body_timeout_s]]

Starts a real ``invitekit-service`` (default settings, rate limits off so every connection
reaches the body read), opens N connections that each announce a 1 MiB body, send 1 MiB - 1
bytes and stall, and samples the service's RSS before, while the bodies are held, and after
the service has closed them. Bounded: N connections (300 by default), at most ~90 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine

BODY = 1 << 20


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def stall(port: int, received: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = (
        f"POST /v1/slots/AAAAAAAA/open/blobs HTTP/1.1\r\nHost: x\r\n"
        f"Content-Length: {BODY}\r\n\r\n"
    ).encode()
    with contextlib.suppress(ConnectionError):
        writer.write(head + bytes(BODY - 1))
        await writer.drain()
    with contextlib.suppress(ConnectionError):
        answer = await reader.read(64)
        received.append(int(answer.split(b" ", 2)[1]) if answer else 0)
    writer.close()


async def main(connections: int, body_timeout_s: float | None = None) -> None:
    port = 20000 + os.getpid() % 20000
    workdir = Path(tempfile.mkdtemp(prefix="slow-bodies-"))
    cmd = [
        str(Path(sys.executable).parent / "invitekit-service"),
        "--port",
        str(port),
        "--database",
        f"sqlite:///{workdir / 'db.sqlite3'}",
        "--no-rate-limits-enabled",
        "--no-access-log",
    ]
    if body_timeout_s is not None:
        cmd += ["--body-timeout-s", str(body_timeout_s)]
    proc = subprocess.Popen(cmd, stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1)
                break
            time.sleep(0.1)
        before = rss_mib(proc.pid)
        received: list[int] = []
        tasks = [asyncio.create_task(stall(port, received)) for _ in range(connections)]
        peak = before
        started = time.monotonic()
        health_ok = 0
        while not all(t.done() for t in tasks) and time.monotonic() - started < 90:
            await asyncio.sleep(0.5)
            peak = max(peak, rss_mib(proc.pid))
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)
                health_ok += 1
        for t in tasks:
            t.cancel()
        await asyncio.sleep(2)
        after = rss_mib(proc.pid)
        statuses = {str(s): received.count(s) for s in sorted(set(received))}
        print(
            json.dumps(
                {
                    "connections": connections,
                    "rss_mib": {"before": before, "peak": peak, "after": after},
                    "answers": statuses,
                    "health_probes_ok": health_ok,
                    "seconds": round(time.monotonic() - started, 1),
                    "machine": machine(),
                },
                indent=2,
            )
        )
    finally:
        proc.terminate()
        proc.wait(timeout=15)


if __name__ == "__main__":
    asyncio.run(
        main(
            int(sys.argv[1]) if len(sys.argv) > 1 else 300,
            float(sys.argv[2]) if len(sys.argv) > 2 else None,
        )
    )

"""Issue 12, the ``--workers N`` supervisor, with real processes and SIGKILL: a dead worker is
restarted, the supervisor exits non-zero once it gives up, and workers die with it."""

from __future__ import annotations

import json
import os
import signal
import socket
import urllib.error
import urllib.request
from collections.abc import Callable

import pytest

from tests.support.processes import alive, children, wait_for

from .support import Invite, ServiceProcess

DEADLINE_S = 45.0


def _healthy(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(base_url + "/healthz", timeout=2) as resp:
            return resp.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def _workers(svc: ServiceProcess, count: int) -> set[int]:
    assert svc.proc is not None
    wait_for(lambda: len(children(svc.proc.pid)) == count, f"{count} workers")  # type: ignore[union-attr]
    return children(svc.proc.pid)


def test_a_killed_worker_is_restarted(service_factory: Callable[..., ServiceProcess]) -> None:
    svc = service_factory("--workers", "2", "--no-access-log", "--no-rate-limits-enabled")
    assert svc.proc is not None
    before = _workers(svc, 2)
    victim = min(before)
    os.kill(victim, signal.SIGKILL)
    wait_for(
        lambda: len(children(svc.proc.pid)) == 2 and victim not in children(svc.proc.pid),  # type: ignore[union-attr]
        "a replacement worker",
    )
    assert svc.proc.poll() is None  # the supervisor is still running
    for _ in range(20):
        wait_for(lambda: _healthy(svc.base_url), "health after the restart")
    assert "worker exited" in svc.log_text()


def test_the_supervisor_gives_up_with_a_non_zero_status(
    service_factory: Callable[..., ServiceProcess],
) -> None:
    svc = service_factory("--workers", "2", "--worker-max-restarts", "1", "--no-access-log")
    assert svc.proc is not None
    first = _workers(svc, 2)
    os.kill(min(first), signal.SIGKILL)  # one restart allowed
    wait_for(lambda: children(svc.proc.pid) - first != set(), "the first restart")  # type: ignore[union-attr]
    second = _workers(svc, 2)
    os.kill(max(second - first), signal.SIGKILL)  # the second death exhausts the budget
    code = svc.proc.wait(timeout=DEADLINE_S)
    assert code != 0
    for pid in first | second:
        wait_for(lambda pid=pid: not alive(pid), f"worker {pid} stopped")  # type: ignore[misc]
    assert "giving up" in svc.log_text()


def test_workers_die_with_a_killed_supervisor(
    service_factory: Callable[..., ServiceProcess],
) -> None:
    svc = service_factory("--workers", "2", "--no-access-log")
    assert svc.proc is not None
    workers = _workers(svc, 2)
    svc.kill9()
    for pid in workers:
        wait_for(lambda pid=pid: not alive(pid), f"orphaned worker {pid} still running")  # type: ignore[misc]
    wait_for(lambda: not _healthy(svc.base_url), "the port still answers")
    # A restart runs exactly the configured number of workers again.
    svc.start()
    assert len(_workers(svc, 2)) == 2


def test_sigterm_stops_everything_with_status_zero(
    service_factory: Callable[..., ServiceProcess],
) -> None:
    svc = service_factory("--workers", "2", "--no-access-log")
    assert svc.proc is not None
    workers = _workers(svc, 2)
    svc.proc.send_signal(signal.SIGTERM)
    assert svc.proc.wait(timeout=DEADLINE_S) == 0
    for pid in workers:
        wait_for(lambda pid=pid: not alive(pid), f"worker {pid} stopped")  # type: ignore[misc]


def test_a_reload_costs_no_restart_budget(
    service_factory: Callable[..., ServiceProcess],
) -> None:
    # Issue 23: gunicorn's SIGHUP replaces every worker; those exits are not deaths.
    svc = service_factory("--workers", "2", "--worker-max-restarts", "1", "--no-access-log")
    assert svc.proc is not None
    current = _workers(svc, 2)
    for _ in range(3):
        svc.proc.send_signal(signal.SIGHUP)
        wait_for(
            lambda old=current: len(children(svc.proc.pid)) == 2  # type: ignore[union-attr]
            and not (children(svc.proc.pid) & old),  # type: ignore[union-attr]
            "the workers replaced",
        )
        current = children(svc.proc.pid)
    assert svc.proc.poll() is None
    wait_for(lambda: _healthy(svc.base_url), "health after the reloads")
    log = svc.log_text()
    assert "giving up" not in log
    # The last reload's two workers took over indices 0 and 1 (worker 0 runs the GC).
    started = [
        json.loads(line) for line in log.splitlines()
        if line.startswith("{") and '"worker started"' in line
    ]
    assert sorted(e["worker"] for e in started[-2:]) == [0, 1]


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


def _in_flight_bytes(base_url: str) -> float:
    with urllib.request.urlopen(base_url + "/metrics", timeout=5) as resp:
        for line in resp.read().decode().splitlines():
            if line.startswith("invitekit_body_bytes_in_flight "):
                return float(line.split()[1])
    return 0.0


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_lets_an_upload_in_progress_finish(
    service_factory: Callable[..., ServiceProcess], workers: int
) -> None:
    # Issue 23: the graceful stop, one process or gunicorn's. An upload whose body is half
    # sent when SIGTERM comes is still stored and answered 201; then the service exits 0.
    # (aiohttp drops every byte that arrives after it starts to stop: the body was lost.)
    svc = service_factory(
        "--workers", str(workers), "--no-access-log", "--no-rate-limits-enabled"
    )
    assert svc.proc is not None
    if workers > 1:
        _workers(svc, workers)
    invite = Invite()
    body = invite.blob(1)
    head = (
        f"POST {invite.open_path}/blobs HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/octet-stream\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", svc.port), timeout=DEADLINE_S) as conn:
        conn.sendall(head + body[: len(body) // 2])
        wait_for(lambda: _in_flight_bytes(svc.base_url) > 0, "the upload being read")
        svc.proc.send_signal(signal.SIGTERM)
        # Every worker is stopping once the port takes no new connection.
        wait_for(lambda: not _accepts(svc.port), "the port closed")
        conn.sendall(body[len(body) // 2 :])
        reply = b""
        while chunk := conn.recv(65536):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 201"), reply[:200]
    assert svc.proc.wait(timeout=DEADLINE_S) == 0

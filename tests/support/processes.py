"""Processes the tests start: a free loopback port, a process's children and liveness from
``/proc`` (Linux), waiting for a condition, and stopping a process started in its own session.

The end-to-end tests run shell commands (``scripts/run.sh``, a README block, ``buildah
run``) whose real work happens in children of the process they start. Stopping only that
process would leave the children serving; so the whole process group gets SIGTERM, and
SIGKILL if it has not exited in time. (``tests/support/reaper.py`` is the safety net when a
run dies before reaching this.)
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def children(pid: int) -> set[int]:
    """The pids of ``pid``'s direct children (empty once it is gone)."""
    found: set[int] = set()
    with contextlib.suppress(FileNotFoundError):
        for task in os.listdir(f"/proc/{pid}/task"):
            text = Path(f"/proc/{pid}/task/{task}/children").read_text()
            found |= {int(p) for p in text.split()}
    return found


def alive(pid: int) -> bool:
    """Whether ``pid`` runs: it exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def wait_for(check: Callable[[], bool], what: str, deadline_s: float = 45.0) -> None:
    """Poll ``check`` every 0.1 s until it holds; fail with ``what`` after ``deadline_s``
    (a liveness bound for a broken build, never a speed claim)."""
    deadline = time.monotonic() + deadline_s
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def stop_group(proc: subprocess.Popen[bytes] | subprocess.Popen[str], timeout: float = 30) -> None:
    """SIGTERM ``proc``'s process group, wait up to ``timeout`` s, then SIGKILL it and wait.

    ``proc`` must lead its own group (``start_new_session=True``). The group is signalled
    even when ``proc`` itself has already exited, so children it left behind stop too.
    """
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=timeout)


__all__ = ["alive", "children", "free_port", "stop_group", "wait_for"]

"""A free loopback port, and stopping a process a test started in its own session.

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


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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


__all__ = ["free_port", "stop_group"]

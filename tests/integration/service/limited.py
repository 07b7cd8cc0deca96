"""A real ``invitekit-service`` started under a command prefix (``prlimit`` for resource
limits), for the hardening tests that need one."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .support import free_port, service_command


@dataclass
class Launched:
    base_url: str
    port: int
    proc: subprocess.Popen[bytes]
    database: Path
    log: Path


@contextlib.contextmanager
def launched(workdir: Path, prefix: list[str], args: list[str]) -> Iterator[Launched]:
    """Start the service as ``prefix + invitekit-service + args``; stop it afterwards."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    database = workdir / "service.sqlite3"
    log = workdir / "service.log"
    cmd = [
        *prefix,
        *service_command(),
        "--port",
        str(port),
        "--database",
        f"sqlite:///{database}",
        *args,
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("INVITEKIT_SERVICE_")}
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=out, env=env)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, log.read_text()
            with (
                contextlib.suppress(urllib.error.URLError, ConnectionError, TimeoutError),
                urllib.request.urlopen(base + "/readyz", timeout=1),
            ):
                break
            assert time.monotonic() < deadline, "service did not become ready"
            time.sleep(0.1)
        yield Launched(base, port, proc, database, log)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

"""A test run killed from outside takes the processes its tests started with it
(``tests/support/reaper.py``): a child pytest run starts a real ``invitekit-service`` the way
the fresh-clone test does (through ``bash``, in a session of its own), is SIGKILLed, and the
service is gone and its port closed."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.support.processes import alive

ROOT = Path(__file__).resolve().parents[2]

INNER = """
import subprocess, sys, time
from pathlib import Path

HERE = Path(__file__).parent


def test_starts_a_service_and_hangs() -> None:
    command = (
        f"{sys.executable} -m invitekit_service --host 127.0.0.1 --port {PORT} "
        f"--database sqlite:///{HERE / 'blobs.db'} & echo $! > {HERE / 'service.pid'}; wait"
    )
    subprocess.Popen(["bash", "-c", command], start_new_session=True)
    while True:  # the outer test kills this run
        time.sleep(1)
"""


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_a_killed_run_leaves_no_service_behind(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (tmp_path / "test_inner.py").write_text(f"PORT = {port}\n" + INNER)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "service")])}
    run = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir",
         str(tmp_path), "-c", os.devnull, "-p", "tests.support.reaper", str(tmp_path)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    pid_file = tmp_path / "service.pid"
    try:
        for _ in range(1200):  # bounded by count, generous: the service starts on a busy machine
            assert run.poll() is None, "the inner run ended by itself"
            if pid_file.exists() and pid_file.read_text().strip() and listening(port):
                break
            time.sleep(0.1)
        else:
            raise AssertionError("the inner run's service never listened")
        service = int(pid_file.read_text())
        assert alive(service)
        time.sleep(1)  # at least one snapshot of the run's processes has been taken
        os.kill(run.pid, signal.SIGKILL)  # as a CI timeout does: no teardown runs
        run.wait(timeout=60)
        for _ in range(600):
            if not alive(service) and not listening(port):
                break
            time.sleep(0.1)
        assert not alive(service), "the service outlived the killed run"
        assert not listening(port)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait(timeout=60)

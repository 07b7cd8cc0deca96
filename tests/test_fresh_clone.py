"""Issue 11: a fresh clone, the README's two commands at once, then the walkthrough.

Exactly what a newcomer does: clone, start ``scripts/run.sh`` and ``scripts/test.sh``
together (both build ``.venv`` from nothing: the set-up lock must serialise them), wait for
the test suite, then run the README's walkthrough against the service ``run.sh`` started.
pip's own cache is reused, so the clone installs from it. The command is still
``scripts/test.sh`` as written; ``PYTEST_ADDOPTS`` narrows the inner pytest run to the
tests not marked ``slow`` or ``reliability`` (the outer run has those already, and this test
is itself ``slow``, so it never recurses). What this test proves is the set-up race and the
walkthrough on a new clone, not the suite a second time; the narrowing keeps CI near one
suite's time instead of two.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from .readme_blocks import SERVICE, blocks_of, run_walkthrough

ROOT = Path(__file__).resolve().parents[1]
THIS = "tests/test_fresh_clone.py::test_fresh_clone_runs_the_readme_commands_at_once"


def _port_8080_free() -> bool:
    try:
        with urllib.request.urlopen(f"{SERVICE}/healthz", timeout=2):
            return False
    except OSError:
        return True


def _wait_for_port_8080() -> bool:
    """On a machine shared by several checkouts, another run of this test may hold the
    README's port: wait for it to finish (bounded by count), rather than collide."""
    for _ in range(1800):
        if _port_8080_free():
            return True
        time.sleep(1)
    return False


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_fresh_clone_runs_the_readme_commands_at_once(tmp_path: Path) -> None:
    assert _wait_for_port_8080(), "something keeps serving 127.0.0.1:8080"
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True, timeout=300)
    (block,) = blocks_of(clone / "README.md", "fresh-clone")
    run_cmd, test_cmd = (line.split("#", 1)[0].strip() for line in block.strip().splitlines())
    assert (run_cmd, test_cmd) == ("scripts/run.sh", "scripts/test.sh")

    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTEST"))}
    env["PATH"] = os.pathsep.join(
        p for p in env["PATH"].split(os.pathsep) if not p.startswith(str(ROOT))
    )
    inner_env = {**env, "PYTEST_ADDOPTS": f"--deselect {THIS} -m 'not slow and not reliability'"}
    run_log, test_log = tmp_path / "run.log", tmp_path / "test.log"
    with run_log.open("wb") as run_sink, test_log.open("wb") as test_sink:
        server = subprocess.Popen(
            ["bash", "-c", run_cmd], cwd=clone, env=env, stdout=run_sink,
            stderr=subprocess.STDOUT, start_new_session=True,
        )
        time.sleep(0.2)  # "scripts/run.sh &", then the next command
        tests = subprocess.Popen(
            ["bash", "-c", test_cmd], cwd=clone, env=inner_env, stdout=test_sink,
            stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        code = tests.wait(timeout=3300)
        output = test_log.read_text(errors="replace")
        assert code == 0, output[-6000:]
        assert "pip._internal" not in output
        assert " passed" in output
        assert server.poll() is None, run_log.read_text(errors="replace")[-3000:]
        done = run_walkthrough(clone, tmp_path / "walk.log")
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        assert "[15] everyone is at epoch" in done.stdout
        assert "\nready: " in done.stdout
    finally:
        for proc in (tests, server):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=30)
    assert "pip._internal" not in run_log.read_text(errors="replace")

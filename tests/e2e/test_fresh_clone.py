"""Issue 11: a fresh clone, the README's two commands at once, then the walkthrough.
Issue 23: the first command alone sets up the service and nothing else.

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

import json
import os
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.support.processes import free_port, stop_group

from .readme_blocks import SERVICE, blocks_of, run_walkthrough

ROOT = Path(__file__).resolve().parents[2]
THIS = "tests/e2e/test_fresh_clone.py::test_fresh_clone_runs_the_readme_commands_at_once"


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
            stop_group(proc)
    assert "pip._internal" not in run_log.read_text(errors="replace")


#: What the first command must never run: the system's package manager or privileges, npm,
#: a browser, a database server.
TRIPWIRES = ("apt-get", "apt", "sudo", "npm", "npx", "chromium", "initdb", "pg_ctl", "psql")
#: Distributions of the dev, mls and test extras the first command must not install.
NOT_FOR_RUNNING = {"pytest", "ruff", "mypy", "hypothesis", "rine-mls", "schemathesis",
                   "zxing-cpp", "build", "twine", "grpcio-tools", "openapi-core"}


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_first_command_alone_sets_up_only_the_service(tmp_path: Path) -> None:
    """``scripts/run.sh`` on a fresh clone, with the package manager, npm, a browser and the
    PostgreSQL binaries replaced by tripwires: it serves, and installed only the service."""
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True, timeout=300)
    (block,) = blocks_of(clone / "README.md", "fresh-clone")
    run_cmd = block.strip().splitlines()[0].split("#", 1)[0].strip()
    assert run_cmd == "scripts/run.sh"
    trips, tripped = tmp_path / "tripwires", tmp_path / "tripped.log"
    trips.mkdir()
    for name in TRIPWIRES:
        (trips / name).write_text(f'#!/bin/sh\necho "{name} $*" >> "{tripped}"\nexit 1\n')
        (trips / name).chmod(0o755)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("VIRTUAL_ENV", "PYTEST", "INVITEKIT_SERVICE_"))
           and k != "PYTHONPATH"}
    env["PATH"] = os.pathsep.join([str(trips), *(
        p for p in env["PATH"].split(os.pathsep) if not p.startswith(str(ROOT)))])
    port = free_port()
    log = tmp_path / "run.log"
    with log.open("wb") as sink:
        server = subprocess.Popen(["bash", "-c", f"{run_cmd} --port {port}"], cwd=clone,
                                  env=env, stdout=sink, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    try:
        for _ in range(12000):  # bounded by count: the first set-up installs packages
            assert server.poll() is None, log.read_text(errors="replace")[-3000:]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                    break
            except OSError:
                time.sleep(0.1)
        else:
            raise AssertionError("scripts/run.sh never answered")
        listed = subprocess.run(
            [str(clone / ".venv/bin/python"), "-m", "pip", "list", "--format", "json",
             "--disable-pip-version-check"], env=env, capture_output=True, text=True,
            check=True, timeout=120)
        installed = {d["name"].lower() for d in json.loads(listed.stdout)}
    finally:
        stop_group(server)
    assert not tripped.exists(), tripped.read_text()
    assert {"invitekit", "aiohttp", "uvloop", "asyncpg", "pydantic-settings"} <= installed
    assert not installed & NOT_FOR_RUNNING, installed & NOT_FOR_RUNNING
    assert not (clone / "node_modules").exists()
    assert (clone / ".venv/.invitekit-installed").read_text().split()[-1] == "service"
    assert "pip._internal" not in log.read_text(errors="replace")

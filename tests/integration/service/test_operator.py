"""Issue 23, the operator's side of the service process, with real processes on loopback:
metrics summed over every worker (and never going backwards when one dies), /metrics on its
own address or behind a bearer token, ``--version``, the missing ``service`` extra, and
start-up errors of the config file and the database as one line and status 2."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.parser import text_string_to_metric_families

from tests.support.processes import children, wait_for

from .support import Invite, ServiceProcess, b64, free_port, service_command

DEADLINE_S = 45.0


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Callable[..., ServiceProcess]]:
    started: list[ServiceProcess] = []

    def make(*extra: str) -> ServiceProcess:
        workdir = tmp_path / f"svc{len(started)}"
        workdir.mkdir()
        svc = ServiceProcess(f"sqlite:///{workdir / 'db.sqlite3'}", workdir, list(extra))
        started.append(svc)
        return svc.start()

    yield make
    for svc in started:
        svc.stop()


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def _fetches(text: str) -> float:
    """The sum of every ``invitekit_fetches_total`` series of one scrape."""
    total = 0.0
    for family in text_string_to_metric_families(text):
        if family.name == "invitekit_fetches":
            total += sum(s.value for s in family.samples if s.name == "invitekit_fetches_total")
    return total


def _fetches_by_pid(metrics_dir: Path) -> dict[int, float]:
    """Each worker's own count, read from its metric file."""
    out: dict[int, float] = {}
    for path in metrics_dir.glob("counter_*.db"):
        pid = int(path.stem.removeprefix("counter_"))
        values = MmapedDict.read_all_values_from_file(str(path))
        out[pid] = sum(
            value for key, value, _ts, _pos in values
            if json.loads(key)[1] == "invitekit_fetches_total"
        )
    return out


def test_one_scrape_counts_every_request_of_every_worker(
    services: Callable[..., ServiceProcess], tmp_path: Path
) -> None:
    metrics_dir = tmp_path / "metrics"
    svc = services(
        "--workers", "2", "--no-access-log", "--no-rate-limits-enabled",
        "--metrics-dir", str(metrics_dir),
    )
    assert svc.proc is not None
    arbiter = svc.proc.pid
    wait_for(lambda: len(children(arbiter)) == 2, "two workers")
    head = f"{svc.base_url}/v1/slots/{b64(Invite().slot)}/open/head"
    sent = 0
    scrapes: list[float] = []

    def batch() -> None:
        nonlocal sent
        for _ in range(25):  # a new connection each: the kernel hands them to both workers
            status, _, _ = _get(head)
            assert status == 404
            sent += 1
        status, _, body = _get(svc.base_url + "/metrics")
        assert status == 200
        scrapes.append(_fetches(body.decode()))
        assert scrapes[-1] == sent, scrapes  # every request of every worker, at once

    for _ in range(40):  # until both workers have served some (a bounded number of batches)
        batch()
        per_pid = _fetches_by_pid(metrics_dir)
        if len([n for n in per_pid.values() if n > 0]) == 2:
            break
    assert len([n for n in per_pid.values() if n > 0]) == 2, per_pid
    # Kill the worker that served the most: its counts must stay counted.
    killed = max(children(arbiter), key=lambda pid: per_pid.get(pid, 0))
    os.kill(killed, signal.SIGKILL)
    wait_for(
        lambda: len(children(arbiter)) == 2 and killed not in children(arbiter),
        "a replacement worker",
    )
    for _ in range(3):
        batch()
    assert scrapes == sorted(scrapes), scrapes  # consecutive scrapes never go backwards
    assert scrapes[-1] == sent


def test_metrics_on_their_own_address(services: Callable[..., ServiceProcess]) -> None:
    metrics_port = free_port()
    svc = services(
        "--workers", "2", "--no-access-log", "--metrics-listen", f"127.0.0.1:{metrics_port}"
    )
    _get(f"{svc.base_url}/v1/slots/{b64(Invite().slot)}/open/head")
    status, headers, _ = _get(svc.base_url + "/metrics")
    assert status == 404  # no metrics on the public port
    assert headers["Content-Type"].startswith("application/problem+json")
    status, _, body = _get(f"http://127.0.0.1:{metrics_port}/metrics")
    assert status == 200
    assert _fetches(body.decode()) == 1
    status, _, _ = _get(f"http://127.0.0.1:{metrics_port}/healthz")
    assert status == 404  # the metrics address serves nothing else
    status, _, _ = _get(svc.base_url + "/healthz")
    assert status == 200


def test_metrics_require_the_bearer_token(
    services: Callable[..., ServiceProcess], tmp_path: Path
) -> None:
    token = "s3cret-metrics-token"
    token_file = tmp_path / "token"
    token_file.write_text(token + "\n")
    svc = services("--no-access-log", "--metrics-token-file", str(token_file))
    url = svc.base_url + "/metrics"
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {token}"}):
        status, reply_headers, body = _get(url, headers)
        assert status == 401
        assert reply_headers["WWW-Authenticate"].startswith("Bearer")
        assert json.loads(body)["type"] == "urn:invitekit:problem:unauthorized"
        assert b"invitekit_" not in body
    status, _, body = _get(url, {"Authorization": f"Bearer {token}"})
    assert status == 200
    assert b"invitekit_fetches" in body or b"invitekit_request_duration_seconds" in body
    assert token not in svc.log_text()


def test_metrics_token_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from invitekit_service.cli import load_settings

    monkeypatch.setenv("INVITEKIT_SERVICE_METRICS_TOKEN", "from-env")
    assert load_settings([]).read_metrics_token() == "from-env"
    assert "from-env" not in repr(load_settings([]))  # a secret, never printed


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, capture_output=True, text=True, timeout=120, check=False,
        env={
            k: v for k, v in (env or os.environ).items() if not k.startswith("INVITEKIT_SERVICE_")
        },
    )


def test_version() -> None:
    proc = _run(*service_command(), "--version")
    assert proc.returncode == 0
    assert proc.stdout.startswith("invitekit-service ")
    assert proc.stdout.split()[1][0].isdigit()


@pytest.mark.parametrize("module", ["uvloop", "gunicorn", "pydantic_settings", "prometheus_client"])
def test_without_the_service_extra_one_line_and_status_2(module: str) -> None:
    # The module is made unimportable the way an installation without it would be.
    code = (
        f"import sys; sys.modules[{module!r}] = None; import runpy;"
        " sys.argv = ['invitekit-service'];"
        " runpy.run_module('invitekit_service', run_name='__main__')"
    )
    proc = _run(sys.executable, "-c", code)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert "pip install 'invitekit[service]'" in proc.stderr
    assert module in proc.stderr
    version = _run(sys.executable, "-c", code.replace("'invitekit-service']", "'x', '--version']"))
    assert version.returncode == 0  # --version needs none of them
    assert version.stdout.startswith("invitekit-service ")


def _start_up_error(tmp_path: Path, *args: str) -> str:
    if "--database" not in args:
        args = (*args, "--database", f"sqlite:///{tmp_path / 'db.sqlite3'}")
    proc = _run(*service_command(), "--port", "0", *args)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    return proc.stderr


def test_config_file_errors_are_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    assert "cannot read: No such file" in _start_up_error(tmp_path, "--config", str(missing))
    unreadable = tmp_path / "dir.toml"
    unreadable.mkdir()
    assert "cannot read" in _start_up_error(tmp_path, "--config", str(unreadable))
    yaml_file = tmp_path / "service.yaml"
    yaml_file.write_text("port: 9000\n")
    assert "unknown format '.yaml'" in _start_up_error(tmp_path, "--config", str(yaml_file))
    broken = tmp_path / "broken.toml"
    broken.write_text("port = \n")
    assert "not valid TOML" in _start_up_error(tmp_path, "--config", str(broken))
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("no_such_setting = 1\n")
    assert "invalid-settings" in _start_up_error(tmp_path, "--config", str(unknown))


def test_config_file_from_the_environment_must_exist(tmp_path: Path) -> None:
    env = {**os.environ}
    proc = subprocess.run(
        [*service_command(), "--port", "0"], capture_output=True, text=True, timeout=120,
        check=False, env={**env, "INVITEKIT_SERVICE_CONFIG": str(tmp_path / "nope.toml")},
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1
    assert "nope.toml: cannot read" in proc.stderr


def test_bad_database_paths_are_one_line(tmp_path: Path) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    not_a_db = tmp_path / "not-a-db.sqlite3"
    not_a_db.write_text("this is no SQLite database, but long enough to be read as one" * 20)
    for url in (
        f"sqlite:///{a_file}/db.sqlite3",  # a parent that is a file
        f"sqlite:///{tmp_path}",  # a directory
        "sqlite:////sys/invitekit.sqlite3",  # a read-only place, even for root
        f"sqlite:///{not_a_db}",
    ):
        assert _start_up_error(tmp_path, "--database", url).startswith(
            "invitekit-service: error: database: "
        ), url


def test_metrics_token_file_errors_are_one_line(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("\n")
    assert "metrics_token_file" in _start_up_error(
        tmp_path, "--metrics-token-file", str(empty)
    )
    assert "cannot read" in _start_up_error(
        tmp_path, "--metrics-token-file", str(tmp_path / "missing")
    )
    assert "host:port" in _start_up_error(tmp_path, "--metrics-listen", "nowhere").lower()

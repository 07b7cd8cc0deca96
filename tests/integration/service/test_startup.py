"""Issue 11: ``invitekit-service`` start-up errors are one line and status 2, never a hang."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

EXE = str(Path(sys.executable).with_name("invitekit-service"))


def run_service(*args: str) -> subprocess.CompletedProcess[str]:
    # The timeout only stops a hung process (the old behaviour); it is no speed assertion.
    return subprocess.run([EXE, *args], capture_output=True, text=True, timeout=120, check=False)


def test_busy_port_is_one_line_and_status_2(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = run_service("--port", str(port), "--database",
                           f"sqlite:///{tmp_path / 'db.sqlite3'}")
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1
    assert proc.stderr.startswith(f"invitekit-service: error: port-in-use: 127.0.0.1:{port}: ")
    assert "Traceback" not in proc.stderr + proc.stdout


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["--port", "many"], "invalid-settings"),
        (["--port", "70000"], "invalid-settings"),
        (["--no-such-flag"], "usage"),
        (["--database", "sqlite:////proc/no-such-dir/x.sqlite3", "--port", "0"], "database"),
        (["--host", "203.0.113.7", "--port", "0"], "cannot-listen"),  # not an address we own
    ],
)
def test_other_start_up_errors_are_one_line_and_status_2(
    tmp_path: Path, args: list[str], code: str
) -> None:
    if "--database" not in args:
        args = [*args, "--database", f"sqlite:///{tmp_path / 'db.sqlite3'}"]
    proc = run_service(*args)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith(f"invitekit-service: error: {code}: "), proc.stderr


def test_help_shows_real_defaults() -> None:
    proc = run_service("--help")
    assert proc.returncode == 0
    assert "PydanticUndefined" not in proc.stdout
    text = " ".join(proc.stdout.split())
    assert "--digest-lengths DIGEST_LENGTHS accepted group_state_hash lengths" in text
    assert "32, 48, 64, separated by commas; default: 32" in text
    assert "--port PORT TCP port to listen on (0: any free port); default: 8080" in text
    from invitekit_service.config import Settings

    body = Settings.model_fields["max_body_bytes"].default
    assert f"largest accepted upload (413); default: {body}" in text

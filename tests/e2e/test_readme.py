"""Issue 11: the README works as written — every shell block is run by a test."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from .readme_blocks import KINDS, blocks_of, run_walkthrough, shell_blocks

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"


def test_every_shell_block_is_run_by_a_test() -> None:
    blocks = shell_blocks(README)
    assert len(blocks) >= 5
    for kind, text in blocks:
        assert kind in KINDS, f"unmarked README block:\n{text}"
    assert len(blocks_of(README, "fresh-clone")) == 1
    assert blocks_of(README, "fresh-clone")[0].split("\n")[:2] == [
        "scripts/run.sh     # set up .venv and run the blob service (SQLite) on 127.0.0.1:8080",
        "scripts/test.sh    # set up .venv, then ruff, mypy --strict and the whole test suite",
    ]


def test_readme_walkthrough_runs_as_written(tmp_path: Path) -> None:
    done = run_walkthrough(ROOT, tmp_path / "run.log")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "[15] everyone is at epoch" in out  # the demo ran the whole lifecycle
    assert "\nready: " in out  # join-check through the loopback link, no --service
    assert '"opens": true' in out  # fetch found the uploaded blob and it opens
    assert "http://127.0.0.1:8080/i#" in out
    assert "accepted: new_member_commit commit" in out
    assert "error" not in done.stderr.lower()


def test_readme_protobuf_regeneration_reproduces_the_committed_code(tmp_path: Path) -> None:
    (command,) = blocks_of(README, "gen-proto")
    copy = tmp_path / "repo"
    (copy / "invitekit").mkdir(parents=True)
    shutil.copytree(ROOT / "spec", copy / "spec")
    shutil.copytree(ROOT / "scripts", copy / "scripts")
    shutil.copytree(ROOT / "invitekit" / "proto", copy / "invitekit" / "proto",
                    ignore=shutil.ignore_patterns("__pycache__"))
    venv = Path(sys.executable).parent.parent
    (copy / ".venv").symlink_to(venv)
    env = {**os.environ, "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}"}  # activated
    done = subprocess.run(["bash", "-euc", command], cwd=copy, env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    for generated in sorted((ROOT / "invitekit" / "proto").glob("*_pb2.py*")):
        assert (copy / "invitekit" / "proto" / generated.name).read_bytes() == (
            generated.read_bytes()
        ), generated.name

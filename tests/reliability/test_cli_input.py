"""CLI inputs are read with a cap that fits what they are, never whole and then checked.

Real ``invitekit`` processes: ``inspect`` of a large sparse file must be refused from its
size, with the process's peak RSS (``ru_maxrss`` from ``wait4``) growing by a small fraction
of the file's size over the same command on a tiny file — on the code that read inputs
whole, a 5 GiB sparse file peaked at 10 GB before it was refused. A directory, a FIFO and
a character device each get their own one-line error and exit status 2 (the old code said
"no such file"), whatever command reads them: ``inspect`` (any input), ``seal`` (a
GroupInfo), ``policy rotate`` (a policy entry), ``fetch -`` (an invite on standard input).

CI: a 1 GiB sparse file (never written: it costs no disk). Issue size: ``RELIABILITY_SCALE=5``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .bounds import MIB
from .harness import REPO, env_float, record_figures

SCALE = env_float("RELIABILITY_SCALE", 1.0)
EXIT_BAD_INPUT = 2


def run_cli(*args: str, stdin: int | None = None) -> tuple[int, str, int]:
    """(exit status, stderr, peak RSS in bytes) of one real CLI process."""
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.Popen(
        [sys.executable, "-c", "from invitekit.cli import main; main()", *args],
        stdin=stdin if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=REPO,
    )
    assert proc.stderr is not None
    err = proc.stderr.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, err, usage.ru_maxrss * 1024


def test_a_huge_input_is_refused_from_its_size(tmp_path: Path) -> None:
    size = int((1 << 30) * SCALE)
    sparse = tmp_path / "huge.bin"
    with open(sparse, "wb") as f:
        f.truncate(size)
    tiny = tmp_path / "tiny.bin"
    tiny.write_bytes(b"\x01\x02\x03")
    _, _, baseline = run_cli("inspect", str(tiny))
    code, err, peak = run_cli("inspect", str(sparse))
    figures = {"file_bytes": size, "baseline_peak_mib": round(baseline / MIB, 1),
               "peak_mib": round(peak / MIB, 1), "exit": code, "stderr": err.strip()}
    record_figures("cli-huge-input", figures)
    assert code == EXIT_BAD_INPUT, figures
    assert err.startswith("error: input-too-large: "), err
    assert err.count("\n") == 1, err
    assert peak - baseline <= 8 * MIB + size // 100, figures


def make_fifo(tmp_path: Path) -> Path:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    return fifo


@pytest.mark.parametrize(
    ("make", "word"),
    [
        (lambda p: p, "directory"),
        (make_fifo, "FIFO"),
        (lambda p: Path("/dev/zero"), "character device"),
    ],
    ids=["directory", "fifo", "device"],
)
@pytest.mark.parametrize(
    "command",
    [
        ["inspect", "{}"],
        ["seal", "{}", "--policy", "{}", "--epoch-start-ns", "now"],
        ["policy", "rotate", "-p", "{}"],
    ],
    ids=["inspect", "seal", "policy"],
)
def test_a_path_that_is_not_a_file_gets_its_own_error(tmp_path: Path, make, word, command) -> None:  # type: ignore[no-untyped-def]
    target = make(tmp_path)
    args = [a.replace("{}", str(target)) for a in command]
    code, err, _ = run_cli(*args)
    assert code == EXIT_BAD_INPUT, (code, err)
    assert err.startswith("error: not-a-regular-file: "), err
    assert err.count("\n") == 1, err
    assert word in err, err


def test_standard_input_is_read_within_the_cap(tmp_path: Path) -> None:
    """An invite on standard input is KiB: /dev/zero on stdin is refused, not read whole."""
    with open("/dev/zero", "rb") as zero:
        code, err, _ = run_cli("fetch", "-", stdin=zero.fileno())
    assert code == EXIT_BAD_INPUT, (code, err)
    assert err.startswith("error: input-too-large: standard input"), err
    assert err.count("\n") == 1, err

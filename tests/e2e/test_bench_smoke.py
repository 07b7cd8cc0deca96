"""Every script in bench/ runs once, at tiny sizes, so none can rot unnoticed.

No timing is asserted (speed is measured in BENCHMARKS.md, never in tests): each script
must finish with status 0 and print its report. The sizes are the smallest each script
takes; wrk, nginx and the PostgreSQL server binaries come from scripts/setup.sh.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"

#: script -> (arguments, a string its output must contain)
RUNS: dict[str, tuple[list[str], str]] = {
    "bench_blob.py": (["--seconds", "0.02"], "seal+open"),
    "bench_envelope.py": (["--seconds", "0.02"], "hpke-mlkem768-x25519"),
    "bench_mls.py": (["--repeat", "1", "--fixture", "rine-classic-small"], "rine-classic-small"),
    "bench_validate.py": (["--repeat", "1"], "validate"),
    "bench_join.py": (["--members", "12", "--candidates", "2", "--runs", "1"], "L1-5"),
    "bench_flood.py": (["--runs", "1"], "clean"),
    "bench_slow_bodies.py": (["3", "1"], "rss_mib"),
    "bench_service.py": (
        ["--seconds", "1", "--connections", "4", "--upload-connections", "2", "--workers", "1"],
        "req/s",
    ),
    # Against this tree itself: the run exercises both columns' code paths.
    "bench_workers.py": (
        ["--other", str(ROOT), "--workers", "2", "--seconds", "1", "--connections", "4",
         "--rounds", "1"],
        "throughput ratio",
    ),
    "bench_scale.py head": (
        ["head", "--backends", "sqlite", "postgres", "--slots", "60", "--small", "20",
         "--seconds", "1", "--connections", "4", "--workers", "1"],
        "cache misses",
    ),
    "bench_scale.py uploads": (
        ["uploads", "--backends", "sqlite", "--seconds", "1", "--upload-connections", "2"],
        "uploads",
    ),
    "bench_scale.py gc": (
        ["gc", "--backends", "sqlite", "--expired", "200", "--slice", "1", "--seconds", "1",
         "--max-sweep", "20", "--max-reclaim", "5", "--upload-connections", "2"],
        "GC sweeps",
    ),
}


def test_every_bench_script_is_covered() -> None:
    scripts = {p.name for p in BENCH.glob("bench_*.py")}
    assert scripts == {name.split()[0] for name in RUNS}


@pytest.mark.parametrize("name", sorted(RUNS))
def test_bench_script_runs_once_tiny(name: str, tmp_path: Path) -> None:
    args, expected = RUNS[name]
    script = BENCH / name.split(maxsplit=1)[0]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "service")])}
    done = subprocess.run(
        [sys.executable, str(script), *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    assert expected in output, output[-4000:]

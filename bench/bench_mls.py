"""Benchmark: invitekit MLS decoding/verification next to rine_mls's native external join.

Usage (repository root, project venv)::

    python bench/bench_mls.py [--repeat 15] [--fixture rine-xwing-large ...]

For each fixture it reports the median over ``--repeat`` runs of

* ``decode+digest``: :func:`parse_group_info` (level 1) and the GroupContext digest;
* ``verify L1-3``: decode + GroupInfo signature + tree hash (what ``open_and_verify`` does
  by default);
* ``verify L1-4``: the same plus parent-hash validation;
* ``rine join``: ``MlsClient.join_by_external_commit`` on the same bytes (a fresh client
  each run; only the join call is timed), for rine fixtures.

Targets: ``verify L1-3`` under 50 ms and within 3x the native join.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from machine import cpu_model

from invitekit.mls import VerifyLevel, parse_group_info

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
DEFAULT = ["rine-xwing-large", "rine-classic-large", "tsmls-large"]


def median_ms(fn: Callable[[bytes], object], data: bytes, repeat: int) -> float:
    """Median wall time of ``fn(data)`` in milliseconds."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn(data)
        samples.append((time.perf_counter() - start) * 1e3)
    return statistics.median(samples)


def decode_and_digest(data: bytes) -> bytes:
    return parse_group_info(data).digest


def verify_levels_1_to_3(data: bytes) -> None:
    parse_group_info(data).verify(VerifyLevel.TREE)


def verify_levels_1_to_4(data: bytes) -> None:
    parse_group_info(data).verify(VerifyLevel.PARENT_HASHES)


def rine_join_ms(data: bytes, suite: int, repeat: int) -> float:
    import rine_mls

    samples = []
    with tempfile.TemporaryDirectory() as root:
        for i in range(repeat):
            client = rine_mls.MlsClient(f"{root}/j{i}", (i + 1).to_bytes(32, "big"), suite)
            start = time.perf_counter()
            client.join_by_external_commit(data)
            samples.append((time.perf_counter() - start) * 1e3)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description="invitekit MLS verification benchmark")
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--fixture", action="append")
    args = parser.parse_args()
    print(f"machine: nproc={os.cpu_count()}, cpu={cpu_model()}, python={platform.python_version()}")
    for name in args.fixture or DEFAULT:
        path = next(FIXTURES.glob(f"*/{name}.bin"))
        data = path.read_bytes()
        view = parse_group_info(data)
        members = len(view.members())

        decode_and_digest(data)  # warm caches
        row = {
            "decode+digest": median_ms(decode_and_digest, data, args.repeat),
            "verify L1-3": median_ms(verify_levels_1_to_3, data, args.repeat),
            "verify L1-4": median_ms(verify_levels_1_to_4, data, args.repeat),
        }
        if path.parent.name == "rine":
            row["rine join"] = rine_join_ms(data, view.cipher_suite, args.repeat)
        cells = ", ".join(f"{k} {v:.1f} ms" for k, v in row.items())
        suite = f"0x{view.cipher_suite:04x}"
        print(f"{name} ({members} members, suite {suite}, {len(data)} B): {cells}")
        if "rine join" in row:
            print(f"  verify L1-3 / rine join = {row['verify L1-3'] / row['rine join']:.2f}x")


if __name__ == "__main__":
    main()

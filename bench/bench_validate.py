"""Benchmark: validating an external commit against a 1,000-member group, beside verifying
its GroupInfo (the baseline: what a member or joiner pays to trust the group state).

Usage (repository root, project venv)::

    python bench/bench_validate.py [--repeat 21]

Inputs (committed): ``fixtures/commits/ts-mls/tsmls-large-group-info.bin`` — a 1,000-member
ts-mls group whose dictionary holds GROUP_MEMBERSHIP (1,000 entries) and the policy — and
``fixtures/commits/shaped/shaped-large.bin``, the XIP's atomic shape on ts-mls' real external
commit against it (82 kB: the UpdatePath encrypts to every resolution node). Reported,
medians over ``--repeat`` runs, each from bytes:

* ``GroupInfo verify L1-3``: parse + GroupInfo signature + tree hash (the baseline);
* ``validate (GroupInfo parsed)``: ``validate_external_commit`` given the decoded GroupInfo:
  it decodes GROUP_MEMBERSHIP (1,000 entries), reads 1,000 leaf credentials and, because the
  fixture policy sets ``max_uses``, decodes all 1,000 entries for check 11;
* ``validate (GroupState reused)``: the same with a :class:`GroupState` prepared once for the
  epoch — what each further commit in that epoch costs;
* ``parse GI + validate``: decode the GroupInfo and validate (a cold CLI-style call).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from machine import cpu_model

from invitekit.commit_validation import Accepted, GroupState, validate_external_commit
from invitekit.mls import VerifyLevel, parse_group_info

ROOT = Path(__file__).resolve().parents[1]
GI = ROOT / "fixtures/commits/ts-mls/tsmls-large-group-info.bin"
COMMIT = ROOT / "fixtures/commits/shaped/shaped-large.bin"
ENVELOPE = 1_900_000_060 * 10**9
START = 1_900_000_000 * 10**9


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1e3)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description="external-commit validation benchmark")
    parser.add_argument("--repeat", type=int, default=21)
    args = parser.parse_args()
    print(f"machine: nproc={os.cpu_count()}, cpu={cpu_model()}, python={platform.python_version()}")
    gi, commit = GI.read_bytes(), COMMIT.read_bytes()
    state = parse_group_info(gi)
    prepared = GroupState(state)

    def validate(s: object, c: bytes) -> None:
        verdict = validate_external_commit(c, s, envelope_ns=ENVELOPE, epoch_start_ns=START)  # type: ignore[arg-type]
        assert isinstance(verdict, Accepted), verdict

    rows = [
        ("GroupInfo verify L1-3", lambda: parse_group_info(gi).verify(VerifyLevel.TREE)),
        ("validate (GroupInfo parsed)", lambda: validate(state, commit)),
        ("validate (GroupState reused)", lambda: validate(prepared, commit)),
        ("parse GI + validate", lambda: validate(parse_group_info(gi), commit)),
    ]
    print(f"group: {len(state.members())} members, GroupInfo {len(gi)} B, commit {len(commit)} B")
    for name, fn in rows:
        fn()  # warm up (compiles the decoders)
        print(f"{name:30s} {median_ms(fn, args.repeat):8.2f} ms")


if __name__ == "__main__":
    main()

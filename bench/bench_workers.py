"""Worker supervision side by side: gunicorn's arbiter with aiohttp's worker (this tree)
against another tree's ``invitekit-service --workers N`` (the hand-written supervisor it
replaced: ``git archive 41bb334 service invitekit spec | tar -x -C DIR``).

For each implementation, alternating A B A B so drift on a shared machine hits both:

* head GET of one ~4 KiB open-slot blob, wrk at ``--connections`` for ``--seconds``;
* a worker SIGKILLed: seconds until a replacement answers and N workers run again;
* the supervisor SIGKILLed: seconds until every worker has exited (no orphans).

Everything on 127.0.0.1, SQLite, each step bounded. Output: a Markdown table.
Run: ``.venv/bin/python bench/bench_workers.py --other /tmp/old`` (needs ``wrk``).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from bench_service import b64, blob_of_size, free_port, run_wrk, wait_http
from machine import machine

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Figures:
    name: str
    rps: list[float] = field(default_factory=list)
    p50: list[float] = field(default_factory=list)
    p99: list[float] = field(default_factory=list)
    errors: int = 0
    restart_s: list[float] = field(default_factory=list)
    orphans_gone_s: list[float] = field(default_factory=list)


def children(pid: int) -> set[int]:
    found: set[int] = set()
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            found |= {int(p) for p in Path(f"/proc/{pid}/task/{task}/children").read_text().split()}
    except FileNotFoundError:
        pass
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def wait(check: object, limit: float = 60.0) -> float:
    started = time.monotonic()
    while not check():  # type: ignore[operator]
        if time.monotonic() - started > limit:
            raise RuntimeError("timed out")
        time.sleep(0.02)
    return time.monotonic() - started


def start(tree: Path, workdir: Path, workers: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": f"{tree}:{tree / 'service'}"}
    env = {k: v for k, v in env.items() if not k.startswith("INVITEKIT_SERVICE_")}
    cmd = [
        sys.executable, "-m", "invitekit_service", "--port", str(port), "--workers",
        str(workers), "--database", f"sqlite:///{workdir / 'db.sqlite3'}", "--no-access-log",
        "--no-rate-limits-enabled", "--log-level", "WARNING",
    ]
    log = (workdir / "service.log").open("ab")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    wait_http(base + "/readyz", timeout=60)
    if workers > 1:
        wait(lambda: len(children(proc.pid)) == workers)
    return proc, base


def one_round(tree: Path, figures: Figures, args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-workers-") as tmp:
        workdir = Path(tmp)
        proc, base = start(tree, workdir, args.workers)
        try:
            slot = b64(os.urandom(16))
            blob = blob_of_size(os.urandom(32), 4096)
            req = urllib.request.Request(
                f"{base}/v1/slots/{slot}/open/blobs", data=blob, method="POST",
                headers={"Content-Type": "application/octet-stream"},
            )
            with urllib.request.urlopen(req, timeout=10) as resp:
                assert resp.status == 201
            result = run_wrk(
                f"{base}/v1/slots/{slot}/open/head", figures.name, args.seconds, args.connections
            )
            figures.rps.append(result.requests_per_s)
            figures.p50.append(result.p50_ms)
            figures.p99.append(result.p99_ms)
            figures.errors += result.errors + result.non_2xx

            if args.workers == 1:  # a control: no supervisor to compare
                return
            before = children(proc.pid)
            victim = min(before)
            os.kill(victim, signal.SIGKILL)

            def replaced() -> bool:
                now = children(proc.pid)
                if len(now) != args.workers or victim in now:
                    return False
                try:
                    with urllib.request.urlopen(base + "/healthz", timeout=1):
                        return True
                except OSError:
                    return False

            figures.restart_s.append(wait(replaced))
            workers = children(proc.pid)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
            try:
                figures.orphans_gone_s.append(wait(lambda: not any(alive(p) for p in workers)))
            except RuntimeError:
                left = [p for p in workers if alive(p)]
                print(f"{figures.name}: workers {left} still running after the supervisor died;"
                      " killing them", file=sys.stderr)
                print((workdir / "service.log").read_text()[-3000:], file=sys.stderr)
                for pid in left:
                    os.kill(pid, signal.SIGKILL)
                figures.orphans_gone_s.append(float("inf"))
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)


def med(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2] if ordered else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--other", type=Path, required=True, help="tree of the other version")
    parser.add_argument("--other-name", default="hand-written supervisor (41bb334)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    ours = Figures("gunicorn + aiohttp worker (this tree)")
    other = Figures(args.other_name)
    for _ in range(args.rounds):
        one_round(REPO, ours, args)
        one_round(args.other, other, args)
    print(f"machine: {machine()}")
    print(
        f"{args.workers} workers, head GET of a 4 KiB blob, wrk -c{args.connections}"
        f" {args.seconds}s, {args.rounds} rounds alternating; median of rounds (each round)\n"
    )
    print("| supervision | req/s | p50 ms | p99 ms | errors | worker SIGKILL → replaced and"
          " healthy, s | supervisor SIGKILL → all workers gone, s |")
    print("|---|---|---|---|---|---|---|")
    for f in (ours, other):
        rounds = ", ".join(f"{v:,.0f}" for v in f.rps)
        print(
            f"| {f.name} | {med(f.rps):,.0f} ({rounds}) | {med(f.p50):.2f} | {med(f.p99):.2f}"
            f" | {f.errors} | {med(f.restart_s):.2f} | {med(f.orphans_gone_s):.2f} |"
        )
    ratio = med(ours.rps) / med(other.rps)
    print(f"\nthroughput ratio (gunicorn / other): {ratio:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

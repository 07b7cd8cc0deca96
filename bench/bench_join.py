"""Join latency: invite link text -> selected, verified GroupInfo, over a loopback service.

What one "scan" measures (the XIP join flow up to, not including, the commit):
parse the invite link -> resolve the service -> fetch the candidate set (keyed lane and
open slot, concurrently) -> cheap checks and AEAD on every candidate -> order -> verify
the top candidate's GroupInfo (decode, signature, tree hash) and check its consistency
-> pre-commit policy check. Exactly ``invitekit.drivers.check_invite``.

Setup: a real rine-mls group grown to 1,000 members (992 in batched adds, then 8 single
adds), the GroupInfos of its last 8 epochs sealed and uploaded to the invite's keyed lane
on a real ``invitekit-service`` process (temporary SQLite) on 127.0.0.1.

Usage::

    python bench/bench_join.py                  # 30 scans per configuration
    python bench/bench_join.py --runs 100 --json

Not a test: nothing here runs under pytest.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import rine_mls
from machine import cpu_model

from invitekit.client import FetchPolicy, InviteClient, SlotKind
from invitekit.drivers import check_invite
from invitekit.join import JoinOptions, ReadyToCommit
from invitekit.link import make_link, parse_invite_text
from invitekit.mls import VerifyLevel
from invitekit.policy import enable
from invitekit.refresh import mint_blob
from invitekit.selection import Selection, triage

HOUR_NS = 3600 * 10**9
MEMBERS = 1000
CANDIDATES = 8


def build_group(root: Path) -> list[bytes]:
    """GroupInfos of the last ``CANDIDATES`` epochs of a group that ends at ``MEMBERS``."""
    suite = rine_mls.CIPHER_SUITE_CLASSICAL

    def client(name: str) -> rine_mls.MlsClient:
        seed = hashlib.sha256(b"bench-join/" + name.encode()).digest()
        return rine_mls.MlsClient(str(root / name), seed, suite)

    group = client("admin").create_group(os.urandom(16))
    first = MEMBERS - CANDIDATES - 1
    packages = [client(f"m{i}").generate_key_package() for i in range(first)]
    for start in range(0, first, rine_mls.KEY_PACKAGE_MAX_BATCH):
        group.add_members(packages[start : start + rine_mls.KEY_PACKAGE_MAX_BATCH])
    infos = []
    for i in range(CANDIDATES):
        group.add_member(client(f"late{i}").generate_key_package())
        infos.append(group.group_info())
    assert len(group.member_identities()) == MEMBERS
    return infos


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_service(db: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "invitekit_service", "--host", "127.0.0.1", "--port", str(port),
         "--database", f"sqlite:///{db}", "--no-rate-limits-enabled", "--no-access-log",
         "--log-level", "WARNING"],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return proc, f"http://127.0.0.1:{port}/v1"
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("service did not start")


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median_ms": round(statistics.median(ordered) * 1000, 2),
        "p90_ms": round(ordered[int(0.9 * (len(ordered) - 1))] * 1000, 2),
        "min_ms": round(ordered[0] * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
    }


async def run(args: argparse.Namespace, url: str, link: str) -> dict[str, Any]:
    policy = FetchPolicy(allow_insecure_loopback=True)

    async def resolver(_pointer: object) -> list[str]:
        return [url]

    async def scan(client: InviteClient, level: VerifyLevel) -> float:
        started = time.perf_counter()
        payload = parse_invite_text(link)
        outcome = await check_invite(
            payload, client=client, resolver=resolver, options=JoinOptions(level=level)
        )
        elapsed = time.perf_counter() - started
        assert isinstance(outcome, ReadyToCommit), outcome
        assert outcome.survivor is not None
        assert len(outcome.survivor.view.members()) == MEMBERS
        return elapsed

    results: dict[str, Any] = {}
    async with InviteClient(policy) as warm:
        await scan(warm, VerifyLevel.TREE)  # warm-up: connection, imports, caches
        for level in (VerifyLevel.PARSE, VerifyLevel.SIGNATURE, VerifyLevel.TREE):
            samples = [await scan(warm, level) for _ in range(args.runs)]
            results[f"warm/{level.name.lower()}"] = summary(samples)
        # Breakdown of the default (tree) path on the warm connection.
        payload = parse_invite_text(link)
        parts: dict[str, list[float]] = {"fetch": [], "triage": [], "verify_top": []}
        for _ in range(args.runs):
            t0 = time.perf_counter()
            merged = await warm.fetch_merged(
                [url], payload.external_group_id, kinds=(SlotKind.LANE, SlotKind.OPEN),
                key=payload.symmetric_key,
            )
            t1 = time.perf_counter()
            now = time.time_ns()
            tri = triage(merged.candidates, payload, now)
            t2 = time.perf_counter()
            top = Selection(payload, tri, now).next()
            t3 = time.perf_counter()
            assert top is not None
            assert len(tri.ordered) == CANDIDATES
            parts["fetch"].append(t1 - t0)
            parts["triage"].append(t2 - t1)
            parts["verify_top"].append(t3 - t2)
        results["breakdown/tree"] = {k: summary(v) for k, v in parts.items()}
    cold = []
    for _ in range(args.runs):
        async with InviteClient(policy) as fresh:  # a new connection per scan, like a phone
            cold.append(await scan(fresh, VerifyLevel.TREE))
    results["cold/tree"] = summary(cold)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "mls").mkdir()
        built = time.perf_counter()
        infos = build_group(root / "mls")
        build_s = time.perf_counter() - built
        proc, url = start_service(root / "bench.sqlite3")
        try:
            policy = enable(expire_in_ns=HOUR_NS)
            link = make_link(policy.invite(), "https://example.org/i")
            sizes = []

            async def upload() -> None:
                async with InviteClient(FetchPolicy(allow_insecure_loopback=True)) as c:
                    for gi in infos:  # ascending epochs: every one is a new lane head
                        body = mint_blob(gi, policy, time.time_ns()).to_bytes()
                        sizes.append(len(body))
                        result = await c.upload(url, policy.external_group_id, body,
                                                key=policy.symmetric_key)
                        assert result.ok, result

            asyncio.run(upload())
            results = asyncio.run(run(args, url, link))
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    report = {
        "command": "python bench/bench_join.py " + " ".join(sys.argv[1:]),
        "machine": {
            "nproc": os.cpu_count(), "cpu": cpu_model(), "python": platform.python_version()
        },
        "setup": {
            "members": MEMBERS, "candidates": CANDIDATES,
            "blob_bytes": sizes[-1], "group_build_s": round(build_s, 1), "runs": args.runs,
        },
        "results": results,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"{report['command']}  |  nproc={os.cpu_count()}  cpu={cpu_model()}")
    print(f"{MEMBERS} members, {CANDIDATES} candidates of ~{sizes[-1]} bytes, {args.runs} runs")
    for name, value in results.items():
        if name.startswith("breakdown"):
            for part, stats in value.items():
                print(f"  {name}/{part:<11} median {stats['median_ms']:>7} ms"
                      f"  p90 {stats['p90_ms']:>7} ms")
        else:
            print(f"  {name:<22} median {value['median_ms']:>7} ms  p90 {value['p90_ms']:>7} ms"
                  f"  min {value['min_ms']:>7} ms")


if __name__ == "__main__":
    main()

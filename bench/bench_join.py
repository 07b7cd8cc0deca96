"""Join latency and bytes: invite link text -> selected, verified GroupInfo, over a loopback
service; the listing path with every body inline (what services and clients did before
``bodies=omit``) against metadata listings plus bodies by content address.

What one "scan" measures (the XIP join flow up to, not including, the commit): parse the
invite link -> resolve the service -> list the keyed lane and the open slot (concurrently)
-> cheap checks -> order -> fetch and verify the top candidate's GroupInfo (decode,
signature, tree hash) and check its consistency -> pre-commit policy check. Exactly
``invitekit.drivers.check_invite``, with the app's copy of the policy (rine-mls GroupInfos
carry none; without it a join is refused with ``NO_POLICY``).

Setup: a real rine-mls group grown to ``--members`` (1,001 by default: batched adds, then
one single add per candidate), the GroupInfos of its last ``--candidates`` epochs sealed and
uploaded to the invite's keyed lane *and* open slot on a real ``invitekit-service`` process
(temporary SQLite) on 127.0.0.1. Bytes are the response bodies the client read.

Also: verification levels L1–3, L1–4 and L1–5 of the selected GroupInfo (L1–5 also with
every leaf signature on one thread, as before they were split over threads), and rine's
native external join (``join_by_external_commit``, fresh client per run) on the same bytes.

Usage::

    python bench/bench_join.py                  # 30 scans per configuration
    python bench/bench_join.py --runs 100 --json
    python bench/bench_join.py --members 12 --candidates 2 --runs 1   # smoke (tests)

Not a test: nothing here runs under pytest (tests/e2e/test_bench_smoke.py runs it once, tiny).
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import rine_mls
from machine import cpu_model

from invitekit.blob import parse_blob
from invitekit.client import AiohttpTransport, FetchPolicy, InviteClient
from invitekit.client.transport import HttpResponse, TransportRequest
from invitekit.drivers import check_invite
from invitekit.join import JoinOptions, ReadyToCommit
from invitekit.link import make_link, parse_invite_text
from invitekit.mls import VerifyLevel
from invitekit.payload import InvitePayload
from invitekit.policy import ExternalCommitPolicy, enable
from invitekit.protocol import ListingBodies, SlotKind
from invitekit.refresh.decisions import mint_blob
from invitekit.sealing import open_and_verify

HOUR_NS = 3600 * 10**9
SUITE = rine_mls.CIPHER_SUITE_CLASSICAL
LEVELS = (VerifyLevel.TREE, VerifyLevel.PARENT_HASHES, VerifyLevel.LEAF_SIGNATURES)


def build_group(root: Path, members: int, candidates: int) -> list[bytes]:
    """GroupInfos of the last ``candidates`` epochs of a group that ends at ``members``."""

    def client(name: str) -> rine_mls.MlsClient:
        seed = hashlib.sha256(b"bench-join/" + name.encode()).digest()
        return rine_mls.MlsClient(str(root / name), seed, SUITE)

    group = client("admin").create_group(os.urandom(16))
    first = members - candidates - 1
    packages = [client(f"m{i}").generate_key_package() for i in range(first)]
    for start in range(0, first, rine_mls.KEY_PACKAGE_MAX_BATCH):
        group.add_members(packages[start : start + rine_mls.KEY_PACKAGE_MAX_BATCH])
    infos = []
    for i in range(candidates):
        group.add_member(client(f"late{i}").generate_key_package())
        infos.append(group.group_info())
    assert len(group.member_identities()) == members
    return infos


@dataclass
class CountingTransport:
    """The network transport, counting the response bytes (and requests) it read."""

    inner: AiohttpTransport
    received: int = 0
    requests: int = 0

    async def send(self, request: TransportRequest) -> HttpResponse:
        response = await self.inner.send(request)
        self.received += len(response.body)
        self.requests += 1
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_service(db: Path, checkout: Path | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """A service process on loopback: this tree's, or another checkout's (``checkout``)."""
    port = free_port()
    env = dict(os.environ)
    if checkout is not None:
        env["PYTHONPATH"] = f"{checkout}{os.pathsep}{checkout / 'service'}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "invitekit_service", "--host", "127.0.0.1", "--port", str(port),
         "--database", f"sqlite:///{db}", "--no-rate-limits-enabled", "--no-access-log",
         "--log-level", "WARNING"],
        stdout=subprocess.DEVNULL,
        env=env,
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


async def run(
    args: argparse.Namespace,
    urls: dict[ListingBodies, str],
    link: str,
    policy: ExternalCommitPolicy,
) -> dict[str, Any]:
    fetch_policy = FetchPolicy(allow_insecure_loopback=True)
    options = JoinOptions()  # verification level 3 (the default)

    def provider(_view: object) -> ExternalCommitPolicy:
        return policy

    async def scan(client: InviteClient) -> ReadyToCommit:
        payload = parse_invite_text(link)

        async def resolver(_pointer: object) -> list[str]:
            return [urls[client.listing_bodies]]

        outcome = await check_invite(
            payload, client=client, resolver=resolver, options=options, policy_provider=provider
        )
        assert isinstance(outcome, ReadyToCommit), outcome
        assert outcome.survivor is not None
        assert len(outcome.survivor.view.members()) == args.members
        return outcome

    results: dict[str, Any] = {}
    forms = {"inline listing (old path)": ListingBodies.INLINE,
             "metadata + body by address (new)": ListingBodies.OMIT}
    transports = {name: CountingTransport(AiohttpTransport()) for name in forms}
    clients = {
        name: InviteClient(fetch_policy, transport=transports[name], listing_bodies=form)
        for name, form in forms.items()
    }
    samples: dict[str, list[float]] = {name: [] for name in forms}
    bytes_per_scan: dict[str, int] = {}
    requests_per_scan: dict[str, int] = {}
    selected = b""
    try:
        for name in forms:  # warm-up: connection, imports, caches
            await scan(clients[name])
        for _ in range(args.runs):  # interleaved, so both paths see the same load
            for name in forms:
                before, asked = transports[name].received, transports[name].requests
                started = time.perf_counter()
                ready = await scan(clients[name])
                samples[name].append(time.perf_counter() - started)
                bytes_per_scan[name] = transports[name].received - before
                requests_per_scan[name] = transports[name].requests - asked
                assert ready.survivor is not None
                selected = ready.survivor.candidate.raw
    finally:
        for transport in transports.values():
            await transport.aclose()
    for name in forms:
        results[f"scan/{name}"] = {
            **summary(samples[name]),
            "bytes": bytes_per_scan[name],
            "requests": requests_per_scan[name],
            "bytes_per_selected_blob": round(bytes_per_scan[name] / len(selected), 2),
        }
    old, new = (statistics.median(samples[name]) for name in forms)
    results["scan/new_over_old_latency"] = round(new / old, 2)
    results["selected_blob_bytes"] = len(selected)
    results["levels"] = verify_levels(selected, parse_invite_text(link), args.runs)
    return results


def verify_levels(body: bytes, payload: InvitePayload, runs: int) -> dict[str, Any]:
    """Open and verify the selected blob at L1–3, L1–4 and L1–5, and rine's native join of
    the same GroupInfo (fresh client per run, only the join call timed)."""
    blob = parse_blob(body).blob
    out: dict[str, Any] = {}
    group_info = b""
    for level in LEVELS:
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            opened = open_and_verify(blob, payload, time.time_ns(), level=level)
            times.append(time.perf_counter() - started)
            group_info = opened.group_info_bytes
        out[f"L1-{int(level)}"] = summary(times)
    times = []  # level 5 with every leaf signature on the calling thread (no split)
    for _ in range(runs):
        started = time.perf_counter()
        opened = open_and_verify(blob, payload, time.time_ns(), level=VerifyLevel.PARENT_HASHES)
        opened.view.verify_leaf_signatures(threads=1)
        times.append(time.perf_counter() - started)
    out["L1-5 one thread"] = summary(times)
    joins = []
    with tempfile.TemporaryDirectory() as root:
        for i in range(runs):
            client = rine_mls.MlsClient(f"{root}/j{i}", (i + 1).to_bytes(32, "big"), SUITE)
            started = time.perf_counter()
            client.join_by_external_commit(group_info)
            joins.append(time.perf_counter() - started)
    out["rine join_by_external_commit"] = summary(joins)
    native = statistics.median(joins)
    for name in [f"L1-{int(level)}" for level in LEVELS] + ["L1-5 one thread"]:
        out[f"{name}/native"] = round(out[name]["median_ms"] / 1000 / native, 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--members", type=int, default=1001)
    parser.add_argument("--candidates", type=int, default=8)
    parser.add_argument(
        "--old-service", type=Path, default=None,
        help="a checkout whose service answers the old path (e.g. one before bodies=omit)",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.members < args.candidates + 2 or args.candidates < 1 or args.runs < 1:
        parser.error("need --candidates >= 1, --members >= candidates + 2, --runs >= 1")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "mls").mkdir()
        built = time.perf_counter()
        infos = build_group(root / "mls", args.members, args.candidates)
        build_s = time.perf_counter() - built
        proc, url = start_service(root / "bench.sqlite3")
        procs = [proc]
        urls = {ListingBodies.OMIT: url, ListingBodies.INLINE: url}
        if args.old_service is not None:
            old_proc, urls[ListingBodies.INLINE] = start_service(
                root / "old.sqlite3", args.old_service.resolve()
            )
            procs.append(old_proc)
        try:
            policy = enable(expire_in_ns=HOUR_NS)
            link = make_link(policy.invite(), "https://example.org/i")
            sizes = []

            async def upload() -> None:
                async with InviteClient(FetchPolicy(allow_insecure_loopback=True)) as c:
                    for gi in infos:  # ascending epochs: every one is a new lane head
                        body = mint_blob(gi, policy, time.time_ns()).to_bytes()
                        sizes.append(len(body))
                        for target in set(urls.values()):
                            for kind in (SlotKind.LANE, SlotKind.OPEN):
                                result = await c.upload(target, policy.external_group_id,
                                                        body, kind=kind,
                                                        key=policy.symmetric_key)
                                assert result.ok, result

            asyncio.run(upload())
            results = asyncio.run(run(args, urls, link, policy))
        finally:
            for running in procs:
                running.terminate()
                running.wait(timeout=10)
    report = {
        "command": "python bench/bench_join.py " + " ".join(sys.argv[1:]),
        "machine": {
            "nproc": os.cpu_count(), "cpu": cpu_model(), "python": platform.python_version(),
            "loadavg_1m": round(os.getloadavg()[0], 2),
        },
        "setup": {
            "old_path_service": str(args.old_service or "this tree, bodies inline"),
            "members": args.members, "candidates": args.candidates,
            "blob_bytes": sizes[-1], "group_build_s": round(build_s, 1), "runs": args.runs,
        },
        "results": results,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    machine = report["machine"]
    print(f"{report['command']}  |  nproc={machine['nproc']}  cpu={machine['cpu']}"
          f"  load(1m)={machine['loadavg_1m']}")
    print(f"{args.members} members, {args.candidates} candidates of ~{sizes[-1]} bytes"
          f" (lane and open slot), {args.runs} runs;"
          f" old path served by {report['setup']['old_path_service']}")
    for name, value in results.items():
        if name.startswith("scan/") and isinstance(value, dict):
            print(f"  {name:<42} median {value['median_ms']:>8} ms  p90 {value['p90_ms']:>8} ms"
                  f"  {value['bytes']:>9} B  ({value['bytes_per_selected_blob']}x the blob,"
                  f" {value['requests']} requests)")
        elif name == "levels":
            for part, stats in value.items():
                if isinstance(stats, dict):
                    print(f"  verify {part:<35} median {stats['median_ms']:>8} ms"
                          f"  p90 {stats['p90_ms']:>8} ms")
                else:
                    print(f"  verify {part:<35} {stats}x")
        else:
            print(f"  {name:<42} {value}")


if __name__ == "__main__":
    main()

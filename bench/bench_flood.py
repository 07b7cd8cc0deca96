"""What junk costs a joiner: ``check_invite`` on the largest XMTP GroupInfo under attack.

The genuine blob is the 1,001-member X-Wing GroupInfo (``fixtures/rine/rine-xwing-large``,
1.40 MB sealed), written to the keyed lane and the open slot of the real service app
(temporary SQLite, in-process transport: the real HTTP stack on a Unix socket, no network).
Configurations, each on a fresh slot:

* ``clean`` — the genuine blob only;
* ``forged-epochs`` — plus 16 keyless blobs claiming epoch 2^64-1 on the open slot
  (issue 8 case 3: they must not hide it);
* ``lane-wedged+max-size`` — plus an invite holder's junk pushing the lane head 2^20 epochs
  ahead and 7 keyless 4 MiB blobs filling the open slot's window (the largest listing the
  default service sends: about 45 MB of JSON).

Usage::

    python bench/bench_flood.py              # 5 scans per configuration
    python bench/bench_flood.py --runs 10 --json

Bounded ((runs + 1 warm-up) x 3 configurations) and stops by itself. Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from machine import cpu_model

from invitekit.blob import EncryptedBlob, seal
from invitekit.client import FetchPolicy, InProcessTransport, InviteClient, SlotKind
from invitekit.drivers import check_invite
from invitekit.join import ReadyToCommit
from invitekit.mls import parse_group_info
from invitekit.payload import InvitePayload
from invitekit.policy import ExternalCommitPolicy

ROOT = Path(__file__).resolve().parents[1]
U64_MAX = (1 << 64) - 1


def keyless(epoch: int, size: int = 256) -> bytes:
    return EncryptedBlob(os.urandom(12), os.urandom(size), epoch, os.urandom(32), 0).to_bytes()


async def prepare(client: InviteClient, url: str, config: str) -> InvitePayload:
    payload = InvitePayload(os.urandom(16), os.urandom(32))
    gi = (ROOT / "fixtures" / "rine" / "rine-xwing-large.bin").read_bytes()
    view = parse_group_info(gi)
    body = seal(gi, payload.symmetric_key, epoch=view.epoch, group_state_hash=view.digest)
    slot, key = payload.external_group_id, payload.symmetric_key
    for result in await client.upload_many([url], slot, body.to_bytes(), key=key):
        assert result.ok, result
    if config == "forged-epochs":
        for _ in range(16):
            assert (await client.upload(url, slot, keyless(U64_MAX), kind=SlotKind.OPEN)).ok
    elif config == "lane-wedged+max-size":
        wedge = seal(b"junk", key, epoch=view.epoch + (1 << 20), group_state_hash=os.urandom(32))
        assert (await client.upload(url, slot, wedge.to_bytes(), key=key)).ok
        for _ in range(7):
            big = keyless(U64_MAX, 4 * 1024 * 1024 - 200)
            assert (await client.upload(url, slot, big, kind=SlotKind.OPEN)).ok
    return payload


async def scan(client: InviteClient, url: str, payload: InvitePayload) -> float:
    policy = ExternalCommitPolicy(
        allow_external_commit=True,
        symmetric_key=payload.symmetric_key,
        external_group_id=payload.external_group_id,
    )

    async def resolver(_pointer: object) -> list[str]:
        return [url]

    start = time.perf_counter()
    outcome = await check_invite(
        payload, client=client, resolver=resolver, policy_provider=lambda _view: policy
    )
    elapsed = time.perf_counter() - start
    assert isinstance(outcome, ReadyToCommit), outcome
    return elapsed


async def run(runs: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        transport = InProcessTransport()
        try:
            url = transport.add_service(
                "bench", f"sqlite:///{tmp}/bench.sqlite3", rate_limits_enabled=False,
                access_log=False, log_level="WARNING",
            )
            policy = FetchPolicy(allow_insecure_loopback=True)
            async with InviteClient(policy, transport=transport) as client:
                for config in ("clean", "forged-epochs", "lane-wedged+max-size"):
                    payload = await prepare(client, url, config)
                    await scan(client, url, payload)  # warm-up, not counted
                    times = [await scan(client, url, payload) for _ in range(runs)]
                    results[config] = {
                        "median_ms": round(statistics.median(times) * 1000, 1),
                        "min_ms": round(min(times) * 1000, 1),
                        "max_ms": round(max(times) * 1000, 1),
                        "runs": runs,
                    }
        finally:
            await transport.aclose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = asyncio.run(run(max(1, min(args.runs, 50))))
    meta = {"python": platform.python_version(), "cpu": cpu_model(), "cores": os.cpu_count()}
    if args.json:
        json.dump({"machine": meta, "results": results}, sys.stdout, indent=2)
        print()
        return
    print(f"machine: {meta}")
    for config, r in results.items():
        print(f"{config:24} median {r['median_ms']:8.1f} ms  "
              f"(min {r['min_ms']:.1f}, max {r['max_ms']:.1f}, {r['runs']} scans)")


if __name__ == "__main__":
    main()

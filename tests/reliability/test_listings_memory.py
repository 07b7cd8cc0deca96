"""Listings hold every body (issue "Bounded under abuse", finding 2): one slot holding 8 blobs
of about 4 MB, then 40 concurrent ``GET …/open/blobs`` — the old-style request, every body
inline — from one address whose connections read slowly. Before bodies were streamed the
service assembled each listing whole (bodies, base64, JSON text and bytes: 5 GB for this
attack); now a listing is written item by item, body chunk by body chunk, under the
response budget, so the service's RSS growth stays bounded by that budget however many
bytes the attacker asks for. An honest client on another address lists by metadata and
fetches the body by content address throughout.

CI profile: the sizes of the finding (8 x 4 MB, 40 listings), held for a few seconds.
``RELIABILITY_LISTINGS_CHECKOUT=/path/to/other/checkout`` runs the service from another
checkout (the test fails on one whose listings are built in memory).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import time
from pathlib import Path

import aiohttp
from invitekit_service.admission import AdmissionPolicy, Outcome, SlotAddress, Upload
from invitekit_service.storage.sqlite import SqliteBlobStore, sqlite_path_from_url

from invitekit.blob import parse_blob, seal
from invitekit.protocol import SlotKind, b64url

from .abuse import open_raw, read_status, rss_bytes, source
from .harness import env_float, env_int, record_figures

LISTINGS = env_int("RELIABILITY_LISTINGS", 40)
BLOBS = 8
BLOB_PLAINTEXT = 4_000_000  # about 4 MB sealed, under the default 4 MiB body cap
HOLD_S = env_float("RELIABILITY_LISTINGS_HOLD_S", 4.0)
RESPONSE_BUDGET = 64 << 20  # the default response_bytes_in_flight
SLACK = 96 << 20  # allocator, sockets' user-space buffers, the honest client's reads


def _rss_parts(pid: int) -> dict[str, int]:
    """RssAnon / RssFile / RssShmem of a process (bytes)."""
    parts: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("RssAnon:", "RssFile:", "RssShmem:")):
                name, value = line.split()[:2]
                parts[name.rstrip(":")] = int(value) * 1024
    return parts


async def _fill(db_path: str, slot: bytes, key: bytes) -> None:
    """``BLOBS`` sealed blobs of about 4 MB in the slot's open FIFO, admitted by the store."""
    SqliteBlobStore.initialise_schema(db_path)
    store = SqliteBlobStore(db_path)
    await store.start()
    try:
        address = SlotAddress(slot, SlotKind.OPEN)
        for epoch in range(BLOBS):
            body = seal(os.urandom(BLOB_PLAINTEXT), key, epoch=epoch,
                        group_state_hash=os.urandom(32)).to_bytes()  # fmt: skip
            upload = Upload.from_blob(
                body, parse_blob(body).blob, sha256=hashlib.sha256(body).digest(),
                signature=None, received_ns=time.time_ns(),
            )
            result = await store.admit(address, upload, AdmissionPolicy(8), time.time_ns())
            assert result.outcome is Outcome.CREATED
    finally:
        await store.close()


def _prefix() -> list[str]:
    checkout = os.environ.get("RELIABILITY_LISTINGS_CHECKOUT")
    if not checkout:
        return []
    root = Path(checkout).resolve()
    return ["env", f"PYTHONPATH={root}{os.pathsep}{root / 'service'}"]


async def _honest_round(http: aiohttp.ClientSession, base: str, path: str) -> bool:
    """A new client's read: the listing by metadata, then the newest body by address."""
    async with http.get(base + path + "/blobs", params={"bodies": "omit"}) as r:
        if r.status != 200:
            return False
        items = (await r.json())["items"]
    newest = min(items, key=lambda i: i["arrival"])
    async with http.get(f"{base}{path}/blobs/{newest['sha256']}") as r:
        body = await r.read()
        return r.status == 200 and hashlib.sha256(body).hexdigest() == newest["sha256"]


async def test_concurrent_inline_listings_do_not_hold_every_body(make_service) -> None:
    svc = make_service("--no-access-log", prefix=_prefix(), start=False)
    key, slot = os.urandom(32), os.urandom(16)
    path = f"/v1/slots/{b64url(slot)}/open"
    # The slot is filled through the store before the service starts: what uploads cost is
    # another finding (byte-quota bookkeeping); this one is about what listings hold.
    await _fill(sqlite_path_from_url(svc.database_url), slot, key)
    await svc.astart()
    base = svc.base_url
    listing_bytes = BLOBS * (4 * (BLOB_PLAINTEXT + 100) // 3 + 400)
    await asyncio.sleep(0.5)
    before, before_parts = rss_bytes(svc.pid), _rss_parts(svc.pid)

    samples: list[tuple[float, int, dict[str, int]]] = []
    sampling = True

    async def sample() -> None:
        while sampling:
            samples.append((time.monotonic(), rss_bytes(svc.pid), _rss_parts(svc.pid)))
            await asyncio.sleep(0.05)

    sampler = asyncio.create_task(sample())
    # The attacker: 40 listings at once from one address, reading a little, then stalling.
    request = f"GET {path}/blobs HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    conns = []
    for _ in range(LISTINGS):
        reader, writer = await open_raw(svc.proc.port, source(0))
        writer.write(request)
        conns.append((reader, writer))
    statuses = [await read_status(reader, timeout=30) for reader, _ in conns]

    # While they stall: sample the service's RSS, and serve an honest client elsewhere.
    peak = before
    peak_parts = before_parts
    honest_ok = honest_total = 0
    honest = aiohttp.TCPConnector(local_addr=(source(1), 0))
    async with aiohttp.ClientSession(
        connector=honest, timeout=aiohttp.ClientTimeout(total=60)
    ) as http:
        deadline = time.monotonic() + HOLD_S
        while time.monotonic() < deadline:
            peak = max(peak, rss_bytes(svc.pid))
            honest_total += 1
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                honest_ok += await _honest_round(http, base, path)
            now_rss = rss_bytes(svc.pid)
            if now_rss > peak:
                peak, peak_parts = now_rss, _rss_parts(svc.pid)
            await asyncio.sleep(0.1)
    sampling = False
    await sampler
    top = max(samples, key=lambda x: x[1])
    peak = max(peak, top[1])
    peak_parts = top[2]
    for _, writer in conns:
        writer.close()
    await asyncio.sleep(1.0)
    after = rss_bytes(svc.pid)
    growth = peak - before
    figures = {
        "listings": LISTINGS, "blobs": BLOBS, "listing_bytes": listing_bytes,
        "bytes_asked": LISTINGS * listing_bytes,
        "rss_before": before, "rss_peak": peak, "rss_after": after, "rss_growth": growth,
        "answers": {s: statuses.count(s) for s in sorted(set(statuses))},
        "honest_ok": honest_ok, "honest_total": honest_total,
        "rss_parts_before": before_parts, "rss_parts_peak": peak_parts,
    }
    record_figures("listings-memory", figures)
    # Every listing was answered 200 (streamed) or 429 (the client's share of the response
    # budget); never a 5xx.
    assert set(statuses) <= {"200", "429"}, figures
    assert "200" in statuses, figures
    # Memory: bounded by the response budget, not by what was asked (40 x 43 MB here).
    assert growth < RESPONSE_BUDGET + SLACK, figures
    assert honest_total > 0
    assert honest_ok == honest_total, figures


HEAD_READERS = env_int("RELIABILITY_HEAD_READERS", 131)


async def test_many_slow_readers_of_a_large_head_share_one_copy(make_service) -> None:
    """Heads of 4 MB read by 131 clients at once (same finding), the head larger than the
    head cache keeps (its per-entry bound is an eighth of ``--head-cache-bytes``): each
    response streams the body from the store in chunks as its connection drains, where it
    used to read the whole body into memory per request."""
    svc = make_service(
        "--no-access-log", "--head-cache-bytes", str(16 << 20), prefix=_prefix(), start=False
    )
    key, slot = os.urandom(32), os.urandom(16)
    path = f"/v1/slots/{b64url(slot)}/open"
    await _fill(sqlite_path_from_url(svc.database_url), slot, key)
    await svc.astart()
    await asyncio.sleep(0.5)
    before, before_parts = rss_bytes(svc.pid), _rss_parts(svc.pid)
    request = f"GET {path}/head HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    conns = []
    for i in range(HEAD_READERS):  # one client per address and network, as in a scan storm
        # (stalled readers within one /24 would hold at most its network share and be
        # answered 429 past it: tests/integration/service/test_bodies_by_address.py)
        reader, writer = await open_raw(svc.proc.port, f"127.{1 + i // 250}.{i % 250}.2")
        writer.write(request)
        conns.append((reader, writer))
    statuses = [await read_status(reader, timeout=30) for reader, _ in conns]
    peak, peak_parts = before, before_parts
    deadline = time.monotonic() + HOLD_S
    while time.monotonic() < deadline:
        now_rss = rss_bytes(svc.pid)
        if now_rss > peak:
            peak, peak_parts = now_rss, _rss_parts(svc.pid)
        await asyncio.sleep(0.05)
    for _, writer in conns:
        writer.close()
    growth = peak - before
    figures = {
        "readers": HEAD_READERS, "head_bytes": BLOB_PLAINTEXT + 100,
        "bytes_asked": HEAD_READERS * (BLOB_PLAINTEXT + 100),
        "rss_before": before, "rss_peak": peak, "rss_growth": growth,
        "rss_parts_before": before_parts, "rss_parts_peak": peak_parts,
        "answers": {s: statuses.count(s) for s in sorted(set(statuses))},
    }
    record_figures("head-readers-memory", figures)
    assert set(statuses) == {"200"}, figures  # distinct clients: every one is served
    assert growth < RESPONSE_BUDGET + SLACK, figures

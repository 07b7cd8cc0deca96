"""Scale benchmark for the blob service's storage: SQLite and PostgreSQL side by side.

Run through ``scripts/bench-scale.sh`` (installs wrk and the PostgreSQL server binaries when
missing). Everything listens on 127.0.0.1; every measurement is bounded (``--seconds``) and
the script stops by itself. The PostgreSQL server is a private one (``tests/integration/service/
pg_local.py``) with ``fsync=on``, ``synchronous_commit=on``: acknowledged means flushed.

Modes (one command each):

* ``head`` — head GETs over uniformly random open slots, on each backend, in one run: with
  the head cache on over the first ``--small`` slots (cache hits), then with the cache off
  (every request a miss: one read of the store) over the first ``--small`` slots and over
  all ``--slots`` slots — one row each. The slots are filled by bulk insert straight into
  the store's schema (one real sealed 4 KiB blob).
* ``uploads`` — durable uploads (distinct valid blobs, open slots): SQLite with 1 and 2
  workers on one file, PostgreSQL with 1, 2 and 4 workers.
* ``gc`` — ``--expired`` expired blobs in the database, the service's GC sweeping them while
  wrk uploads; upload latency per ``--slice``-second window until the sweep is done, and a
  probe that uploads one blob at a time through the whole sweep, so a stall longer than a
  slice still shows. Then, on SQLite, with the load stopped: how long the service takes to
  hand the freed pages back to the file system (at most ``--max-reclaim`` seconds).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import http.client
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import asyncpg
from bench_service import WrkResult, free_port, lua_upload_script, run_wrk, stop, wait_http
from machine import machine

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from invitekit_service.admission import fields_key  # noqa: E402
from invitekit_service.storage.postgres import PostgresBlobStore  # noqa: E402
from invitekit_service.storage.sqlite import SqliteBlobStore  # noqa: E402

from invitekit.blob import parse_blob, seal  # noqa: E402
from tests.integration.service.pg_local import LocalPostgres  # noqa: E402

PREFIX = bytes.fromhex("6a1b2c3d4e5f60718293a4b5")  # 12 fixed bytes; 4 more carry the index


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def slot_id(index: int) -> bytes:
    return PREFIX + index.to_bytes(4, "big")


def sample_blob(size: int, expires_at_ns: int = 0) -> tuple[bytes, dict[str, Any]]:
    """One real sealed blob of about ``size`` bytes and the columns the store keeps for it."""
    key = os.urandom(32)
    plain = os.urandom(max(0, size - 80))
    body = seal(plain, key, epoch=42, group_state_hash=os.urandom(32),
                expires_at_ns=expires_at_ns).to_bytes()  # fmt: skip
    blob = parse_blob(body).blob
    return body, {
        "sha256": hashlib.sha256(body).digest(),
        "fields_key": fields_key(blob),
        "epoch": blob.epoch.to_bytes(8, "big"),
        "gsh": blob.group_state_hash,
        "expires": blob.expires_at_ns.to_bytes(8, "big"),
        "nonce": blob.nonce,
    }


def fill_sqlite(path: Path, slots: int, body: bytes, cols: dict[str, Any]) -> float:
    """Bulk insert ``slots`` open slots holding ``body``; returns seconds taken."""
    started = time.perf_counter()
    SqliteBlobStore.initialise_schema(str(path))
    conn = sqlite3.connect(path, isolation_level=None)
    # A bulk load into a fresh file: no journal, a big page cache; WAL again afterwards.
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-524288")
    now = time.time_ns()
    conn.execute("BEGIN")
    chunk = 50_000
    for lo in range(0, slots, chunk):
        ids = range(lo, min(slots, lo + chunk))
        conn.executemany(
            "INSERT INTO slots (id, slot_id, lane_id, last_write_ns) VALUES (?, ?, X'', ?)",
            ((i + 1, slot_id(i), now) for i in ids),
        )
        conn.executemany(
            "INSERT INTO blobs (slot_ref, sha256, fields_key, epoch, group_state_hash, "
            "expires_at_ns, nonce, signature, received_ns, body) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?, ?)",
            (
                (
                    i + 1,
                    cols["sha256"],
                    cols["fields_key"],
                    cols["epoch"],
                    cols["gsh"],
                    cols["expires"],
                    cols["nonce"],
                    now,
                    body,
                )
                for i in ids
            ),
        )
    conn.execute("COMMIT")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.close()
    return time.perf_counter() - started


async def fill_postgres(url: str, slots: int, body: bytes, cols: dict[str, Any]) -> float:
    """Migrate, then bulk insert server-side (generate_series) in the store's schema."""
    started = time.perf_counter()
    store = PostgresBlobStore(url)
    await store.start()
    await store.close()
    conn = await asyncpg.connect(url)
    try:
        now = time.time_ns()
        chunk = 100_000
        for lo in range(0, slots, chunk):
            hi = min(slots, lo + chunk)
            # lock_key: the first 8 bytes of SHA-256(slot_id || 0 || lane_id), as the store.
            await conn.execute(
                "INSERT INTO slots (slot_id, lane_id, lock_key, last_write_ns) "
                "SELECT $1::bytea || int4send(g), ''::bytea, "
                "('x' || substr(encode(sha256($1::bytea || int4send(g) || '\\x00'::bytea), "
                "'hex'), 1, 16))::bit(64)::bigint, $2 FROM generate_series($3::int, $4::int) g",
                PREFIX, now, lo, hi - 1,
            )  # fmt: skip
        await conn.execute(
            "INSERT INTO blobs (slot_ref, sha256, fields_key, epoch, group_state_hash, "
            "expires_at_ns, nonce, received_ns, body) "
            "SELECT id, $1, $2, $3, $4, $5, $6, $7, $8 FROM slots",
            cols["sha256"], cols["fields_key"], cols["epoch"], cols["gsh"], cols["expires"],
            cols["nonce"], now, body,
        )  # fmt: skip
        await conn.execute("VACUUM ANALYZE slots")
        await conn.execute("VACUUM ANALYZE blobs")
    finally:
        await conn.close()
    return time.perf_counter() - started


def lua_head_script(workdir: Path, slots: int, name: str) -> Path:
    """wrk script: each request GETs the head of a uniformly random slot in [0, slots)."""
    script = workdir / f"head-{name}.lua"
    script.write_text(f"""
local prefix = "/v1/slots/{b64(PREFIX)}"
local n = {slots}
local a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
local function c(x) local i = x % 64 + 1 return a:sub(i, i) end
function init(args) math.randomseed(os.time() + math.floor(os.clock() * 1e6)) end
function request()
  local v = math.random(0, n - 1)
  local x = math.floor(v / 256)
  local y = v % 256
  local id = c(math.floor(x / 262144)) .. c(math.floor(x / 4096)) .. c(math.floor(x / 64))
    .. c(x) .. c(math.floor(y / 4)) .. c((y % 4) * 16)
  return wrk.format("GET", prefix .. id .. "/open/head")
end
""")
    return script


def start_service(url: str, port: int, workers: int, log: Path, *extra: str) -> Any:
    exe = Path(sys.executable).parent / "invitekit-service"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "invitekit_service"]
    cmd += [
        "--host", "127.0.0.1", "--port", str(port), "--database", url,
        "--workers", str(workers), "--no-rate-limits-enabled", "--no-access-log",
        "--log-level", "INFO", *extra,
    ]  # fmt: skip
    with open(log, "wb") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=out)


def print_table(title: str, rows: list[WrkResult]) -> None:
    print(f"\n### {title}\n")
    print("| target | req/s | p50 ms | p99 ms | non-2xx | socket errors |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r.target} | {r.requests_per_s:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} "
              f"| {r.non_2xx} | {r.errors} |")  # fmt: skip


def bench_head(args: argparse.Namespace, workdir: Path, pg: LocalPostgres | None) -> list[Any]:
    body, cols = sample_blob(4096)
    results: list[Any] = []
    backends = [b for b in args.backends if b != "postgres" or pg is not None]
    for backend in backends:
        if backend == "sqlite":
            db = workdir / "head.sqlite3"
            took = fill_sqlite(db, args.slots, body, cols)
            url = f"sqlite:///{db}"
            size = db.stat().st_size
        else:
            assert pg is not None
            url = pg.create_database("head")
            took = asyncio.run(fill_postgres(url, args.slots, body, cols))
            size = int(pg.psql("SELECT pg_database_size('head')").strip())
        print(f"{backend}: filled {args.slots:,} slots in {took:.1f}s "
              f"({size / args.slots:,.0f} bytes/slot on disk)", file=sys.stderr)  # fmt: skip
        rows = []
        # Cache hits (cache on, the small set: every request after the warm-up hits) and
        # cache misses (cache off: every request is one indexed read of the store), each
        # as its own row; the scale ratio compares misses over all slots with misses over
        # the small set, measured small, large, large, small on one process so that a load
        # drifting during the run (a shared machine) weighs on both sides alike.
        hits_svc = [("cache hits", args.small)]
        miss_svc = [("cache misses", args.small), ("cache misses", args.slots),
                    ("cache misses", args.slots), ("cache misses", args.small)]
        for extra, plan in (((), hits_svc), (("--head-cache-entries", "0"), miss_svc)):
            port = free_port()
            log = workdir / f"head-{backend}-{len(extra)}.log"
            svc = start_service(url, port, args.workers, log, *extra)
            try:
                base = f"http://127.0.0.1:{port}"
                wait_http(base + "/healthz")
                for label, n in plan:
                    script = lua_head_script(workdir, n, str(n))
                    target = f"{backend} head, {label}, uniform over {n:,} slots"
                    warm = min(3, args.seconds)
                    run_wrk(base + "/", target, warm, args.connections, script)  # warm-up
                    res = run_wrk(base + "/", target, args.seconds, args.connections, script)
                    print(f"  {res}", file=sys.stderr)
                    rows.append(res)
            finally:
                stop(svc)
        hits, small_a, large_a, large_b, small_b = rows
        small_rps = (small_a.requests_per_s + small_b.requests_per_s) / 2
        large_rps = (large_a.requests_per_s + large_b.requests_per_s) / 2
        small_p50 = (small_a.p50_ms + small_b.p50_ms) / 2
        large_p50 = (large_a.p50_ms + large_b.p50_ms) / 2
        results.append({
            "backend": backend, "fill_s": took, "bytes_per_slot": size / args.slots,
            "hits": hits.__dict__, "small": [small_a.__dict__, small_b.__dict__],
            "large": [large_a.__dict__, large_b.__dict__],
            "rps_ratio": large_rps / small_rps, "p50_ratio": small_p50 / large_p50,
        })  # fmt: skip
        print_table(f"head GET, {backend}, {args.workers} workers", rows)
        print(f"\ncache misses, {args.slots:,} / {args.small:,} slots (mean of two runs each): "
              f"req/s ratio {large_rps / small_rps:.2f}, p50 ratio "
              f"({args.small:,} p50 / {args.slots:,} p50) {small_p50 / large_p50:.2f}")
        if backend == "sqlite":
            for suffix in ("", "-wal", "-shm", "-markers", "-writelock"):
                Path(f"{db}{suffix}").unlink(missing_ok=True)
        else:
            assert pg is not None
            pg.psql("DROP DATABASE head")
    return results


def bench_uploads(args: argparse.Namespace, workdir: Path, pg: LocalPostgres | None) -> list[Any]:
    script = lua_upload_script(workdir)
    runs: list[tuple[str, str, int]] = [
        ("sqlite", f"sqlite:///{workdir / f'up{w}.sqlite3'}", w) for w in (1, 2)
    ]
    if pg is not None:
        runs += [("postgres", "", w) for w in (1, 2, 4)]
    rows: list[WrkResult] = []
    for backend, sqlite_url, workers in runs:
        url = sqlite_url
        if backend == "postgres":
            assert pg is not None
            url = pg.create_database(f"up{workers}")
        port = free_port()
        svc = start_service(url, port, workers, workdir / f"up-{backend}-{workers}.log")
        try:
            base = f"http://127.0.0.1:{port}"
            wait_http(base + "/healthz")
            target = f"{backend}, {workers} worker{'s' if workers > 1 else ''}"
            warm = min(2, args.seconds)
            run_wrk(base + "/", target, warm, args.upload_connections, script)  # warm-up
            res = run_wrk(base + "/", target, args.seconds, args.upload_connections, script)
            print(f"  {res}", file=sys.stderr)
            rows.append(res)
        finally:
            stop(svc)
    print_table(f"durable uploads, {args.upload_connections} connections", rows)
    return [r.__dict__ for r in rows]


def _remaining(backend: str, url: str) -> int:
    """Expired blobs still stored (the filled ones expire at 1 ns; uploads never expire)."""
    if backend == "sqlite":
        with contextlib.closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as conn:
            return int(conn.execute(
                "SELECT count(*) FROM blobs WHERE expires_at_ns = X'0000000000000001'"
            ).fetchone()[0])  # fmt: skip

    async def count() -> int:
        conn = await asyncpg.connect(url)
        try:
            return int(await conn.fetchval(
                "SELECT count(*) FROM blobs WHERE expires_at_ns = '\\x0000000000000001'::bytea"
            ))  # fmt: skip
        finally:
            await conn.close()

    return asyncio.run(count())


def _await_reclaim(backend: str, url: str, limit_s: int) -> tuple[int, float] | None:
    """SQLite, load stopped: wait (up to ``limit_s``) for the service to hand the swept
    pages back to the file system; (free pages left, seconds waited)."""
    if backend != "sqlite":
        return None
    started = time.monotonic()
    while True:
        with contextlib.closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as conn:
            pages = int(conn.execute("PRAGMA freelist_count").fetchone()[0])
        waited = time.monotonic() - started
        if pages == 0 or waited > limit_s:
            return pages, waited
        time.sleep(1)


class UploadProbe(threading.Thread):
    """One upload at a time, back to back, for as long as it runs: every latency is kept,
    so a stall shows whole (wrk slices only count requests that finish inside a slice)."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.latencies_ms: list[float] = []
        self.failures = 0
        self.stopping = threading.Event()

    def run(self) -> None:
        key = os.urandom(32)
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        while not self.stopping.is_set():
            body = seal(os.urandom(1024), key, epoch=7, group_state_hash=bytes(32)).to_bytes()
            path = f"/v1/slots/{b64(os.urandom(16))}/open/blobs"
            started = time.perf_counter()
            try:
                conn.request("POST", path, body, {"Content-Type": "application/octet-stream"})
                reply = conn.getresponse()
                reply.read()
                ok = reply.status == 201
            except OSError:
                ok = False
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            self.latencies_ms.append((time.perf_counter() - started) * 1000)
            self.failures += not ok
            self.stopping.wait(0.02)  # about 40 probes a second
        conn.close()

    def summary(self) -> dict[str, float]:
        ordered = sorted(self.latencies_ms) or [float("nan")]
        return {
            "count": len(self.latencies_ms),
            "failures": self.failures,
            "p50_ms": ordered[len(ordered) // 2],
            "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
            "max_ms": ordered[-1],
        }


def bench_gc(args: argparse.Namespace, workdir: Path, pg: LocalPostgres | None) -> list[Any]:
    body, cols = sample_blob(4096, expires_at_ns=1)
    script = lua_upload_script(workdir)
    out: list[Any] = []
    for backend in [b for b in args.backends if b != "postgres" or pg is not None]:
        if backend == "sqlite":
            db = workdir / "gc.sqlite3"
            took = fill_sqlite(db, args.expired, body, cols)
            url = f"sqlite:///{db}"
        else:
            assert pg is not None
            url = pg.create_database("gc")
            took = asyncio.run(fill_postgres(url, args.expired, body, cols))
        print(f"{backend}: {args.expired:,} expired blobs filled in {took:.1f}s", file=sys.stderr)
        port = free_port()
        svc = start_service(url, port, 1, workdir / f"gc-{backend}.log", "--gc-interval-s", "1")
        rows: list[WrkResult] = []
        probe = UploadProbe(port)
        try:
            base = f"http://127.0.0.1:{port}"
            wait_http(base + "/healthz")
            probe.start()
            deadline = time.monotonic() + args.max_sweep
            started = time.monotonic()
            while time.monotonic() < deadline:
                left = _remaining(backend, url)
                target = f"{backend} uploads, t={time.monotonic() - started:.0f}s, {left:,} left"
                if left == 0:
                    break
                res = run_wrk(base + "/", target, args.slice, args.upload_connections, script)
                print(f"  {res}", file=sys.stderr)
                rows.append(res)
            swept = time.monotonic() - started
            left = _remaining(backend, url)
            probe.stopping.set()
            probe.join(timeout=70)
            reclaim = _await_reclaim(backend, url, args.max_reclaim) if left == 0 else None
        finally:
            probe.stopping.set()
            probe.join(timeout=70)
            stop(svc)
        print_table(f"uploads while GC sweeps {args.expired:,} expired blobs, {backend}", rows)
        worst = max((r.p99_ms for r in rows), default=float("nan"))
        state = f"swept within {swept:.0f}s" if left == 0 else f"{left:,} left after {swept:.0f}s"
        print(f"\nworst slice p99 during the sweep: {worst:.1f} ms; {state}")
        seen = probe.summary()
        print(f"probe (one upload at a time through the whole sweep): {seen['count']:,.0f} "
              f"uploads, {seen['failures']:,.0f} failed, p50 {seen['p50_ms']:.1f} ms, "
              f"p99 {seen['p99_ms']:.1f} ms, max {seen['max_ms']:.1f} ms")  # fmt: skip
        if reclaim is not None:
            pages, waited = reclaim
            print(f"free pages handed back to the file system with no load: "
                  f"{pages:,} left after {waited:.0f}s")  # fmt: skip
        out.append({"backend": backend, "slices": [r.__dict__ for r in rows],
                    "worst_p99_ms": worst, "sweep_s": swept, "rows_left": left,
                    "probe": seen, "reclaim": reclaim})  # fmt: skip
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["head", "uploads", "gc"])
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgres"])
    parser.add_argument("--slots", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--expired", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--slice", type=int, default=5)
    parser.add_argument("--max-sweep", type=int, default=300)
    parser.add_argument("--max-reclaim", type=int, default=600)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--upload-connections", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    pg = None
    if "postgres" in args.backends:
        pg = LocalPostgres.start(
            fsync=True, settings={"shared_buffers": "'2GB'", "max_wal_size": "'4GB'"}
        )
    try:
        run = {"head": bench_head, "uploads": bench_uploads, "gc": bench_gc}[args.mode]
        results = run(args, workdir, pg)
    finally:
        if pg is not None:
            pg.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    info = machine()
    print(f"\nmachine: {info['nproc']} x {info['cpu']}, Python {info['python']}; "
          f"mode {args.mode}, {args.seconds}s per measurement")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "args": {
            k: str(v) for k, v in vars(args).items()}, "results": results}, indent=2))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

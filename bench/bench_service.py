"""Blob-service benchmark: head GET next to nginx, and durable upload throughput.

Run through ``scripts/bench-service.sh`` (it installs nginx and wrk when missing). Everything
listens on 127.0.0.1 and every measurement is bounded (``--seconds`` each), so the script
stops by itself. Output: a Markdown table on stdout and JSON with ``--json PATH``.

Measurements, all with wrk at ``--connections`` concurrent connections:

* head GET of a ~4 KiB and a ~256 KiB blob from ``invitekit-service`` (lane head route,
  full 200 responses) and the same bytes as a static file from nginx, back to back;
* durable uploads: POSTs of distinct valid blobs to open slots (each 2xx is acknowledged
  only after the SQLite transaction's fsync). A Lua script varies the nonce and the slot
  per request, so every upload is new and admission does real work.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

import aiohttp
from machine import machine

from invitekit.blob import seal
from invitekit.lane import LaneSigner

REPO = Path(__file__).resolve().parents[1]
NONCE_MARK = b"\xa5NONCEMARKS\x5a"  # 12 bytes, replaced per request by the Lua script


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class WrkResult:
    target: str
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    errors: int


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s)", text)
    if not m:
        return float("nan")
    return float(m.group(1)) * _UNITS[m.group(2)]


def run_wrk(
    url: str, target: str, seconds: int, connections: int, script: Path | None = None
) -> WrkResult:
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "5s"]
    if script is not None:
        cmd += ["-s", str(script)]
    out = subprocess.run(
        [*cmd, url], capture_output=True, text=True, timeout=seconds + 60, check=True
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    # The "Latency Distribution" lines start with the percentile (other lines hold "88.50%").
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    err_total = sum(int(g) for g in errors.groups()) if errors else 0
    return WrkResult(target, rps, p50, p99, int(non2xx.group(1)) if non2xx else 0, err_total)


def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except Exception:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer")


def blob_of_size(key: bytes, size: int, epoch: int = 1) -> bytes:
    """A real sealed blob whose serialization is ``size`` bytes (±a few)."""
    overhead = len(seal(b"", key, epoch=epoch, group_state_hash=bytes(32)).to_bytes())
    plain = os.urandom(max(0, size - overhead - 4))
    return seal(plain, key, epoch=epoch, group_state_hash=hashlib.sha256(plain).digest()).to_bytes()


def start_nginx(
    root: Path, port: int, workdir: Path, cache_port: int, service_port: int
) -> subprocess.Popen[bytes]:
    """nginx serving ``root`` statically on ``port``, and on ``cache_port`` the service behind
    the read cache of deploy/nginx-cache.conf (same cache directives, no TLS)."""
    conf = workdir / "nginx.conf"
    for d in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (workdir / d).mkdir(exist_ok=True)
    conf.write_text(f"""
worker_processes auto;
pid {workdir}/nginx.pid;
error_log {workdir}/nginx-error.log warn;
daemon off;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    client_body_temp_path {workdir}/body;
    proxy_temp_path {workdir}/proxy;
    fastcgi_temp_path {workdir}/fastcgi;
    uwsgi_temp_path {workdir}/uwsgi;
    scgi_temp_path {workdir}/scgi;
    default_type application/octet-stream;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        location / {{ add_header Cache-Control "public, max-age=5, stale-while-revalidate=30"; }}
    }}
    proxy_cache_path {workdir}/cache levels=1:2 keys_zone=invitekit:16m max_size=256m
                     inactive=10m use_temp_path=off;
    upstream invitekit_service {{ server 127.0.0.1:{service_port}; keepalive 64; }}
    server {{
        listen 127.0.0.1:{cache_port};
        location / {{
            proxy_pass http://invitekit_service;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_cache invitekit;
            proxy_cache_methods GET HEAD;
            proxy_cache_lock on;
            proxy_cache_use_stale updating error timeout;
            proxy_cache_background_update on;
            proxy_cache_revalidate on;
        }}
    }}
}}
""")
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    return subprocess.Popen(
        [nginx, "-p", str(workdir), "-c", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def start_service(db: Path, port: int, workers: int, log: Path) -> subprocess.Popen[bytes]:
    exe = Path(sys.executable).parent / "invitekit-service"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "invitekit_service"]
    cmd += [
        "--host", "127.0.0.1", "--port", str(port), "--database", f"sqlite:///{db}",
        "--workers", str(workers), "--no-rate-limits-enabled", "--no-access-log",
        "--log-level", "WARNING",
    ]  # fmt: skip
    with open(log, "wb") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=out)


HELLO_APP = """
import asyncio, sys
import uvloop
from aiohttp import web
body = open(sys.argv[2], "rb").read()
async def handler(request):
    return web.Response(body=body)
async def main():
    app = web.Application()
    app.router.add_get("/x", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", int(sys.argv[1]), reuse_port=True).start()
    await asyncio.Event().wait()
uvloop.run(main())
"""


def start_hello(port: int, workers: int, body_file: Path) -> list[subprocess.Popen[bytes]]:
    """The aiohttp floor: a bare handler returning the same bytes, same worker count."""
    return [
        subprocess.Popen(
            [sys.executable, "-c", HELLO_APP, str(port), str(body_file)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(workers)
    ]


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


async def upload(base: str, path: str, body: bytes, headers: dict[str, str]) -> int:
    async with aiohttp.ClientSession() as s, s.post(base + path, data=body, headers=headers) as r:
        await r.read()
        return r.status


def lua_upload_script(workdir: Path) -> Path:
    key = os.urandom(32)
    body = seal(
        os.urandom(1024),
        key,
        epoch=7,
        group_state_hash=os.urandom(32),
        random_bytes=lambda n: NONCE_MARK,
    ).to_bytes()
    prefix, suffix = body.split(NONCE_MARK)

    def lua_bytes(data: bytes) -> str:
        return '"' + "".join(f"\\{b}" for b in data) + '"'

    script = workdir / "upload.lua"
    script.write_text(f"""
local prefix = {lua_bytes(prefix)}
local suffix = {lua_bytes(suffix)}
local counter = 0
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
function request()
  counter = counter + 1
  local nonce = string.format("%02d%010d", tid, counter)
  local slot = string.format("s%03d%08d", tid, counter % 4096)
  return wrk.format("POST", "/v1/slots/" .. slot .. "/open/blobs",
    {{["Content-Type"] = "application/octet-stream"}}, prefix .. nonce .. suffix)
end
local created = 0
function response(status, headers, body)
  if status == 201 then created = created + 1 end
end
""")
    return script


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=256)
    parser.add_argument("--upload-connections", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--upload-workers", type=int, default=1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    for tool in ("wrk", "nginx"):
        if not (shutil.which(tool) or Path(f"/usr/sbin/{tool}").exists()):
            print(f"{tool} is missing: run scripts/bench-service.sh", file=sys.stderr)
            return 2
    workdir = Path(tempfile.mkdtemp(prefix="bench-service-"))
    os.chmod(workdir, 0o755)
    www = workdir / "www"
    www.mkdir()
    os.chmod(www, 0o755)
    key = os.urandom(32)
    signer = LaneSigner(key)
    slot = os.urandom(16)
    blobs = {"4KiB": blob_of_size(key, 4096), "256KiB": blob_of_size(key, 262144)}
    svc_port, nginx_port, cache_port = free_port(), free_port(), free_port()
    svc = start_service(workdir / "bench.sqlite3", svc_port, args.workers, workdir / "svc.log")
    nginx = start_nginx(www, nginx_port, workdir, cache_port, svc_port)
    results: list[WrkResult] = []
    base = f"http://127.0.0.1:{svc_port}"
    try:
        wait_http(base + "/healthz")
        paths = {}
        for name, body in blobs.items():
            lane_slot = slot + name.encode()
            path = f"/v1/slots/{b64(lane_slot)}/lanes/{b64(signer.lane_id)}"
            status = asyncio.run(
                upload(
                    base,
                    path + "/blobs",
                    body,
                    {"Invitekit-Signature": b64(signer.sign(lane_slot, body))},
                )
            )
            assert status == 201, status
            paths[name] = path + "/head"
            (www / f"{name}.bin").write_bytes(body)
            os.chmod(www / f"{name}.bin", 0o644)
        wait_http(f"http://127.0.0.1:{nginx_port}/4KiB.bin")
        for name, body in blobs.items():
            with urllib.request.urlopen(base + paths[name]) as r:
                assert r.read() == body
            for target, url in (
                (f"nginx {name}", f"http://127.0.0.1:{nginx_port}/{name}.bin"),
                (f"invitekit head {name}", base + paths[name]),
                (f"invitekit head {name} via nginx cache",
                 f"http://127.0.0.1:{cache_port}{paths[name]}"),
            ):
                run_wrk(url, target, min(2, args.seconds), args.connections)  # warm-up
                res = run_wrk(url, target, args.seconds, args.connections)
                results.append(res)
                print(f"  {res}", file=sys.stderr)
        stop(nginx)
        stop(svc)
        hello_port = free_port()
        hello = start_hello(hello_port, args.workers, www / "4KiB.bin")
        try:
            wait_http(f"http://127.0.0.1:{hello_port}/x")
            url = f"http://127.0.0.1:{hello_port}/x"
            run_wrk(url, "aiohttp bare handler 4KiB", min(2, args.seconds), args.connections)
            res = run_wrk(url, "aiohttp bare handler 4KiB", args.seconds, args.connections)
            results.append(res)
            print(f"  {res}", file=sys.stderr)
        finally:
            for proc in hello:
                stop(proc)
        # Uploads get their own service (and database): one process by default, because
        # several processes only add cross-process lock hand-offs on the one SQLite file.
        up_port = free_port()
        svc = start_service(
            workdir / "uploads.sqlite3", up_port, args.upload_workers, workdir / "svc-up.log"
        )
        base = f"http://127.0.0.1:{up_port}"
        wait_http(base + "/healthz")
        script = lua_upload_script(workdir)
        before = time.time()
        res = run_wrk(base + "/", "durable uploads (open slot)", args.seconds,
                      args.upload_connections, script)  # fmt: skip
        results.append(res)
        print(f"  {res} in {time.time() - before:.1f}s", file=sys.stderr)
    finally:
        stop(nginx)
        stop(svc)
    info = machine()
    print(f"\nmachine: {info['nproc']} x {info['cpu']}, Python {info['python']}, "
          f"workers={args.workers} (uploads: {args.upload_workers}), {args.connections} "
          f"connections ({args.upload_connections} for uploads), "
          f"{args.seconds}s each\n")  # fmt: skip
    print("| target | req/s | p50 ms | p99 ms | non-2xx | socket errors |")
    print("|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r.target} | {r.requests_per_s:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} "
              f"| {r.non_2xx} | {r.errors} |")  # fmt: skip
    by = {r.target: r for r in results}
    for name in blobs:
        ratio = by[f"invitekit head {name}"].requests_per_s / by[f"nginx {name}"].requests_per_s
        cached = by[f"invitekit head {name} via nginx cache"].requests_per_s
        print(f"\nhead {name}: {ratio:.2f} x nginx direct, "
              f"{cached / by[f'nginx {name}'].requests_per_s:.2f} x via nginx cache", end="")
    print()
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "machine": info,
                    "args": vars(args) | {"json": str(args.json)},
                    "results": [asdict(r) for r in results],
                },
                indent=2,
            )
        )
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

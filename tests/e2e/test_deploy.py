"""Every file in deploy/ is checked by the tool that reads it (issue 23).

* ``nginx-cache.conf``: ``nginx -t`` (Debian's nginx), its limits agree with the service's
  defaults, and a largest-size upload goes through it — TLS, the cache, the body limit — to a
  real ``invitekit-service`` process; one byte more is refused with 413.
* ``invitekit-service.service``: ``systemd-analyze verify`` with no complaint.
* ``compose.yaml``: the Compose specification's JSON schema (``check-jsonschema``'s vendored
  copy), and what it names (Containerfile, nginx config) exists.
* ``Containerfile``: built and run by tests/e2e/test_container.py.
* Every ``INVITEKIT_SERVICE_*`` variable any of them sets names a real setting.

The site-specific values of the nginx file (port, certificate, upstream address, cache
directory) are replaced for the test; everything else is used as shipped.
"""

from __future__ import annotations

import os
import re
import shutil
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
import yaml
from invitekit_service.config import ENV_PREFIX, Settings

from tests.integration.client.tls import make_cert
from tests.integration.service.support import Invite, ServiceProcess, free_port

from .readme_blocks import blocks_of

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
NGINX_CONF = DEPLOY / "nginx-cache.conf"
UNIT = DEPLOY / "invitekit-service.service"
COMPOSE = DEPLOY / "compose.yaml"
CHECKED_HERE = {"nginx-cache.conf", "invitekit-service.service", "compose.yaml"}
CHECKED_ELSEWHERE = {"Containerfile": "tests/e2e/test_container.py"}


def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK)
                                       else None)
    assert found, "nginx is not installed: run scripts/setup.sh"
    return found


def venv_tool(name: str) -> str:
    path = Path(sys.executable).with_name(name)
    assert path.exists(), f"{name} is not installed: run scripts/setup.sh"
    return str(path)


def test_every_deploy_file_is_checked_by_a_test() -> None:
    shipped = {p.name for p in DEPLOY.iterdir() if p.is_file()}
    assert shipped == CHECKED_HERE | set(CHECKED_ELSEWHERE)
    for test in CHECKED_ELSEWHERE.values():
        assert (ROOT / test).exists()


def test_every_environment_variable_names_a_setting() -> None:
    fields = set(Settings.model_fields)
    found: dict[str, str] = {}
    for path in (DEPLOY / "Containerfile", UNIT, COMPOSE):
        for name in re.findall(rf"\b{ENV_PREFIX}([A-Z0-9_]+)", path.read_text()):
            found[name] = path.name
    assert {"DATABASE", "HOST", "PORT", "WORKERS"} <= set(found)
    for name, where in found.items():
        assert name.lower() in fields, f"{where}: {ENV_PREFIX}{name} is not a setting"


# --- nginx -----------------------------------------------------------------------------------


def test_nginx_limits_agree_with_the_service_defaults() -> None:
    text = NGINX_CONF.read_text()
    defaults = Settings()
    (size,) = re.findall(r"^\s*client_max_body_size\s+(\d+)m;", text, re.MULTILINE)
    assert int(size) << 20 == defaults.max_body_bytes
    (keepalive,) = re.findall(r"^\s*keepalive_timeout\s+(\d+)s;", text, re.MULTILINE)
    assert int(keepalive) < defaults.idle_timeout_s
    (body,) = re.findall(r"^\s*client_body_timeout\s+(\d+)s;", text, re.MULTILINE)
    assert int(body) == defaults.body_timeout_s


def render_nginx(work: Path, *, upstream_port: int, listen_port: int) -> Path:
    """The shipped file with this machine's site values, inside a minimal nginx.conf."""
    cert = make_cert(work)
    site = NGINX_CONF.read_text()
    for old, new in (
        ("listen 443 ssl http2;", f"listen 127.0.0.1:{listen_port} ssl http2;"),
        ("/etc/ssl/invitekit/fullchain.pem", str(cert.cert_path)),
        ("/etc/ssl/invitekit/privkey.pem", str(cert.key_path)),
        ("server 127.0.0.1:8080;", f"server 127.0.0.1:{upstream_port};"),
        ("/var/cache/nginx/invitekit", str(work / "cache")),
    ):
        assert site.count(old) == 1, old
        site = site.replace(old, new)
    (work / "site.conf").write_text(site)
    temp = " ".join(f"{kind}_temp_path {work / kind};"
                    for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    main = work / "nginx.conf"
    main.write_text(
        f"user root; worker_processes 1; pid {work / 'nginx.pid'};\n"
        f"error_log {work / 'error.log'} warn;\n"
        "events { worker_connections 256; }\n"
        f"http {{ {temp} include {work / 'site.conf'}; }}\n"
    )
    return main


def test_nginx_accepts_the_shipped_config(tmp_path: Path) -> None:
    main = render_nginx(tmp_path, upstream_port=8080, listen_port=free_port())
    done = subprocess.run([nginx_binary(), "-t", "-e", str(tmp_path / "error.log"),
                           "-c", str(main)], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert "test is successful" in done.stderr


@pytest.fixture
def nginx_in_front(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A real service (default limits) behind a real nginx running the shipped config."""
    service = ServiceProcess(f"sqlite:///{tmp_path / 'db.sqlite3'}", tmp_path).start()
    port = free_port()
    main = render_nginx(tmp_path, upstream_port=service.port, listen_port=port)
    nginx = subprocess.Popen(
        [nginx_binary(), "-e", str(tmp_path / "error.log"), "-c", str(main),
         "-g", "daemon off;"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        yield f"https://127.0.0.1:{port}", tmp_path / "cert.pem"
    finally:
        nginx.terminate()
        nginx.wait(timeout=30)
        service.stop()


def blob_of_size(invite: Invite, size: int) -> bytes:
    """A real sealed blob whose encoding is exactly ``size`` bytes."""
    n = size - 200
    for _ in range(50):  # bounded: converges in two or three steps
        body = invite.blob(1, plaintext=b"g" * n)
        if len(body) == size:
            return body
        n += size - len(body)
    raise AssertionError(f"no blob of {size} bytes")


async def test_largest_upload_passes_through_nginx(nginx_in_front: tuple[str, Path]) -> None:
    front, cert = nginx_in_front
    limit = Settings().max_body_bytes
    invite = Invite()
    largest = blob_of_size(invite, limit)
    tls = ssl.create_default_context(cafile=str(cert))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=tls)) as session:
        async with session.post(front + invite.open_path + "/blobs", data=largest) as resp:
            assert resp.status == 201, await resp.text()
        one_more = blob_of_size(Invite(), limit + 1)
        async with session.post(front + invite.open_path + "/blobs", data=one_more) as resp:
            assert resp.status == 413
        statuses = []
        for _ in range(2):
            async with session.get(front + invite.open_path + "/head") as resp:
                assert resp.status == 200
                assert await resp.read() == largest
                statuses.append(resp.headers["X-Cache-Status"])
        assert statuses == ["MISS", "HIT"]  # the second scan never reached the service


# --- systemd ---------------------------------------------------------------------------------


def test_systemd_unit_verifies(tmp_path: Path) -> None:
    """``systemd-analyze verify`` (no running systemd needed); its ExecStart must exist, so
    the installed path is pointed at this environment's ``invitekit-service``."""
    text = UNIT.read_text()
    assert text.count("/opt/invitekit/bin/invitekit-service") == 1
    unit = tmp_path / UNIT.name
    unit.write_text(text.replace("/opt/invitekit/bin/invitekit-service",
                                 venv_tool("invitekit-service")))
    done = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "", done.stderr  # warnings too: verify exits 0 on them
    bad = tmp_path / "bad.service"
    bad.write_text(unit.read_text().replace("Type=exec", "Type=nonsense"))
    done = subprocess.run(["systemd-analyze", "verify", str(bad)], capture_output=True,
                          text=True, timeout=120, check=False)
    assert "nonsense" in done.stderr  # the check does read the file


# --- compose ---------------------------------------------------------------------------------


def test_compose_file_matches_the_compose_schema(tmp_path: Path) -> None:
    done = subprocess.run([venv_tool("check-jsonschema"), "--builtin-schema",
                           "vendor.compose-spec", str(COMPOSE)], capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    broken = tmp_path / "compose.yaml"
    broken.write_text(COMPOSE.read_text().replace("network_mode:", "network_mod:"))
    done = subprocess.run([venv_tool("check-jsonschema"), "--builtin-schema",
                           "vendor.compose-spec", str(broken)], capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode != 0  # the schema is strict about names

    spec = yaml.safe_load(COMPOSE.read_text())
    services = spec["services"]
    assert set(services) == {"postgres", "service", "nginx"}
    build = services["service"]["build"]
    assert (DEPLOY / build["context"] / build["dockerfile"]).resolve() == (
        DEPLOY / "Containerfile"
    )
    env = services["service"]["environment"]
    assert env["INVITEKIT_SERVICE_DATABASE"].startswith("postgresql://")
    assert "INVITEKIT_SERVICE_WORKERS" in env
    # nginx runs the shipped config, unmodified, in the service's network namespace.
    assert services["nginx"]["network_mode"] == "service:service"
    assert "./nginx-cache.conf:/etc/nginx/conf.d/default.conf:ro" in services["nginx"]["volumes"]


# --- README ----------------------------------------------------------------------------------


def test_readme_deploy_blocks_run_as_written() -> None:
    blocks = blocks_of(ROOT / "README.md", "deploy")
    assert blocks
    venv = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{venv}{os.pathsep}{os.environ['PATH']}"}  # activated
    for block in blocks:
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 0, block + done.stdout + done.stderr

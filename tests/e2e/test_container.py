"""The container image (deploy/Containerfile), built and run on this machine (issue 23).

No image registry is reachable and podman's runtime cannot set rlimits here, so the README's
build command (``scripts/container-build.sh``: a debootstrap Debian base, a wheelhouse from
the host's pip, ``buildah build --isolation chroot``) builds the image, and ``buildah run
--isolation chroot`` runs it: the image's own user, environment, working directory and
entrypoint, with a host directory on ``/data``; the network is the host's, so the service is
reached on loopback. What a container runtime adds on top (port publishing, running the
HEALTHCHECK on a timer) is not exercised; the HEALTHCHECK's command is run by hand instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from tests.integration.service.pg_local import LocalPostgres
from tests.integration.service.support import Invite
from tests.support.processes import free_port, stop_group

from .readme_blocks import blocks_of
from .test_deploy import nginx_binary, render_nginx

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.container, pytest.mark.slow]
FIXTURE_GROUP_INFO = ROOT / "fixtures" / "rine" / "rine-classic-epochs-e3.bin"


def _run(*args: str, timeout: float = 120, **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=timeout,
                          check=False, **kw)


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


@pytest.fixture(scope="module")
def image() -> str:
    """The README's container build block, run as written (bash, repository root)."""
    (block,) = blocks_of(ROOT / "README.md", "container")
    env = dict(os.environ)
    if not (ROOT / ".venv" / "bin" / "python").exists():  # a worktree sharing another venv
        env["PYTHON"] = sys.executable
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=1800, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return "localhost/invitekit-service:latest"


@pytest.fixture(scope="module")
def config(image: str) -> dict[str, Any]:
    done = _run("buildah", "inspect", "--type", "image", image)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout)["Docker"]["config"])


@contextlib.contextmanager
def working_container(image: str) -> Iterator[str]:
    done = _run("buildah", "from", "--pull-never", image)
    assert done.returncode == 0, done.stderr
    name = done.stdout.strip().splitlines()[-1]
    try:
        yield name
    finally:
        _run("buildah", "rm", name)


def test_image_is_configured_for_operators(config: dict[str, Any], image: str) -> None:
    assert config["User"] == "invitekit"
    assert "/data" in config["Volumes"]
    assert config["WorkingDir"] == "/data"
    assert config["Entrypoint"] == ["invitekit-service"]
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["INVITEKIT_SERVICE_DATABASE"] == "sqlite:////data/invitekit.sqlite3"
    assert env["INVITEKIT_SERVICE_HOST"] == "0.0.0.0"
    assert config["Healthcheck"]["Test"][0] == "CMD"
    assert "/healthz" in " ".join(config["Healthcheck"]["Test"])
    with working_container(image) as ctr:
        uid = _run("buildah", "run", "--isolation", "chroot", ctr, "--", "id", "-u")
        assert uid.returncode == 0, uid.stderr
        assert int(uid.stdout) != 0  # the image's user is not root


@contextlib.contextmanager
def running(image: str, config: dict[str, Any], env: dict[str, str], log: Path,
            data: Path | None = None) -> Iterator[tuple[str, int]]:
    """The image's entrypoint in a working container, as the image's user, with ``env``
    added and ``data`` (owned by that user) on /data; yields (container, uid) once
    /healthz answers on ``env``'s port, and stops it afterwards."""
    port = int(env["INVITEKIT_SERVICE_PORT"])
    with working_container(image) as ctr:
        uid = int(_run("buildah", "run", "--isolation", "chroot", ctr, "--", "id", "-u").stdout)
        gid = int(_run("buildah", "run", "--isolation", "chroot", ctr, "--", "id", "-g").stdout)
        volume: list[str] = []
        if data is not None:
            os.chown(data, uid, gid)
            volume = ["-v", f"{data}:/data"]
            # buildah run mounts an anonymous volume over a declared VOLUME even when -v
            # names one; dropping the declaration from this working container lets the host
            # directory take its place, as `docker run -v` does.
            assert _run("buildah", "config", "--volume", "/data-", ctr).returncode == 0
        command = [*config["Entrypoint"], *(config.get("Cmd") or [])]
        settings = [arg for name, value in env.items() for arg in ("-e", f"{name}={value}")]
        with log.open("wb") as sink:
            proc = subprocess.Popen(
                ["buildah", "run", "--isolation", "chroot", *volume, *settings, ctr, "--",
                 *command],
                stdout=sink, stderr=subprocess.STDOUT, start_new_session=True,
            )
        try:
            for _ in range(600):  # bounded by count
                if _healthy(port):
                    break
                assert proc.poll() is None, log.read_text()
                time.sleep(0.1)
            else:
                raise AssertionError("container never answered /healthz: " + log.read_text())
            yield ctr, uid
        finally:
            stop_group(proc)
        for _ in range(100):  # bounded by count: the service is gone with its container
            if not _healthy(port):
                break
            time.sleep(0.1)
        assert not _healthy(port)


def test_container_serves_health_upload_and_join_check(
    image: str, config: dict[str, Any], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    port = free_port()
    log = tmp_path / "container.log"
    env = {"INVITEKIT_SERVICE_PORT": str(port), "INVITEKIT_SERVICE_HOST": "127.0.0.1"}
    healthcheck = config["Healthcheck"]["Test"][1:]
    with running(image, config, env, log, data) as (ctr, uid):
        # The image's HEALTHCHECK command, run inside the container.
        health = _run("buildah", "run", "--isolation", "chroot",
                      "-e", f"INVITEKIT_SERVICE_PORT={port}", ctr, "--", *healthcheck)
        assert health.returncode == 0, health.stderr

        _round_trip(f"http://127.0.0.1:{port}/v1", tmp_path)
        for path in ("/i", "/_landing/qrcode.js", "/openapi.json"):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as page:
                assert page.status == 200, path  # the page, its QR library, the contract

        database = data / "invitekit.sqlite3"
        assert database.exists()  # SQLite on the volume, written as the image's user
        assert database.stat().st_uid == uid != 0
    with working_container(image) as ctr:
        stopped = _run("buildah", "run", "--isolation", "chroot",
                       "-e", f"INVITEKIT_SERVICE_PORT={port}", ctr, "--", *healthcheck)
        assert stopped.returncode != 0  # the HEALTHCHECK notices a dead service
    logged = log.read_bytes()
    assert b'"msg":"listening"' in logged or b'"msg": "listening"' in logged


def compose_environment(variables: dict[str, str]) -> dict[str, str]:
    """deploy/compose.yaml's environment of the `service`, interpolated as compose does
    (``${NAME:-default}``, ``${NAME:?message}``) with ``variables``."""
    spec = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())

    def interpolate(text: str) -> str:
        def one(match: re.Match[str]) -> str:
            name, op, arg = match.groups()
            if name in variables:
                return variables[name]
            assert op == ":-", f"compose needs {name}: {arg}"
            return str(arg)

        return re.sub(r"\$\{([A-Z_]+)(:-|:\?)([^}]*)\}", one, text)

    return {k: interpolate(str(v)) for k, v in spec["services"]["service"]["environment"].items()}


async def test_compose_topology_runs_here(
    image: str, config: dict[str, Any], tmp_path: Path
) -> None:
    """deploy/compose.yaml's PostgreSQL + N workers + nginx, on this machine: the image run
    with the compose file's own environment (2 workers; compose's `postgres` host name is a
    private PostgreSQL server here), the shipped nginx config in front of it. An upload through
    nginx lands in PostgreSQL and the second read of its head is a cache hit."""
    postgres = LocalPostgres.start()
    try:
        postgres.psql('CREATE DATABASE "invitekit"')
        port = free_port()
        env = compose_environment({"POSTGRES_PASSWORD": "unused-with-trust",
                                   "INVITEKIT_WORKERS": "2"})
        assert "@postgres:5432/" in env["INVITEKIT_SERVICE_DATABASE"]
        assert env["INVITEKIT_SERVICE_PORT"] == "8080"  # nginx-cache.conf's upstream
        env["INVITEKIT_SERVICE_DATABASE"] = env["INVITEKIT_SERVICE_DATABASE"].replace(
            "@postgres:5432/", f"@127.0.0.1:{postgres.port}/")
        env["INVITEKIT_SERVICE_PORT"] = str(port)  # 8080 may be taken on a test machine
        front_port = free_port()
        main = render_nginx(tmp_path, upstream_port=port, listen_port=front_port)
        with running(image, config, env, tmp_path / "container.log") as (_ctr, uid):
            # A supervising process and INVITEKIT_WORKERS workers, all the image's user.
            for _ in range(300):  # bounded by count: workers may still be starting
                found = _run("pgrep", "-u", str(uid), "-f", "^/opt/invitekit/bin/python3")
                if len(found.stdout.split()) == 1 + 2:
                    break
                time.sleep(0.1)
            assert len(found.stdout.split()) == 1 + 2, found.stdout
            nginx = subprocess.Popen(
                [nginx_binary(), "-e", str(tmp_path / "error.log"), "-c", str(main),
                 "-g", "daemon off;"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            try:
                await _upload_through(f"https://127.0.0.1:{front_port}", tmp_path / "cert.pem")
            finally:
                nginx.terminate()
                nginx.wait(timeout=30)
        stored = postgres.psql("SELECT count(*) FROM blobs", dbname="invitekit")
        assert int(stored.strip()) == 1
    finally:
        postgres.stop()


async def _upload_through(front: str, cert: Path) -> None:
    invite = Invite()
    body = invite.blob(1)
    tls = ssl.create_default_context(cafile=str(cert))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=tls)) as session:
        for _ in range(100):  # bounded: nginx starts in the background
            try:
                async with session.get(front + "/healthz") as resp:
                    if resp.status == 200:
                        break
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.1)
        async with session.post(front + invite.open_path + "/blobs", data=body) as resp:
            assert resp.status == 201, await resp.text()
        statuses = []
        for _ in range(2):
            async with session.get(front + invite.open_path + "/head") as resp:
                assert resp.status == 200
                assert await resp.read() == body
                statuses.append(resp.headers["X-Cache-Status"])
        assert statuses == ["MISS", "HIT"]


def _round_trip(service: str, work: Path) -> None:
    """The README walkthrough's admin and joiner steps, from the host, against ``service``."""
    cli = str(Path(sys.executable).with_name("invitekit"))

    def invitekit(*args: str) -> str:
        done = _run(cli, *args, cwd=work, timeout=120)
        assert done.returncode == 0, f"{args}: {done.stdout}{done.stderr}"
        return done.stdout

    invitekit("policy", "enable", "--expire-in", "1d", "-o", "policy.bin")
    invitekit("seal", str(FIXTURE_GROUP_INFO), "-p", "policy.bin", "--epoch-start-ns", "now",
              "-o", "blob.bin")
    invitekit("upload", "-s", service, "--blob", "blob.bin", "-p", "policy.bin",
              "--allow-insecure-loopback")
    minted = invitekit("mint", "-p", "policy.bin", "-s", service, "--allow-insecure-loopback",
                       "--link-base", "https://example.org/i", "--json")
    link = json.loads(minted)["link"]
    checked = invitekit("join-check", link, "-p", "policy.bin", "--allow-insecure-loopback")
    assert checked.startswith("ready: ") or "\nready: " in checked, checked

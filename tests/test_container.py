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

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .readme_blocks import blocks_of

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.container, pytest.mark.slow]
FIXTURE_GROUP_INFO = ROOT / "fixtures" / "rine" / "rine-classic-epochs-e3.bin"


def _run(*args: str, timeout: float = 120, **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=timeout,
                          check=False, **kw)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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


def test_container_serves_health_upload_and_join_check(
    image: str, config: dict[str, Any], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    port = _free_port()
    log = tmp_path / "container.log"
    with working_container(image) as ctr:
        uid = int(_run("buildah", "run", "--isolation", "chroot", ctr, "--", "id", "-u").stdout)
        gid = int(_run("buildah", "run", "--isolation", "chroot", ctr, "--", "id", "-g").stdout)
        os.chown(data, uid, gid)
        # buildah run mounts an anonymous volume over a declared VOLUME even when -v names
        # one; dropping the declaration from this working container lets the host directory
        # take its place, as `docker run -v` does.
        assert _run("buildah", "config", "--volume", "/data-", ctr).returncode == 0
        command = [*config["Entrypoint"], *(config.get("Cmd") or [])]
        with log.open("wb") as sink:
            proc = subprocess.Popen(
                ["buildah", "run", "--isolation", "chroot", "-v", f"{data}:/data",
                 "-e", f"INVITEKIT_SERVICE_PORT={port}",
                 "-e", "INVITEKIT_SERVICE_HOST=127.0.0.1", ctr, "--", *command],
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

            # The image's HEALTHCHECK command, run inside the container.
            health = _run("buildah", "run", "--isolation", "chroot",
                          "-e", f"INVITEKIT_SERVICE_PORT={port}", ctr, "--",
                          *config["Healthcheck"]["Test"][1:])
            assert health.returncode == 0, health.stderr

            _round_trip(f"http://127.0.0.1:{port}/v1", tmp_path)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/i", timeout=5) as page:
                assert page.status == 200  # the landing page ships in the image

            database = data / "invitekit.sqlite3"
            assert database.exists()  # SQLite on the volume, written as the image's user
            assert database.stat().st_uid == uid != 0
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
        for _ in range(100):  # bounded by count: the service is gone with its container
            if not _healthy(port):
                break
            time.sleep(0.1)
        assert not _healthy(port)
        stopped = _run("buildah", "run", "--isolation", "chroot",
                       "-e", f"INVITEKIT_SERVICE_PORT={port}", ctr, "--",
                       *config["Healthcheck"]["Test"][1:])
        assert stopped.returncode != 0  # the HEALTHCHECK notices a dead service
    logged = log.read_bytes()
    assert b'"msg":"listening"' in logged or b'"msg": "listening"' in logged


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

"""`pip install invitekit` is the library and CLI; `invitekit[service]` adds the server.

Proved two ways: every ``invitekit`` module (and the CLI's ``--help``) works in a fresh
interpreter where the service-only packages cannot be imported at all, and the project's
declared dependencies keep those packages in the ``service`` extra.

Then the package itself (issue 23): ``python -m build`` makes the sdist and, from it, the
wheel; ``twine check`` accepts both; they carry one licence, the HTTP contract and the
landing page's QR library; and the wheel installed into a new virtual environment (no
checkout on ``sys.path``) runs the CLI and the service.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import tomllib
import urllib.request
import zipfile
from pathlib import Path

import pytest
import yaml

from tests.support.processes import free_port, stop_group

from .readme_blocks import blocks_of

REPO = Path(__file__).resolve().parents[2]

# Import names and distribution names of what only the blob service needs.
SERVICE_ONLY = {
    "invitekit_service": None,
    "asyncpg": "asyncpg",
    "limits": "limits",
    "prometheus_client": "prometheus-client",
    "yaml": "pyyaml",
    "pydantic": "pydantic",
    "pydantic_settings": "pydantic-settings",
    "uvloop": "uvloop",
    "gunicorn": "gunicorn",
}

_PROBE = """
import importlib, importlib.abc, pkgutil, sys
BLOCKED = set(sys.argv[1].split(","))

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is service-only")
        return None

sys.meta_path.insert(0, Block())
import invitekit
names = [m.name for m in pkgutil.walk_packages(invitekit.__path__, "invitekit.")]
for name in names:
    importlib.import_module(name)
from typer.testing import CliRunner
from invitekit.cli import app
result = CliRunner().invoke(app, ["--help"])
assert result.exit_code == 0, result.output
leaked = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
assert not leaked, leaked
print(len(names))
"""


def test_library_modules_and_cli_import_without_service_packages() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, ",".join(SERVICE_ONLY)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.strip()) > 30  # the walk really visited the package


def test_the_probe_would_notice_a_service_import() -> None:
    """The blocking finder is effective: importing the service under it fails."""
    done = subprocess.run(
        [sys.executable, "-c",
         _PROBE.replace("import invitekit\n", "import invitekit_service.app\n", 1),
         ",".join(SERVICE_ONLY)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    assert "service-only" in done.stderr


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=!\[; ]", r, maxsplit=1)[0].lower() for r in requirements}


def test_service_dependencies_live_in_the_service_extra() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    library = _names(project["dependencies"])
    extras = project["optional-dependencies"]
    service_dists = {d for d in SERVICE_ONLY.values() if d}
    assert not library & service_dists
    assert service_dists <= _names(extras["service"])
    assert "invitekit[service]" in extras["dev"]


# --- the built distributions (issue 23: a real package) ------------------------------------

@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``python -m build``: the sdist, then the wheel built *from the sdist* (so the sdist is
    proven complete). No isolation: the backend is in the dev extra, nothing is fetched."""
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(REPO)],
        capture_output=True, text=True, timeout=600, check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (sdist,) = out.glob("invitekit-*.tar.gz")
    (wheel,) = out.glob("invitekit-*-py3-none-any.whl")
    return {"sdist": sdist, "wheel": wheel}


def test_build_makes_an_sdist_and_a_wheel_twine_accepts(dists: dict[str, Path]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", str(dists["sdist"]),
         str(dists["wheel"])],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("PASSED") == 2, done.stdout


def test_the_distributions_carry_one_license_the_contract_and_the_qr_library(
    dists: dict[str, Path],
) -> None:
    wheel = zipfile.ZipFile(dists["wheel"])
    names = set(wheel.namelist())
    info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
    # exactly one licence: the project's, named by an SPDX expression
    assert sorted(n for n in names if n.startswith(f"{info}/licenses/")) == [
        f"{info}/licenses/LICENSE"]
    assert wheel.read(f"{info}/licenses/LICENSE") == (REPO / "LICENSE").read_bytes()
    metadata = wheel.read(f"{info}/METADATA").decode()
    assert "\nLicense-Expression: Apache-2.0\n" in metadata
    assert "\nLicense-File: LICENSE\n" in metadata
    assert "\nLicense:" not in metadata
    for version in ("3.11", "3.12", "3.13"):
        assert f"\nClassifier: Programming Language :: Python :: {version}\n" in metadata
    # what the installed service serves, with no checkout
    assert wheel.read("invitekit_service/openapi.yaml") == (REPO / "spec/openapi.yaml").read_bytes()
    vendored = "invitekit_service/static/vendor/qrcode-generator/"
    assert {vendored + n for n in ("qrcode.js", "LICENSE", "VERSION")} <= names
    with tarfile.open(dists["sdist"]) as sdist:
        members = sdist.getnames()
    top = members[0].split("/")[0]
    assert f"{top}/LICENSE" in members
    assert f"{top}/spec/openapi.yaml" in members  # the wheel built from it needs it
    assert f"{top}/PKG-INFO" in members


def test_vendored_qr_library_is_the_npm_package_package_lock_pins() -> None:
    """One version of qrcode-generator: package-lock.json's, byte for byte in the package
    (scripts/test.sh's set-up runs ``npm ci``, which installs exactly that version)."""
    vendored = REPO / "service/invitekit_service/static/vendor/qrcode-generator"
    lock = json.loads((REPO / "package-lock.json").read_text())
    pinned = lock["packages"]["node_modules/qrcode-generator"]
    assert (vendored / "VERSION").read_text().strip() == pinned["version"]
    npm = REPO / "node_modules/qrcode-generator"
    assert json.loads((npm / "package.json").read_text())["version"] == pinned["version"]
    assert (vendored / "qrcode.js").read_bytes() == (npm / "dist/qrcode.js").read_bytes()
    assert "MIT License" in (vendored / "LICENSE").read_text()
    assert pinned["license"] == "MIT"


def _get(url: str) -> tuple[int, bytes, str]:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.status, resp.read(), resp.headers.get("Content-Type", "")


@pytest.mark.slow
def test_the_readme_pip_install_runs_the_cli_and_the_service_from_the_wheel(
    dists: dict[str, Path], tmp_path: Path,
) -> None:
    """The README's plain path as written (``pip install 'invitekit[service]'`` then
    ``invitekit-service``) in a new virtual environment whose pip also finds the wheel just
    built, from a directory outside the checkout and without PYTHONPATH; then the installed
    service draws its landing page's QR code and serves its HTTP contract, and the installed
    CLI opens, seals, uploads to and fetches from it."""
    (block,) = blocks_of(REPO / "README.md", "pip-install")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in {"PYTHONPATH", "PYTHONHOME", "PIP_FIND_LINKS"}
           and not k.startswith("INVITEKIT_SERVICE_")}
    env.update(  # what `. venv/bin/activate` does, a free port, and where the wheel is
        VIRTUAL_ENV=str(venv), PATH=f"{venv / 'bin'}{os.pathsep}{env['PATH']}",
        INVITEKIT_SERVICE_PORT=str(port), PIP_FIND_LINKS=str(dists["wheel"].parent),
        PIP_DISABLE_PIP_VERSION_CHECK="1",
    )
    work = tmp_path / "work"
    work.mkdir()

    def run(*cmd: str) -> str:
        done = subprocess.run(list(cmd), cwd=work, env=env, capture_output=True, text=True,
                              timeout=600, check=False)
        assert done.returncode == 0, f"{cmd}: {done.stdout[-2000:]}{done.stderr[-2000:]}"
        return done.stdout

    base = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "readme-block.log"
    with log_path.open("wb") as log:
        block_proc = subprocess.Popen(["bash", "-euo", "pipefail", "-c", block], cwd=work,
                                      env=env, stdout=log, stderr=subprocess.STDOUT,
                                      start_new_session=True)
    try:
        for _ in range(6000):  # bounded by count: the pip install comes first
            assert block_proc.poll() is None, log_path.read_text()[-3000:]
            try:
                if _get(f"{base}/readyz")[0] == 200:
                    break
            except OSError:
                time.sleep(0.1)
        else:
            raise AssertionError("the README's invitekit-service never became ready")

        where = json.loads(run("python", "-c", (
            "import json, sys, invitekit, invitekit_service; print(json.dumps("
            "[invitekit.__file__, invitekit_service.__file__, sys.path]))")))
        for module_file in where[:2]:
            assert Path(module_file).is_relative_to(venv), module_file
        assert not [p for p in where[2] if p and Path(p).resolve().is_relative_to(REPO)]
        installed = Path(where[0]).parent / "times.py"
        assert installed.read_bytes() == (REPO / "invitekit/times.py").read_bytes()  # ours
        version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
        assert run("invitekit", "--version") == f"invitekit {version}\n"
        assert (work / "invitekit.sqlite3").exists()  # the default database, in the cwd

        status, page, _ = _get(f"{base}/i")
        assert status == 200
        assert b'src="/_landing/qrcode.js"' in page
        status, script, content_type = _get(f"{base}/_landing/qrcode.js")
        assert (status, content_type) == (200, "text/javascript")
        vendored = REPO / "service/invitekit_service/static/vendor/qrcode-generator/qrcode.js"
        assert script == vendored.read_bytes()
        status, contract, _ = _get(f"{base}/openapi.json")
        assert status == 200
        assert json.loads(contract) == yaml.safe_load((REPO / "spec/openapi.yaml").read_text())

        # the installed CLI against the installed service: open, seal, upload, fetch
        shutil.copy(REPO / "fixtures/rine/rine-classic-epochs-e3.bin", work / "gi.bin")
        run("invitekit", "policy", "enable", "--expire-in", "1h", "-o", "policy.bin")
        run("invitekit", "seal", "gi.bin", "-p", "policy.bin", "--epoch-start-ns", "now",
            "-o", "blob.bin")
        run("invitekit", "upload", "-s", f"{base}/v1", "--blob", "blob.bin", "-p", "policy.bin",
            "--allow-insecure-loopback")
        link = json.loads(run("invitekit", "mint", "-p", "policy.bin", "-s", f"{base}/v1",
                              "--allow-insecure-loopback", "--link-base",
                              "https://example.org/i", "--json"))["link"]
        fetched = json.loads(run("invitekit", "fetch", link, "-s", f"{base}/v1",
                                 "--allow-insecure-loopback", "--json"))
        assert fetched["candidates"], fetched
        assert all(c["opens"] for c in fetched["candidates"]), fetched
    finally:
        stop_group(block_proc)
    assert "Traceback" not in log_path.read_text(errors="replace")


def test_console_script_is_installed() -> None:
    exe = Path(sys.executable).with_name("invitekit")
    proc = subprocess.run([str(exe), "mint", "--key", "00" * 32, "--slot-id", "00112233", "--json"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0
    # 0a 2a { 12 04 <slot> 1a 22 { 0a 20 <key> } }: 2 + 6 + 36 = 44 bytes.
    assert json.loads(proc.stdout)["payload_length"] == 44

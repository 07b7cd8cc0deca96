"""`pip install invitekit` is the library and CLI; `invitekit[service]` adds the server.

Proved two ways: every ``invitekit`` module (and the CLI's ``--help``) works in a fresh
interpreter where the service-only packages cannot be imported at all, and the project's
declared dependencies keep those packages in the ``service`` extra.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

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

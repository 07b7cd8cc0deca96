"""The README's shell blocks, and running them as written (shared by the README tests).

Every ```sh block in README.md is preceded by ``<!-- readme-test: KIND -->``:

* ``fresh-clone`` — the two set-up commands, run concurrently on a fresh clone
  (tests/e2e/test_fresh_clone.py);
* ``walkthrough`` — run in order, in one bash session from the repository root, against
  the service ``scripts/run.sh`` runs on 127.0.0.1:8080 (tests/e2e/test_readme.py);
* ``gen-proto`` — regenerates the protobuf code in a copy (tests/e2e/test_readme.py);
* ``pip-install`` — the plain path without a checkout, run in a new virtual environment
  whose pip finds the wheel just built (tests/e2e/test_packaging.py).
* ``container`` — builds the container image (tests/e2e/test_container.py, which then runs it);
* ``deploy`` — run from the repository root by tests/e2e/test_deploy.py (the deploy/ files'
  checks).
"""

from __future__ import annotations

import re
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.processes import stop_group

KINDS = ("fresh-clone", "walkthrough", "gen-proto", "pip-install", "container", "deploy")
SERVICE = "http://127.0.0.1:8080"
_BLOCK = re.compile(r"(?:<!-- readme-test: ([a-z-]+) -->\n)?```sh\n(.*?)```", re.DOTALL)


def shell_blocks(readme: Path) -> list[tuple[str | None, str]]:
    """(kind or None, text) of every ```sh block, in order."""
    return [(m.group(1), m.group(2)) for m in _BLOCK.finditer(readme.read_text())]


def blocks_of(readme: Path, kind: str) -> list[str]:
    return [text for k, text in shell_blocks(readme) if k == kind]


def _healthy() -> bool:
    try:
        with urllib.request.urlopen(f"{SERVICE}/healthz", timeout=2) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


@contextmanager
def local_service(root: Path, log: Path) -> Iterator[None]:
    """The README's service on 127.0.0.1:8080: reuse a running one, else ``scripts/run.sh``.

    A user runs ``scripts/run.sh`` in one terminal and the walkthrough in another; so does
    this. Only a service this function started is stopped at the end.
    """
    if _healthy():
        yield
        return
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            ["scripts/run.sh"], cwd=root, stdout=sink, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        for _ in range(6000):  # bounded by count; a first set-up may install packages
            if _healthy():
                break
            if proc.poll() is not None:
                raise RuntimeError(f"scripts/run.sh exited: {log.read_text()[-2000:]}")
            time.sleep(0.1)
        else:
            raise RuntimeError("scripts/run.sh never answered on 127.0.0.1:8080")
        yield
    finally:
        stop_group(proc)


def run_walkthrough(root: Path, log: Path) -> subprocess.CompletedProcess[str]:
    """Every walkthrough block, in order, in one ``bash -e`` session from ``root``."""
    script = "set -euo pipefail\n" + "\n".join(blocks_of(root / "README.md", "walkthrough"))
    with local_service(root, log):
        return subprocess.run(
            ["bash", "-c", script], cwd=root, capture_output=True, text=True,
            timeout=900, check=False,
        )


__all__ = ["KINDS", "SERVICE", "blocks_of", "local_service", "run_walkthrough", "shell_blocks"]

"""Issue 23: one license everywhere, and a version the command line reports.

The built wheel and sdist are checked in tests/e2e/test_packaging.py; this file checks the
sources they are built from.
"""

from __future__ import annotations

import json
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from typer.testing import CliRunner

import invitekit
from invitekit.cli import app

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_one_license_in_the_license_file_pyproject_and_package_json() -> None:
    text = (ROOT / "LICENSE").read_text()
    assert text.lstrip().startswith("Apache License")
    assert "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text  # the whole text, not a stub
    assert PROJECT["license"] == "Apache-2.0"  # an SPDX expression (PEP 639)
    assert PROJECT["license-files"] == ["LICENSE"]
    assert not any(c.startswith("License ::") for c in PROJECT["classifiers"])  # superseded
    for name in ("package.json", "package-lock.json"):
        document = json.loads((ROOT / name).read_text())
        root = document if name == "package.json" else document["packages"][""]
        assert root["license"] == "Apache-2.0", name


def test_version_comes_from_the_installed_metadata() -> None:
    assert invitekit.__version__ == metadata.version("invitekit") == PROJECT["version"]


def test_cli_version_prints_the_version_and_exits_0() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout == f"invitekit {metadata.version('invitekit')}\n"
    assert "--version" in CliRunner().invoke(app, ["--help"]).stdout


def test_the_claimed_pythons_are_one_contiguous_range_from_requires_python() -> None:
    """``requires-python`` and the classifiers agree, and this interpreter is one of them;
    scripts/test-pythons.sh runs the core tests on each of the others (from the same
    classifiers), so every claimed version is tested."""
    prefix = "Programming Language :: Python :: 3."
    minors = sorted(int(c[len(prefix):]) for c in PROJECT["classifiers"]
                    if c.startswith(prefix) and c[len(prefix):].isdigit())
    assert PROJECT["requires-python"] == f">=3.{minors[0]}"
    assert minors == list(range(minors[0], minors[-1] + 1))
    assert minors[-1] >= 13
    assert sys.version_info.minor in minors
    script = (ROOT / "scripts/test-pythons.sh").read_text()
    assert prefix in script  # the script reads the same classifiers
    assert "scripts/test-pythons.sh" in (ROOT / "scripts/test.sh").read_text()

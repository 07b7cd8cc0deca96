"""Issue 23: the operator reference (docs/operator-settings.md) is generated from the settings
model and stays equal to it; every setting and every flag is described; --help names the
environment prefix and the config file's format."""

from __future__ import annotations

import subprocess
from pathlib import Path

from invitekit_service.cli import build_parser, env_of, flag_of
from invitekit_service.config import ENV_PREFIX, Settings
from invitekit_service.reference import render

from .support import service_command

DOC = Path(__file__).resolve().parents[3] / "docs" / "operator-settings.md"


def test_the_document_is_the_model() -> None:
    assert DOC.read_text(encoding="utf-8") == render(), (
        "docs/operator-settings.md is stale: run scripts/gen-operator-settings.sh"
    )


def test_every_setting_is_in_the_document_with_its_three_names() -> None:
    text = DOC.read_text(encoding="utf-8")
    for name in Settings.model_fields:
        row = next(line for line in text.splitlines() if line.startswith(f"| `{name}` |"))
        assert f"`{flag_of(name)}" in row
        assert f"`{env_of(name)}`" in row


def test_every_setting_and_every_flag_has_a_description() -> None:
    missing = [n for n, info in Settings.model_fields.items() if not (info.description or "")]
    assert missing == []
    parser = build_parser()
    undocumented = [
        a.option_strings for a in parser._actions if a.option_strings and not (a.help or "")
    ]
    assert undocumented == []
    flags = {s for a in parser._actions for s in a.option_strings}
    for name, info in Settings.model_fields.items():
        assert flag_of(name) in flags
        if info.annotation is bool:
            assert f"--no-{flag_of(name)[2:]}" in flags


def test_help_names_the_environment_and_the_file_format() -> None:
    proc = subprocess.run(
        [*service_command(), "--help"], capture_output=True, text=True, timeout=120, check=True
    )
    text = " ".join(proc.stdout.split())
    assert f"{ENV_PREFIX}<NAME>" in text
    assert f"{ENV_PREFIX}PORT=9000" in text
    assert "TOML file given by --config" in text
    assert "--version" in text
    assert "docs/operator-settings.md" in text

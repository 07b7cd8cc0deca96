"""The MLS CLI functions, mounted on a local Typer app exactly as the main app registers them."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer
from typer.testing import CliRunner

from invitekit.blob import parse_blob
from invitekit.cli import mls_commands
from invitekit.mls import parse_group_info
from invitekit.policy import enable

from .conftest import FIXTURES, by_name

NOW = time.time_ns()  # a real start: the CLI refuses a blob born expired


def app() -> typer.Typer:
    a = typer.Typer()
    a.command("seal")(mls_commands.seal)
    a.command("noop")(lambda: None)  # keep Typer in multi-command mode
    return a


def test_inspect_group_info_reports_levels_members_and_policy() -> None:
    fx = by_name("tsmls-small")
    info = mls_commands.inspect_group_info(fx.data)
    json.dumps(info)  # JSON-able
    assert info["epoch"] == fx.sidecar["epoch"]
    assert info["group_state_hash"] == fx.sidecar["digest_reported_hex"]
    assert info["verification"] == {
        "parse": "ok",
        "signature": "ok",
        "tree_hash": "ok",
        "parent_hashes": "ok",
        "leaf_signatures": "ok",
    }
    assert [m["identity"] for m in info["members"]] == [m[1] for m in fx.sidecar["members"]]
    assert info["external_commit_policy"]["allow_external_commit"] is True
    policy_key = json.loads((FIXTURES / "ts-mls-gen" / "policy-entry.json").read_text())
    assert policy_key["symmetric_key_hex"] not in json.dumps(info)  # redacted by default
    shown = mls_commands.inspect_group_info(fx.data, show_secrets=True)
    assert policy_key["symmetric_key_hex"] in json.dumps(shown)
    quirk = mls_commands.group_info_inspector(by_name("tsmls-small-tsmls").data, False)
    assert quirk["external_pub_encoding"] == "unprefixed"


def test_inspect_reports_a_bad_signature_without_raising() -> None:
    data = by_name("rine-classic-small").data
    info = mls_commands.inspect_group_info(data[:-1] + bytes((data[-1] ^ 1,)))
    assert info["verification"]["signature"] == "mls-signature-invalid"
    assert info["verification"]["tree_hash"] == "ok"


def test_seal_command(tmp_path: Path) -> None:
    fx = by_name("rine-classic-small")
    gi = tmp_path / "gi.bin"
    gi.write_bytes(fx.data)
    pol = tmp_path / "policy.bin"
    pol.write_bytes(enable(expire_in_ns=3600 * 10**9).to_entry_bytes())
    out = tmp_path / "blob.bin"
    result = CliRunner().invoke(
        app(),
        ["seal", str(gi), "-p", str(pol), "-o", str(out), "--epoch-start-ns", str(NOW), "--json"],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    blob = parse_blob(out.read_bytes()).blob
    assert summary["epoch"] == blob.epoch == fx.sidecar["epoch"]
    assert blob.group_state_hash == parse_group_info(fx.data).digest
    assert blob.expires_at_ns == NOW + 3600 * 10**9


def test_seal_command_refuses_a_forged_group_info(tmp_path: Path) -> None:
    data = by_name("rine-classic-small").data
    gi = tmp_path / "gi.bin"
    gi.write_bytes(data[:-1] + bytes((data[-1] ^ 1,)))
    pol = tmp_path / "policy.bin"
    pol.write_bytes(enable().to_entry_bytes())
    result = CliRunner().invoke(app(), ["seal", str(gi), "-p", str(pol), "--epoch-start-ns", "now"])
    assert result.exit_code == 2
    assert "mls-signature-invalid" in result.output

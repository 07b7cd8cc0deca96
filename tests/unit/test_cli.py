"""The invitekit CLI: policy lifecycle, mint, inspect, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from invitekit.blob import seal
from invitekit.cli import app
from invitekit.link import parse_invite_text
from invitekit.nfc import parse_ndef_uri_record
from invitekit.policy import parse_policy_entry
from invitekit.wire import Dialect
from tests.support.qrread import read_qr

runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_help_everywhere() -> None:
    for args in ([], ["policy"], ["policy", "enable"], ["policy", "rotate"], ["policy", "revoke"],
                 ["mint"], ["inspect"]):
        code, out, _ = run(*args, "--help")
        assert code == 0, args
        assert "Usage" in out


def test_policy_lifecycle_and_mint(tmp_path: Path) -> None:
    pol = tmp_path / "policy.bin"
    code, out, _ = run("policy", "enable", "-o", str(pol), "--max-uses", "3",
                       "--expire-in", "600s", "--refresh-pointer", "https://r.example/v1", "--json")
    assert code == 0
    summary = json.loads(out)
    policy = parse_policy_entry(pol.read_bytes()).policy
    assert summary["external_group_id"] == policy.external_group_id.hex()
    assert summary["symmetric_key"] == "<redacted>"
    assert policy.symmetric_key is not None
    assert policy.symmetric_key.hex() not in out
    assert policy.max_uses == 3

    rotated = tmp_path / "rotated.bin"
    assert run("policy", "rotate", "-p", str(pol), "-o", str(rotated))[0] == 0
    new = parse_policy_entry(rotated.read_bytes()).policy
    assert new.external_group_id == policy.external_group_id
    assert new.symmetric_key != policy.symmetric_key

    qr_path, nfc_path = tmp_path / "invite.png", tmp_path / "invite.ndef"
    code, out, _ = run("mint", "-p", str(rotated), "--service", "https://b.example/v1",
                       "--link-base", "https://join.example/i", "--qr", str(qr_path),
                       "--qr-error", "q", "--nfc", str(nfc_path), "--json")
    assert code == 0
    minted = json.loads(out)
    invite = parse_invite_text(minted["link"])
    assert invite.symmetric_key == new.symmetric_key
    assert invite.external_group_id == new.external_group_id
    assert read_qr(qr_path.read_bytes()) == [minted["link"]]
    assert minted["qr"]["error"] in ("Q", "H")
    assert parse_ndef_uri_record(nfc_path.read_bytes()) == minted["link"]

    code, out, _ = run("policy", "revoke", "-p", str(rotated), "--encoding", "hex", "--json")
    assert code == 0
    revoked = json.loads(out)
    assert revoked["allow_external_commit"] is False
    entry = parse_policy_entry(bytes.fromhex(revoked["entry"])).policy
    assert (entry.max_uses, entry.expire_in_ns, entry.symmetric_key) == (3, 600000000000, None)

    code, _, _err = run("mint", "-p", "-", "--input-encoding", "hex")
    assert code == 2


def test_revoked_policy_cannot_mint(tmp_path: Path) -> None:
    pol = tmp_path / "p.bin"
    run("policy", "enable", "-o", str(pol))
    revoked = tmp_path / "r.bin"
    run("policy", "revoke", "-p", str(pol), "-o", str(revoked))
    code, _, err = run("mint", "-p", str(revoked))
    assert code == 2
    assert err.startswith("error: policy-not-enabled:")


def test_inspect_each_kind(tmp_path: Path) -> None:
    key = bytes(range(32))
    blob_path = tmp_path / "b.bin"
    blob_path.write_bytes(seal(b"gi", key, epoch=9, group_state_hash=bytes(32)).to_bytes(
        Dialect.LEGACY))
    code, out, _ = run("inspect", str(blob_path), "--json")
    view = json.loads(out)
    assert code == 0
    assert (view["kind"], view["epoch"], view["dialect"]) == (
        "encrypted-group-info-blob", 9, "legacy")

    code, out, _ = run("mint", "--key", key.hex(), "--slot-id", "a1b2c3d4e5", "--json")
    link_b64 = json.loads(out)["payload_base64url"]
    code, out, _ = run("inspect", link_b64, "--json")
    view = json.loads(out)
    assert view["kind"] == "invite-payload"
    assert view["symmetric_key"] == "<redacted>"
    code, out, _ = run("inspect", link_b64, "--show-secrets", "--json")
    assert json.loads(out)["symmetric_key"] == key.hex()

    from invitekit.hpke_blob import seal_hpke

    hpke_path = tmp_path / "h.bin"
    hpke_path.write_bytes(seal_hpke(b"gi", key, epoch=4, group_state_hash=bytes(32)).to_bytes())
    code, out, _ = run("inspect", str(hpke_path), "--json")
    view = json.loads(out)
    assert (view["kind"], view["epoch"], view["variant"]) == (
        "invitekit-hpke-blob", 4, "hpke_mlkem768_x25519")

    pol = tmp_path / "p.bin"
    run("policy", "enable", "-o", str(pol))
    code, out, _ = run("inspect", str(pol), "--type", "policy", "--json")
    assert json.loads(out)["kind"] == "external-commit-policy"


@pytest.mark.parametrize(
    ("args", "code_word"),
    [
        (["inspect", "definitely-not-an-invite"], "file-not-found"),
        (["inspect", "missing.bin"], "file-not-found"),
        (["inspect", "https://x.org/i#AAAA", "--type", "payload"], "malformed-message"),
        (["inspect", "https://x.org/i#EgA", "--type", "payload"], "unsupported-version"),
        (["mint", "--key", "00" * 31, "--slot-id", "abcdef01"], "invalid-symmetric-key-length"),
        (["mint", "--key", "00" * 32, "--slot-id", "abcd"], "invalid-external-group-id"),
        (["mint", "--key", "00" * 32, "--slot-id", "abcdef01", "--service", "http://x.org"],
         "insecure-url"),
        (["mint", "--key", "00" * 32, "--slot-id", "abcdef01", "--service", "ftp://x.org"],
         "invalid-service-url"),
        (["mint", "--key", "zz", "--slot-id", "abcdef01"], "bad-input"),
        (["policy", "rotate", "-p", "/nonexistent/file"], "file-not-found"),
        (["inspect", "x", "--type", "nope"], "bad-input"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], code_word: str) -> None:
    code, out, err = run(*args)
    assert code == 2
    assert err.count("\n") == 1
    assert err.startswith(f"error: {code_word}:")
    assert "Traceback" not in err + out



KEY_HEX = "5e" * 32
HEX_OPTIONS = [
    (["mint", "--slot-id", "a1b2c3d4", "--key"], KEY_HEX, "--key"),
    (["mint", "--key", KEY_HEX, "--slot-id"], "a1b2c3d4", "--slot-id"),
    (["mint", "--key", KEY_HEX, "--slot-id", "a1b2c3d4", "--opaque"], "0102", "--opaque"),
    (["policy", "enable", "--slot-id"], "a1b2c3d4", "--slot-id"),
    (["membership-update", "--slot-id", "a1b2c3d4", "--sequence-id", "1", "--inbox-id"],
     "ab" * 32, "--inbox-id"),
    (["membership-update", "--inbox-id", "ab" * 32, "--sequence-id", "1", "--slot-id"],
     "a1b2c3d4", "--slot-id"),
]


@pytest.mark.parametrize(("args", "value", "flag"), HEX_OPTIONS)
def test_every_hex_option_is_read_one_way(args: list[str], value: str, flag: str) -> None:
    """One parser for hex option values: an 0x prefix and spaces read the same as bare hex;
    anything else is bad-input naming the option, never echoing the value."""
    code, plain, _ = run(*args, value, "--json")
    assert code == 0
    spaced = "0x" + " ".join(value[i:i + 2] for i in range(0, len(value), 2))
    if args[:2] != ["policy", "enable"]:  # enable draws a fresh key: only the code compares
        assert run(*args, spaced, "--json")[:2] == (0, plain)
    else:
        assert run(*args, spaced, "--json")[0] == 0
    bad = value[:-1] + "z"
    code, out, err = run(*args, bad, "--json")
    assert (code, out) == (2, "")
    assert err == f"error: bad-input: {flag} must be hex\n"
    assert bad not in err

"""Issue 11 and issue 8 case 5, offline: what a newcomer meets on the command line.

One spelling per concept, one-line coded errors for usage mistakes, ``--json`` wherever a
result is printed, human durations, a required epoch start, no zombie blobs.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from invitekit.blob import parse_blob
from invitekit.cli import app
from invitekit.encoding import b64url_encode
from invitekit.errors import InviteKitError
from invitekit.link import parse_invite_text
from invitekit.pointer import OpaquePointer
from invitekit.policy import ExternalCommitPolicy, enable, parse_policy_entry

ROOT = Path(__file__).resolve().parents[2]
HOUR_NS = 3600 * 10**9
runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def rine_gi(tmp_path: Path) -> Path:
    gi = tmp_path / "gi.bin"
    gi.write_bytes((ROOT / "fixtures" / "rine" / "rine-classic-epochs-e3.bin").read_bytes())
    return gi


def write_policy(tmp_path: Path, policy: ExternalCommitPolicy, name: str = "p.bin") -> Path:
    path = tmp_path / name
    path.write_bytes(policy.to_entry_bytes())
    return path


# --- issue 8, case 5: zombie blobs from the CLI -------------------------------------------


def test_issue8_case5_seal_requires_a_named_epoch_start(tmp_path: Path) -> None:
    """Old code defaulted the start to "now": an epoch begun 2 h ago got an hour too many."""
    pol = write_policy(tmp_path, enable(expire_in_ns=HOUR_NS))
    out = tmp_path / "blob.bin"
    code, _, err = run("seal", str(rine_gi(tmp_path)), "-p", str(pol), "-o", str(out))
    assert code == 2
    assert err.count("\n") == 1
    assert err.startswith("error: usage: ")
    assert "--epoch-start-ns" in err
    assert not out.exists()


def test_issue8_case5_seal_refuses_a_blob_born_expired(tmp_path: Path) -> None:
    pol = write_policy(tmp_path, enable(expire_in_ns=HOUR_NS))
    two_days_ago = time.time_ns() - 48 * HOUR_NS
    out = tmp_path / "blob.bin"
    code, _, err = run("seal", str(rine_gi(tmp_path)), "-p", str(pol), "-o", str(out),
                       "--epoch-start-ns", str(two_days_ago))
    assert code == 2
    assert err.startswith("error: blob-expired: ")
    assert err.count("\n") == 1
    assert not out.exists()


def test_issue8_case5_the_given_start_sets_the_expiry(tmp_path: Path) -> None:
    pol = write_policy(tmp_path, enable(expire_in_ns=HOUR_NS))
    started = time.time_ns() - HOUR_NS // 2  # the epoch began half an hour ago
    out = tmp_path / "blob.bin"
    code, stdout, err = run("seal", str(rine_gi(tmp_path)), "-p", str(pol), "-o", str(out),
                            "--epoch-start-ns", str(started), "--json")
    assert code == 0, err
    assert parse_blob(out.read_bytes()).blob.expires_at_ns == started + HOUR_NS
    assert json.loads(stdout)["expires_at_ns"] == started + HOUR_NS


def test_issue8_case5_upload_and_refresh_require_the_epoch_start(tmp_path: Path) -> None:
    pol = write_policy(tmp_path, enable(expire_in_ns=HOUR_NS))
    gi = rine_gi(tmp_path)
    for args in (
        ("upload", "-g", str(gi), "-p", str(pol), "-s", "https://b.example/v1"),
        ("refresh", "-g", str(gi), "-p", str(pol), "-s", "https://b.example/v1"),
    ):
        code, _, err = run(*args)
        assert code == 2, args
        assert err.startswith("error: usage: "), (args, err)
        assert "--epoch-start-ns" in err, args
        assert err.count("\n") == 1


def test_issue8_case5_seal_warns_when_the_group_info_carries_another_policy(
    tmp_path: Path,
) -> None:
    # A ts-mls GroupInfo whose app_data_dictionary carries the "enabled" policy variant.
    gi = tmp_path / "gi.bin"
    gi.write_bytes((ROOT / "fixtures" / "policy" / "enabled.bin").read_bytes())
    carried = parse_policy_entry(
        bytes.fromhex(json.loads(
            (ROOT / "fixtures" / "policy-gen" / "entries.json").read_text()
        )["variants"]["enabled"]["entry_hex"])
    ).policy
    same = write_policy(tmp_path, carried, "same.bin")
    other = write_policy(tmp_path, enable(expire_in_ns=HOUR_NS), "other.bin")
    start = str(time.time_ns())
    code, _, err = run("seal", str(gi), "-p", str(same), "--epoch-start-ns", start)
    assert code == 0, err
    assert "policy-mismatch" not in err
    code, _, err = run("seal", str(gi), "-p", str(other), "--epoch-start-ns", start)
    assert code == 0, err
    assert err.startswith("warning: policy-mismatch: ")
    assert "symmetric_key" in err
    assert err.count("\n") == 1


# --- durations and spellings ---------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ns"),
    [("90s", 90 * 10**9), ("1h", HOUR_NS), ("30d", 30 * 24 * HOUR_NS), ("1500", 1500),
     ("250ms", 250 * 10**6), ("2w", 14 * 24 * HOUR_NS), ("0", 0)],
)
def test_durations_take_human_units_or_ns(tmp_path: Path, text: str, ns: int) -> None:
    out = tmp_path / "p.bin"
    code, _, err = run("policy", "enable", "--expire-in", text, "-o", str(out))
    assert code == 0, err
    assert parse_policy_entry(out.read_bytes()).policy.expire_in_ns == ns


@pytest.mark.parametrize("text", ["1y", "h", "-5s", "1.5h", "99999999999999999999d"])
def test_bad_durations_are_one_line_errors(text: str) -> None:
    code, _, err = run("policy", "enable", "--expire-in", text)
    assert code == 2
    assert err.startswith("error: value-out-of-range: ")
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    "args",
    [
        ["seal"],
        ["policy", "enable", "--max-uses", "many"],
        ["no-such-command"],
        ["mint", "--no-such-flag"],
        ["refresh", "-g", "x"],
        ["validate-commit", "c.bin"],
    ],
)
def test_usage_mistakes_are_one_coded_line(args: list[str]) -> None:
    code, out, err = run(*args)
    assert code == 2
    assert err.count("\n") == 1, err
    assert err.startswith("error: usage: ")
    assert not any(box in err + out for box in "╭│╰─")


def test_every_command_that_prints_a_result_has_json() -> None:
    commands = [
        ["policy", "enable"], ["policy", "rotate"], ["policy", "revoke"], ["mint"], ["inspect"],
        ["seal"], ["upload"], ["fetch"], ["join-check"], ["refresh"], ["mirror"],
        ["validate-commit"], ["demo"],
    ]
    for cmd in commands:
        code, out, _ = run(*cmd, "--help")
        assert code == 0, cmd
        assert "--json" in out, cmd


def test_one_spelling_per_concept() -> None:
    """The epoch start, durations and the service flag are spelled alike everywhere."""
    helps = {
        cmd: run(*cmd.split(), "--help")[1]
        for cmd in ("seal", "upload", "refresh", "validate-commit", "policy enable", "mint",
                    "fetch", "join-check")
    }
    for cmd in ("seal", "upload", "refresh", "validate-commit"):
        assert "--epoch-start-ns" in helps[cmd], cmd
    for text in helps.values():
        assert "--epoch-started-at-ns" not in text
        assert "--expire-in-ns" not in text
    for cmd in ("upload", "fetch", "join-check", "refresh", "mint"):
        assert "--service" in helps[cmd], cmd
        assert "-s" in helps[cmd], cmd
        assert "--allow-insecure-loopback" in helps[cmd], cmd


def test_human_output_without_json(tmp_path: Path) -> None:
    code, out, _ = run("mint", "--key", "00" * 32, "--slot-id", "00112233",
                       "--link-base", "https://example.org/i")
    assert code == 0
    lines = dict(line.split(": ", 1) for line in out.splitlines())
    assert parse_invite_text(lines["link"]).external_group_id == bytes.fromhex("00112233")


# --- mint on loopback -------------------------------------------------------------------


def test_mint_takes_loopback_http_only_with_the_flag() -> None:
    base = ["mint", "--key", "11" * 32, "--slot-id", "a1b2c3d4", "--json",
            "--link-base", "https://example.org/i", "-s", "http://127.0.0.1:8080/v1"]
    code, _, err = run(*base)
    assert code == 2
    assert err.startswith("error: insecure-url: ")
    code, out, err = run(*base, "--allow-insecure-loopback")
    assert code == 0, err
    invite = parse_invite_text(json.loads(out)["link"])
    # The wire's https_url stays https-only: a loopback link is an opaque pointer.
    assert invite.service_pointer == OpaquePointer(b"http://127.0.0.1:8080/v1")
    code, _, err = run(*base[:-1], "http://10.0.0.1:8080/v1", "--allow-insecure-loopback")
    assert code == 2
    assert err.startswith("error: insecure-url: ")


def test_inspect_a_missing_file_says_so() -> None:
    code, _, err = run("inspect", "missing.bin")
    assert code == 2
    assert err == "error: file-not-found: no such file: missing.bin\n"


def test_inspect_does_not_echo_unreadable_invite_text() -> None:
    """A mangled invite (one character changed, so it reads as neither a file nor an invite)
    is a missing file, and the error does not print it back: it carries the invite's key."""
    invite = enable().invite()
    text = b64url_encode(invite.to_bytes())
    mangled = "!" + text[1:]
    with pytest.raises(InviteKitError):
        parse_invite_text(mangled)
    code, out, err = run("inspect", mangled)
    assert code == 2
    assert err.startswith("error: file-not-found: ")
    assert text[1:20] not in err + out
    assert invite.symmetric_key.hex() not in err + out

"""``invitekit validate-commit``: exit 0 accepted, 1 rejected (one line), 2 bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from invitekit.cli import app
from invitekit.xmtp_components import credential_inbox_id
from tests.support.commits import RINE, SHAPED, TSMLS, add, key_package, shaped, tsmls

GI = str(TSMLS / "tsmls-small-group-info.bin")
TIMES = ["--envelope-ns", "1900000060000000000", "--epoch-start-ns", "1900000000000000000"]
runner = CliRunner()


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["validate-commit", *args])
    return result.exit_code, result.stdout, result.stderr


def test_accepted_exits_0() -> None:
    code, out, _ = invoke(str(SHAPED / "shaped-multi-installation.bin"), "--group-info", GI, *TIMES)
    assert code == 0
    assert out.startswith("accepted: new_member_commit commit from inbox ")
    assert "checks 1-11" in out


def test_member_commit_says_which_rules_ran() -> None:
    """A member commit is not judged by checks 1-11: the line names the rules that ran."""
    code, out, _ = invoke(str(TSMLS / "tsmls-small-member-commit.bin"), "--group-info", GI, *TIMES)
    assert code == 0
    assert out.count("\n") == 1
    assert out.startswith("accepted: member commit; rules run: framing check (RFC 9420 framing)")
    assert "policy-lifecycle check (EXTERNAL_COMMIT_POLICY lifecycle invariants) on 0" in out
    assert "member-tag check (no member changes an admission tag) on 0" in out
    assert "checks 1-11 are for external commits only" in out
    code, out, _ = invoke(
        str(TSMLS / "tsmls-small-member-commit.bin"), "--group-info", GI, *TIMES, "--json"
    )
    data = json.loads(out)
    assert data["checks"] == ["framing", "policy-lifecycle", "member-tag"]
    assert (data["policy_writes"], data["membership_updates"]) == (0, 0)


@pytest.mark.parametrize(
    ("commit", "line"),
    [
        (SHAPED / "shaped-psk.bin", "rejected: check 6 (no forbidden proposal): forbidden-psk:"),
        (
            TSMLS / "tsmls-small-external-plain.bin",
            "rejected: check 5 (only the joiner's own membership insert): app-data-update-missing:",
        ),
        (
            TSMLS / "tsmls-small-member-custom.bin",
            "rejected: framing check (RFC 9420 framing): malformed-commit:",
        ),
    ],
)
def test_rejected_exits_1_with_one_line(commit: Path, line: str) -> None:
    code, out, _ = invoke(str(commit), "--group-info", GI, *TIMES)
    assert code == 1
    assert out.count("\n") == 1
    assert out.startswith(line)


def test_expired_by_envelope_timestamp() -> None:
    late = ["--envelope-ns", str(2 * 10**18 + 1), "--epoch-start-ns", str(2 * 10**18)]
    code, out, _ = invoke(str(SHAPED / "shaped-multi-installation.bin"), "--group-info", GI, *late)
    assert code == 1
    assert out.startswith("rejected: check 8 (invite campaign not ended): invite-expired:")


def test_json_verdicts() -> None:
    code, out, _ = invoke(str(SHAPED / "shaped-rename.bin"), "--group-info", GI, *TIMES, "--json")
    assert code == 1
    assert json.loads(out) == {
        "accepted": False,
        "check": "5",
        "check_name": "only the joiner's own membership insert",
        "code": "app-data-update-multiple",
        "detail": "2 AppDataUpdate proposals",
        "inbox_id": None,
        "message": "rejected: check 5 (only the joiner's own membership insert): "
        "app-data-update-multiple: 2 AppDataUpdate proposals",
    }
    code, out, _ = invoke(
        str(SHAPED / "shaped-multi-installation.bin"), "--group-info", GI, *TIMES, "--json"
    )
    assert code == 0
    data = json.loads(out)
    assert data["accepted"] is True
    assert data["added_installations"] == 2


def test_bad_input_exits_2(tmp_path: Path) -> None:
    commit = str(SHAPED / "shaped-psk.bin")
    code, _, err = invoke(commit, "--group-info", str(tmp_path / "missing"), *TIMES)
    assert code == 2
    assert err.startswith("error: file-not-found:")
    code, _, err = invoke(commit, "--group-info", str(RINE / "rine-external.bin"), *TIMES)
    assert code == 2
    assert err == (
        "error: mls-unsupported-message: the message is mls10 but its wire format is "
        "mls_public_message (1), not mls_group_info (4)\n"
    )
    tampered = bytearray((TSMLS / "tsmls-small-group-info.bin").read_bytes())
    tampered[-5] ^= 1
    bad_gi = tmp_path / "gi.bin"
    bad_gi.write_bytes(bytes(tampered))
    code, _, err = invoke(commit, "--group-info", str(bad_gi), *TIMES)
    assert code == 2
    assert err.startswith("error: mls-signature-invalid:")
    code, _, err = invoke(
        commit, "--group-info", GI, "--envelope-ns", "-1", "--epoch-start-ns", "0"
    )
    assert code == 2


def test_rejection_names_the_offending_inbox(tmp_path: Path) -> None:
    """An Add for another inbox: the line shows that inbox, shortened."""
    group = tsmls()
    commit = shaped(group, extra=(add(group.file("kp-joiner-2")), add(group.file("kp-stranger"))))
    path = tmp_path / "commit.bin"
    path.write_bytes(commit)
    code, out, _ = invoke(str(path), "--group-info", GI, *TIMES)
    assert code == 1
    stranger = key_package(group.file("kp-stranger")).leaf_node.credential
    inbox = credential_inbox_id(stranger)
    assert out.startswith("rejected: check 3 (the joiner and its Adds are one XMTP inbox): ")
    assert out.rstrip().endswith(
        f"Add 1 names another inbox than the joiner's [inbox {inbox.hex()[:8]}…]"
    )
    assert inbox.hex() not in out  # shortened
    code, out, _ = invoke(str(path), "--group-info", GI, *TIMES, "--json")
    assert json.loads(out)["inbox_id"] == inbox.hex()


def test_private_message_wording_reads_right(tmp_path: Path) -> None:
    """An mls10 message of another wire format is not called a wrong version."""
    path = tmp_path / "private.bin"
    path.write_bytes(b"\x00\x01\x00\x02" + b"\x00" * 40)
    code, out, _ = invoke(str(path), "--group-info", GI, *TIMES)
    assert code == 1
    assert "mls_private_message (2), not mls_public_message (1)" in out
    assert "version 1" not in out
    path.write_bytes(b"\x00\x02\x00\x01" + b"\x00" * 40)
    code, out, _ = invoke(str(path), "--group-info", GI, *TIMES)
    assert "unsupported MLS protocol version 2" in out

"""``invitekit validate-commit``: exit 0 accepted, 1 rejected (one line), 2 bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from invitekit.cli import app
from tests.support.commits import RINE, SHAPED, TSMLS

GI = str(TSMLS / "tsmls-small-group-info.bin")
TIMES = ["--envelope-ns", "1900000060000000000", "--epoch-start-ns", "1900000000000000000"]
runner = CliRunner()


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["validate-commit", *args])
    return result.exit_code, result.stdout, result.stderr


def test_accepted_exits_0() -> None:
    code, out, _ = invoke(str(SHAPED / "shaped-multi-installation.bin"), "--group-info", GI, *TIMES)
    assert code == 0
    assert out.startswith("accepted")


@pytest.mark.parametrize(
    ("commit", "line"),
    [
        (SHAPED / "shaped-psk.bin", "rejected: check 6: forbidden-psk:"),
        (TSMLS / "tsmls-small-external-plain.bin", "rejected: check 5: app-data-update-missing:"),
        (TSMLS / "tsmls-small-member-custom.bin", "rejected: check framing: malformed-commit:"),
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
    assert out.startswith("rejected: check 8: invite-expired:")


def test_json_verdicts() -> None:
    code, out, _ = invoke(str(SHAPED / "shaped-rename.bin"), "--group-info", GI, *TIMES, "--json")
    assert code == 1
    assert json.loads(out) == {
        "accepted": False,
        "check": "5",
        "code": "app-data-update-multiple",
        "detail": "2 AppDataUpdate proposals",
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
    assert err.startswith("error: mls-unsupported-message:")
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

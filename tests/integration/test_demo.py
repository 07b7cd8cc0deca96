"""``invitekit demo``: the whole lifecycle with real MLS (rine-mls), printed step by step."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from invitekit.cli import app
from invitekit.cli.render import short_id
from invitekit.link import parse_invite_text
from tests.support.qrread import read_qr


def test_demo_runs_the_whole_lifecycle(tmp_path: Path) -> None:
    qr_path = tmp_path / "invite.png"
    result = CliRunner().invoke(app, ["demo", "--members", "4", "--qr", str(qr_path), "--json"])
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    steps = out["steps"]
    texts = [s["text"] for s in steps]
    assert "app_data_dictionary" in out["simulated"]  # says what is simulated

    founded = steps[0]
    assert founded["members"] == ["admin", "member1", "member2", "member3"]
    link = next(s["link"] for s in steps if "link" in s)
    invite = parse_invite_text(link)
    enabled = next(s for s in steps if "fingerprint" in s)
    assert enabled["fingerprint"] == short_id(invite.external_group_id)
    # The QR code on disk is the link, read back by a real decoder.
    assert read_qr(qr_path.read_bytes()) == [link]

    assert any(t.startswith("every member goes offline") for t in texts)
    offline = texts.index("every member goes offline")
    pieces = steps[offline + 2]
    assert pieces["text"].startswith("dana's commit pieces")
    proposal = bytes.fromhex(pieces["membership_update"])
    # invitekit's rule, the invite's slot id as the tag (app_data_update 0x0008, 0x8003)
    assert proposal[:5] == bytes.fromhex("0008800301")
    assert proposal.endswith(invite.external_group_id)
    dana = steps[offline + 3]
    assert dana["text"].startswith("dana joins by a plain RFC 9420 external commit")
    assert dana["epoch"] == founded["epoch"] + 1
    honest = steps[offline + 4]
    assert honest["plain_rfc9420"] is True
    assert honest["membership_update_handed_to_callback"] is True
    # the validator's verdict on rine-mls's commit is shown, and it is a rejection
    assert honest["verdict"]["accepted"] is False
    assert honest["verdict"]["message"] in honest["text"]
    assert "not the XIP's atomic shape" in honest["text"]
    back = steps[offline + 5]
    assert set(back["epochs"].values()) == {dana["epoch"]}  # members applied it afterwards
    refresh = next(s for s in steps if "uploaded" in s)
    assert refresh["epoch"] == dana["epoch"] + 1
    assert refresh["uploaded"] >= 1
    assert next(s for s in steps if "actions" in s)["actions"] == ["stand-down"]
    frank = next(s for s in steps if s["text"].startswith("a second stranger, frank"))
    assert frank["epoch"] == refresh["epoch"] + 1  # joined after the epoch change
    frank_commit = next(s for s in steps if s["text"].startswith("frank's commit, honestly"))
    assert frank_commit["verdict"]["accepted"] is False
    final = steps[-1]
    assert final["epoch"] == frank["epoch"]
    assert final["members"] == sorted(
        ["admin", "member1", "member2", "member3", "dana", "erin", "frank"]
    )


def test_demo_prints_numbered_steps_without_json() -> None:
    result = CliRunner().invoke(app, ["demo", "-n", "2"])
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split("]", 1)[0] for line in lines] == [f"[{i}" for i in range(1, 16)]
    assert "simulated" in lines[1]


def test_demo_refuses_a_bad_member_count() -> None:
    result = CliRunner().invoke(app, ["demo", "-n", "0"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: usage: ")

"""``invitekit upload | fetch | join-check | refresh | mirror`` against real services."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from invitekit.cli import app
from invitekit.link import make_link
from invitekit.policy import enable, revoke

from .conftest import ServiceProcess
from .fixtures import rine

# The CLI builds its own network client: these services are real processes on loopback.
pytestmark = pytest.mark.service_process

runner = CliRunner()
LOOP = "--allow-insecure-loopback"


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def setup_files(tmp_path: Path) -> tuple[Path, Path, str]:
    policy = enable(expire_in_ns=3600 * 10**9)
    pol = tmp_path / "policy.bin"
    pol.write_bytes(policy.to_entry_bytes())
    gi = tmp_path / "gi.bin"
    gi.write_bytes(rine("rine-classic-epochs-e3"))
    link = make_link(policy.invite(), "https://example.org/i")  # app-resolved: no pointer
    return pol, gi, link


def test_help() -> None:
    for cmd in ("upload", "fetch", "join-check", "refresh", "mirror"):
        code, out, _ = run(cmd, "--help")
        assert code == 0, cmd
        assert "Usage" in out, cmd


def test_upload_fetch_join_check_refresh(tmp_path: Path, service: ServiceProcess) -> None:
    pol, gi, link = setup_files(tmp_path)
    svc = service.url
    code, out, err = run(
        "upload",
        "-g",
        str(gi),
        "-p",
        str(pol),
        "-s",
        svc,
        "-k",
        "lane",
        "-k",
        "open",
        LOOP,
        "--json",
    )
    assert code == 0, err
    report = json.loads(out)
    assert [u["outcome"] for t in report["targets"] for u in t["uploads"]] == ["created"] * 2

    code, out, err = run("fetch", link, "-s", svc, LOOP, "--json", "-o", str(tmp_path / "got"))
    assert code == 0, err
    listing = json.loads(out)
    assert len(listing["candidates"]) == 1  # lane and open copies are the same bytes
    assert listing["candidates"][0]["epoch"] == 3
    assert listing["candidates"][0]["opens"] is True
    assert len(list((tmp_path / "got").iterdir())) == 1

    # A rine GroupInfo carries no policy: refused unless the policy is supplied (issue 8).
    code, out, _ = run("join-check", link, "-s", svc, LOOP, "--json")
    assert code == 1
    assert json.loads(out)["code"] == "no-policy"
    code, out, err = run("join-check", link, "-s", svc, "-p", str(pol), LOOP, "--json")
    assert code == 0, err
    ready = json.loads(out)
    assert ready["outcome"] == "ready"
    assert ready["epoch"] == 3
    assert ready["members"] == 6
    code, out, _ = run("join-check", link, "-s", svc, "-p", str(pol), LOOP)
    assert code == 0
    assert out.startswith("ready: ")

    code, out, err = run(
        "refresh", "-g", str(gi), "-p", str(pol), "--role", "backstop", "-s", svc, LOOP, "--json"
    )
    assert code == 0, err
    assert [t["action"] for t in json.loads(out)["targets"]] == ["stand-down"]
    code, out, err = run(
        "refresh", "-g", str(gi), "-p", str(pol), "--role", "deep", "-s", svc, LOOP, "--json"
    )
    assert code == 0, err
    assert [t["action"] for t in json.loads(out)["targets"]] == ["healthy"]


def test_join_check_reports_non_joinable_outcomes(tmp_path: Path, service: ServiceProcess) -> None:
    other = make_link(enable().invite(), "https://example.org/i")
    code, out, _ = run("join-check", other, "-s", service.url, LOOP, "--json")
    assert code == 1
    assert json.loads(out)["outcome"] == "no-candidates"


def test_bad_input_is_one_line_exit_2(tmp_path: Path, service: ServiceProcess) -> None:
    pol, gi, link = setup_files(tmp_path)
    cases = [
        ("join-check", "not an invite", "-s", service.url, LOOP),
        ("join-check", link, "-s", service.url),  # plain http without the opt-in
        ("join-check", link, "-s", "http://10.1.2.3/v1", LOOP),  # not loopback
        ("join-check", link),  # no pointer in the invite and no --service
        ("fetch", link, "-s", "ftp://example.org/v1"),
        ("upload", "-g", str(gi), "-s", service.url, LOOP),  # --group-info without --policy
        ("upload", "-b", str(gi), "-p", str(pol), "-s", service.url, LOOP),  # not a blob
        ("mirror", "--from", service.url, "--to", service.url, LOOP),  # no slot
        ("mirror", "--from", service.url, "--to", service.url, "--slot", "zz", LOOP),
        ("refresh", "-g", str(gi), "-p", str(pol), "--role", "nope", LOOP),
        ("join-check", link, "-s", service.url, LOOP, "--kind", "sideways"),
    ]
    revoked = tmp_path / "revoked.bin"
    revoked.write_bytes(revoke(enable()).to_entry_bytes())
    cases.append(("refresh", "-g", str(gi), "-p", str(revoked), LOOP))
    for args in cases:
        code, _out, err = run(*args)
        assert code == 2, (args, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1, (args, err)
        assert lines[0].startswith("error: "), (args, err)


def test_mirror_many_slots(tmp_path: Path, start_service: Callable[..., ServiceProcess]) -> None:
    src, dest = start_service("src"), start_service("dest")
    links = []
    for _ in range(3):
        policy = enable()
        pol = tmp_path / f"p{len(links)}.bin"
        pol.write_bytes(policy.to_entry_bytes())
        gi = tmp_path / "gi.bin"
        gi.write_bytes(rine("rine-classic-epochs-e2"))
        code, _, err = run(
            "upload", "-g", str(gi), "-p", str(pol), "-s", src.url, "-k", "lane", "-k", "open", LOOP
        )
        assert code == 0, err
        links.append(make_link(policy.invite(), "https://example.org/i"))
    args = ["mirror", "--from", src.url, "--to", dest.url, LOOP, "--json"]
    for link in links:
        args += ["--invite", link]
    args += ["--slot", os.urandom(8).hex()]  # an empty slot mirrors to nothing, fine
    code, out, err = run(*args)
    assert code == 0, err
    slots = json.loads(out)["slots"]
    assert len(slots) == 4
    assert all(s["ok"] for s in slots)
    assert sorted(s["read"] for s in slots) == [0, 2, 2, 2]
    for index, link in enumerate(links):
        pol = str(tmp_path / f"p{index}.bin")
        code, out, _ = run("join-check", link, "-s", dest.url, "-p", pol, LOOP, "--json")
        assert code == 0
        assert json.loads(out)["epoch"] == 2

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
from tests.support.groupinfos import rine

from .conftest import ServiceProcess

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
        "--epoch-start-ns",
        "now",
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
        "refresh", "-g", str(gi), "-p", str(pol), "--epoch-start-ns", "now", "--role", "backstop",
        "-s", svc, LOOP, "--json",
    )
    assert code == 0, err
    assert [t["action"] for t in json.loads(out)["targets"]] == ["stand-down"] * 2  # lane and open
    code, out, err = run(
        "refresh", "-g", str(gi), "-p", str(pol), "--epoch-start-ns", "now", "--role", "deep",
        "-s", svc, LOOP, "--json",
    )
    assert code == 0, err
    assert [t["action"] for t in json.loads(out)["targets"]] == ["healthy"] * 2


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
        ("mirror", "--from", service.url, "--to", service.url, "--slot-id", "zz", LOOP),
        ("refresh", "-g", str(gi), "-p", str(pol), "--epoch-start-ns", "now", "--role", "nope",
         LOOP),
        ("join-check", link, "-s", service.url, LOOP, "--kind", "sideways"),
    ]
    revoked = tmp_path / "revoked.bin"
    revoked.write_bytes(revoke(enable()).to_entry_bytes())
    cases.append(("refresh", "-g", str(gi), "-p", str(revoked), "--epoch-start-ns", "now", LOOP))
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
            "upload", "-g", str(gi), "-p", str(pol), "--epoch-start-ns", "now", "-s", src.url,
            "-k", "lane", "-k", "open", LOOP,
        )
        assert code == 0, err
        links.append(make_link(policy.invite(), "https://example.org/i"))
    args = ["mirror", "--from", src.url, "--to", dest.url, LOOP, "--json"]
    for link in links:
        args += ["--invite", link]
    args += ["--slot-id", os.urandom(8).hex()]  # an empty slot mirrors to nothing, fine
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


# --- issue 11: the newcomer's path, and issue 8's "stored nothing is a failure" ----------


def _upload(pol: Path, gi: Path, svc: str) -> None:
    code, _, err = run("upload", "-g", str(gi), "-p", str(pol), "--epoch-start-ns", "now",
                       "-s", svc, LOOP)
    assert code == 0, err


def test_service_flag_overrides_the_invites_own_pointer(
    tmp_path: Path, service: ServiceProcess
) -> None:
    """Old code fetched from the invite's https pointer and answered no-candidates."""
    pol, gi, _ = setup_files(tmp_path)
    _upload(pol, gi, service.url)
    code, out, err = run("mint", "-p", str(pol), "-s", "https://blobs.example.invalid/v1",
                         "--link-base", "https://example.org/i", "--json")
    assert code == 0, err
    link = json.loads(out)["link"]
    for cmd in ("join-check", "fetch"):
        extra = ("-p", str(pol)) if cmd == "join-check" else ()
        code, out, err = run(cmd, link, "-s", service.url, *extra, LOOP, "--json")
        assert code == 0, (cmd, err)
    code, out, _ = run("join-check", link, "-s", service.url, "-p", str(pol), LOOP, "--json")
    assert json.loads(out)["outcome"] == "ready"


def test_a_loopback_minted_link_joins_without_a_service_flag(
    tmp_path: Path, service: ServiceProcess
) -> None:
    pol, gi, _ = setup_files(tmp_path)
    _upload(pol, gi, service.url)
    code, out, err = run("mint", "-p", str(pol), "-s", service.url, LOOP,
                         "--link-base", "https://example.org/i", "--json")
    assert code == 0, err
    link = json.loads(out)["link"]
    code, out, err = run("join-check", link, "-p", str(pol), LOOP, "--json")
    assert code == 0, err
    assert json.loads(out)["outcome"] == "ready"
    code, _, err = run("join-check", link, "-p", str(pol), "--json")  # no opt-in: refused, one line
    assert code == 2
    assert err.startswith("error: insecure-url: ")


def test_upload_refuses_a_blob_that_does_not_open_under_the_key(
    tmp_path: Path, service: ServiceProcess
) -> None:
    pol, gi, link = setup_files(tmp_path)
    other = tmp_path / "other.bin"
    other.write_bytes(enable(expire_in_ns=3600 * 10**9).to_entry_bytes())
    blob = tmp_path / "blob.bin"
    code, _, err = run("seal", str(gi), "-p", str(other), "-o", str(blob),
                       "--epoch-start-ns", "now")
    assert code == 0, err
    code, _, err = run("upload", "-b", str(blob), "-p", str(pol), "-s", service.url, LOOP)
    assert code == 2
    assert err.startswith("error: decryption-failed: ")
    code, out, _ = run("fetch", link, "-s", service.url, LOOP, "--json")
    assert json.loads(out)["candidates"] == []  # nothing was sent


def test_upload_refuses_an_expired_blob(tmp_path: Path, service: ServiceProcess) -> None:
    pol, gi, _link = setup_files(tmp_path)
    from invitekit.policy import parse_policy_entry
    from invitekit.sealing import seal_group_info

    policy = parse_policy_entry(pol.read_bytes()).policy
    old = seal_group_info(gi.read_bytes(), policy, 10**9)  # an epoch from 1970: long expired
    blob = tmp_path / "old.bin"
    blob.write_bytes(old.to_bytes())
    code, _, err = run("upload", "-b", str(blob), "-p", str(pol), "-s", service.url, LOOP)
    assert code == 2
    assert err.startswith("error: blob-expired: ")


def test_issue8_refresh_and_upload_that_stored_nothing_exit_1(tmp_path: Path) -> None:
    """No target took the blob (the only service is down): a failure, not "done"."""
    pol, gi, _ = setup_files(tmp_path)
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"  # bound, never listening
        for args in (
            ("refresh", "-g", str(gi), "-p", str(pol), "--epoch-start-ns", "now", "-s", dead,
             LOOP, "--timeout", "5"),
            ("upload", "-g", str(gi), "-p", str(pol), "--epoch-start-ns", "now", "-s", dead,
             LOOP, "--timeout", "5"),
        ):
            code, out, _ = run(*args)
            assert code == 1, (args, out)
            assert "error" in out


def test_an_empty_or_expired_slot_says_it_may_have_expired(
    tmp_path: Path, service: ServiceProcess
) -> None:
    other = make_link(enable().invite(), "https://example.org/i")
    code, out, _ = run("join-check", other, "-s", service.url, LOOP)
    assert code == 1
    assert "expired" in out


def test_mirror_with_only_a_slot_copies_the_open_slot(
    tmp_path: Path, start_service: Callable[..., ServiceProcess]
) -> None:
    src, dest = start_service("src"), start_service("dest")
    pol, gi, link = setup_files(tmp_path)
    _upload(pol, gi, src.url)  # the CLI writes the open slot as well as the lane
    slot = parse_policy_entry_slot(pol)
    code, out, err = run("mirror", "--from", src.url, "--to", dest.url, "--slot-id", slot, LOOP)
    assert code == 0, err
    assert "open slot only" in out
    code, out, _ = run("join-check", link, "-s", dest.url, "-p", str(pol), LOOP, "--json",
                       "-k", "open")
    assert json.loads(out)["outcome"] == "ready"
    code, _, err = run("mirror", "--from", src.url, "--to", dest.url, "--slot-id", slot, "-k",
                       "lane", LOOP)
    assert code == 2
    assert err.startswith("error: usage: ")
    assert "lane listing" in err
    code, _, err = run("mirror", "--from", src.url, "--to", dest.url, "--slot-id", "00" * 16, LOOP)
    assert code == 1
    assert "nothing-to-copy" in err


def parse_policy_entry_slot(pol: Path) -> str:
    from invitekit.policy import parse_policy_entry

    return parse_policy_entry(pol.read_bytes()).policy.external_group_id.hex()

"""``invitekit seal --envelope`` end to end: upload, mirror and ``join-check`` on HPKE blobs.

Real ``invitekit-service`` processes on loopback, real rine-mls GroupInfo bytes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from invitekit.blob import parse_blob
from invitekit.cli import app
from invitekit.envelope import Envelope, parse_envelope
from invitekit.errors import UnsupportedVersion
from invitekit.link import make_link
from invitekit.policy import enable
from tests.support.groupinfos import rine

from .conftest import ServiceProcess

pytestmark = pytest.mark.service_process

runner = CliRunner()
LOOP = "--allow-insecure-loopback"
HPKE = ["hpke-x25519", "hpke-mlkem768-x25519"]


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def sealed_files(tmp_path: Path, envelope: str) -> tuple[Path, Path, str]:
    """Policy file, a blob sealed in ``envelope`` by the CLI, and the invite link."""
    policy = enable(expire_in_ns=3600 * 10**9)
    pol = tmp_path / "policy.bin"
    pol.write_bytes(policy.to_entry_bytes())
    gi = tmp_path / "gi.bin"
    gi.write_bytes(rine("rine-classic-epochs-e3"))
    blob = tmp_path / "blob.bin"
    code, out, err = run(
        "seal", str(gi), "-p", str(pol), "--epoch-start-ns", "now", "--envelope", envelope,
        "-o", str(blob), "--json",
    )
    assert code == 0, err
    assert json.loads(out)["envelope"] == envelope
    return pol, blob, make_link(policy.invite(), "https://example.org/i")


@pytest.mark.parametrize("envelope", HPKE)
def test_join_check_ready_on_a_slot_whose_only_blob_is_hpke(
    tmp_path: Path, service: ServiceProcess, envelope: str
) -> None:
    pol, blob, link = sealed_files(tmp_path, envelope)
    assert parse_envelope(blob.read_bytes()).envelope is Envelope(envelope)
    with pytest.raises(UnsupportedVersion):  # another XIP-82 reader fails closed
        parse_blob(blob.read_bytes())
    code, out, err = run(
        "upload", "-b", str(blob), "-p", str(pol), "-s", service.url, "-k", "open", LOOP, "--json"
    )
    assert code == 0, err
    assert [r["outcome"] for r in json.loads(out)["results"]] == ["created"]
    code, out, err = run("fetch", link, "-s", service.url, LOOP, "--json")
    assert code == 0, err
    (row,) = json.loads(out)["candidates"]
    assert (row["envelope"], row["opens"], row["epoch"]) == (envelope, True, 3)
    code, out, err = run("fetch", link, "-s", service.url, LOOP)
    assert code == 0, err
    assert f"  {envelope}  epoch=3  " in out
    code, out, err = run("join-check", link, "-s", service.url, "-p", str(pol), LOOP, "--json")
    assert code == 0, (out, err)
    ready = json.loads(out)
    assert (ready["outcome"], ready["epoch"], ready["members"]) == ("ready", 3, 6)


@pytest.mark.parametrize("envelope", HPKE)
def test_mirror_copies_hpke_blobs_verbatim(
    tmp_path: Path, start_service: Callable[..., ServiceProcess], envelope: str
) -> None:
    src, dest = start_service("src"), start_service("dest")
    pol, blob, link = sealed_files(tmp_path, envelope)
    code, _, err = run(
        "upload", "-b", str(blob), "-p", str(pol), "-s", src.url, "-k", "lane", "-k", "open", LOOP
    )
    assert code == 0, err
    code, out, err = run("mirror", "--from", src.url, "--to", dest.url, "--invite", link, LOOP,
                         "--json")
    assert code == 0, err
    assert all(s["ok"] for s in json.loads(out)["slots"])
    got = tmp_path / "got"
    code, out, err = run("fetch", link, "-s", dest.url, LOOP, "--json", "-o", str(got))
    assert code == 0, err
    assert [p.read_bytes() for p in got.iterdir()] == [blob.read_bytes()]  # byte for byte
    code, out, err = run("join-check", link, "-s", dest.url, "-p", str(pol), LOOP, "--json")
    assert code == 0, (out, err)
    assert json.loads(out)["outcome"] == "ready"


def test_seal_refuses_legacy_dialect_for_hpke(tmp_path: Path) -> None:
    pol = tmp_path / "policy.bin"
    pol.write_bytes(enable().to_entry_bytes())
    gi = tmp_path / "gi.bin"
    gi.write_bytes(rine("rine-classic-epochs-e3"))
    for extra in (["--envelope", "hpke-x25519", "--legacy"], ["--envelope", "rsa"]):
        code, _, err = run("seal", str(gi), "-p", str(pol), "--epoch-start-ns", "now", *extra)
        assert code == 2, err
        assert len(err.strip().splitlines()) == 1
    code, out, err = run("seal", str(gi), "-p", str(pol), "--epoch-start-ns", "now", "--json")
    assert code == 0, err
    assert json.loads(out)["envelope"] == "v1"  # the default


@pytest.mark.parametrize("envelope", HPKE)
def test_upload_and_refresh_roles_write_the_chosen_envelope(
    tmp_path: Path, service: ServiceProcess, envelope: str
) -> None:
    pol, _blob, link = sealed_files(tmp_path, envelope)
    gi = tmp_path / "gi.bin"
    common = ("-g", str(gi), "-p", str(pol), "--epoch-start-ns", "now", "-s", service.url)
    code, _, err = run("upload", *common, "--envelope", envelope, LOOP)
    assert code == 0, err
    code, out, err = run("fetch", link, "-s", service.url, LOOP, "--json")
    assert code == 0, err
    assert {row["envelope"] for row in json.loads(out)["candidates"]} == {envelope}
    for role, action in (("backstop", "stand-down"), ("deep", "healthy")):
        code, out, err = run("refresh", *common, "--role", role, "--envelope", envelope, LOOP,
                             "--json")
        assert code == 0, err
        assert {t["action"] for t in json.loads(out)["targets"]} == {action}
    code, out, err = run("join-check", link, "-s", service.url, "-p", str(pol), LOOP, "--json")
    assert code == 0, (out, err)
    assert json.loads(out)["outcome"] == "ready"

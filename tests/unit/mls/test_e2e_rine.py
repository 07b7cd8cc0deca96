"""End to end with a real MLS client: rine group -> GroupInfo -> seal -> open + verify ->
join_by_external_commit from the opened bytes -> the member applies the commit."""

from __future__ import annotations

from pathlib import Path

import pytest

rine_mls = pytest.importorskip("rine_mls")

from invitekit.mls import VerifyLevel  # noqa: E402
from invitekit.payload import decode_payload  # noqa: E402
from invitekit.policy import enable  # noqa: E402
from invitekit.sealing import open_and_verify, seal_group_info  # noqa: E402

NOW = 1_800_000_000 * 10**9


@pytest.mark.parametrize(
    "suite",
    [rine_mls.CIPHER_SUITE_CLASSICAL, rine_mls.CIPHER_SUITE_XWING],
    ids=["classic", "xwing"],
)
def test_external_join_from_an_opened_blob(tmp_path: Path, suite: int) -> None:
    admin = rine_mls.MlsClient(str(tmp_path / "admin"), b"\x11" * 32, suite)
    bob = rine_mls.MlsClient(str(tmp_path / "bob"), b"\x22" * 32, suite)
    group = admin.create_group(b"e2e-group")
    group.add_member(bob.generate_key_package())
    epoch = group.epoch()

    policy = enable(expire_in_ns=3600 * 10**9)
    wire = seal_group_info(group.group_info(), policy, epoch_started_at_ns=NOW).to_bytes()
    payload = decode_payload(policy.invite().to_bytes())  # what the QR code carries

    opened = open_and_verify(wire, payload, NOW + 10**9, level=VerifyLevel.PARENT_HASHES)
    assert opened.digest_verified
    assert opened.view.epoch == epoch

    joiner = rine_mls.MlsClient(str(tmp_path / "joiner"), b"\x33" * 32, suite)
    joined = joiner.join_by_external_commit(opened.group_info_bytes)
    commit = joined.last_commit()
    assert commit is not None
    assert group.apply_commit(commit.commit) == epoch + 1
    assert joined.epoch() == group.epoch() == epoch + 1
    identities = {m.identity for m in group.member_identities()}
    assert joiner.public_key() in identities
    assert len(identities) == 3

    # the joiner can now refresh the slot: its own GroupInfo seals and opens too
    refreshed = seal_group_info(joined.group_info(), policy, epoch_started_at_ns=NOW + 2 * 10**9)
    again = open_and_verify(refreshed, payload, NOW + 3 * 10**9)
    assert again.view.epoch == epoch + 1
    assert again.view.signer_index == joined.current_member_index()

"""seal_group_info / open_and_verify over real GroupInfos, strict and compatibility modes."""

from __future__ import annotations

import pytest

from invitekit.blob import EncryptedBlob, parse_blob, seal
from invitekit.errors import (
    BlobExpired,
    BlobGroupInfoMismatch,
    DecryptionFailed,
    PolicyNotEnabled,
)
from invitekit.mls import VerifyLevel, parse_group_info
from invitekit.mls.errors import SignatureInvalid
from invitekit.policy import ExternalCommitPolicy, enable
from invitekit.sealing import open_and_verify, seal_group_info

from .conftest import by_name

NOW = 1_800_000_000 * 10**9
HOUR = 3600 * 10**9


def counter_rng(n: int) -> bytes:
    return bytes(range(n))


def policy() -> ExternalCommitPolicy:
    return enable(expires_at_ns=NOW + 48 * HOUR, expire_in_ns=24 * HOUR)


@pytest.mark.parametrize("name", ["rine-classic-small", "rine-xwing-mid", "tsmls-small"])
def test_seal_then_open_round_trip(name: str) -> None:
    data = by_name(name).data
    pol = policy()
    blob = seal_group_info(data, pol, epoch_started_at_ns=NOW - HOUR)
    view = parse_group_info(data)
    assert blob.epoch == view.epoch
    assert blob.group_state_hash == view.digest
    assert blob.expires_at_ns == NOW + 23 * HOUR  # min(campaign end, epoch start + 24h)
    wire = blob.to_bytes()
    opened = open_and_verify(wire, pol.invite(), NOW)
    assert opened.digest_verified
    assert opened.compat_note is None
    assert opened.group_info_bytes == data
    assert opened.view.epoch == view.epoch
    assert parse_blob(wire).blob == blob


def test_seal_uses_injected_nonce_and_refuses_disabled_policy() -> None:
    data = by_name("rine-classic-small").data
    blob = seal_group_info(data, policy(), NOW, random_bytes=counter_rng)
    assert blob.nonce == bytes(range(12))
    with pytest.raises(PolicyNotEnabled):
        seal_group_info(data, ExternalCommitPolicy(), NOW)


def test_seal_refuses_a_group_info_that_does_not_verify() -> None:
    data = by_name("rine-classic-small").data
    tampered = data[:-1] + bytes((data[-1] ^ 1,))
    with pytest.raises(SignatureInvalid):
        seal_group_info(tampered, policy(), NOW)
    seal_group_info(tampered, policy(), NOW, verify=VerifyLevel.PARSE)  # opt-out is explicit


def test_open_rejects_wrong_key_and_expired() -> None:
    data = by_name("rine-classic-small").data
    pol = policy()
    blob = seal_group_info(data, pol, NOW)
    with pytest.raises(DecryptionFailed):
        open_and_verify(blob, policy().invite(), NOW)
    with pytest.raises(BlobExpired):
        open_and_verify(blob, pol.invite(), NOW + 49 * HOUR)


def libxmtp_style_blob(
    data: bytes, pol: ExternalCommitPolicy, *, epoch: int | None = None
) -> EncryptedBlob:
    """A blob whose digest is something a joiner cannot recompute (an epoch_authenticator)."""
    view = parse_group_info(data)
    assert pol.symmetric_key is not None
    return seal(
        data,
        pol.symmetric_key,
        epoch=view.epoch if epoch is None else epoch,
        group_state_hash=bytes(32),
    )


def test_digest_mismatch_strict_vs_compat() -> None:
    data = by_name("rine-classic-small").data
    pol = policy()
    blob = libxmtp_style_blob(data, pol)
    with pytest.raises(BlobGroupInfoMismatch):
        open_and_verify(blob, pol.invite(), NOW)
    opened = open_and_verify(blob, pol.invite(), NOW, accept_epoch_authenticator_digest=True)
    assert not opened.digest_verified
    assert opened.compat_note is not None
    assert "epoch_authenticator" in opened.compat_note


def test_epoch_mismatch_is_rejected_even_in_compat_mode() -> None:
    data = by_name("rine-classic-small").data
    pol = policy()
    blob = libxmtp_style_blob(data, pol, epoch=99)
    for compat in (False, True):
        with pytest.raises(BlobGroupInfoMismatch):
            open_and_verify(blob, pol.invite(), NOW, accept_epoch_authenticator_digest=compat)


def test_opened_group_info_is_verified_to_the_requested_level() -> None:
    data = by_name("rine-classic-small").data
    tampered = data[:-1] + bytes((data[-1] ^ 1,))
    pol = policy()
    blob = seal_group_info(tampered, pol, NOW, verify=VerifyLevel.PARSE)
    with pytest.raises(SignatureInvalid):
        open_and_verify(blob, pol.invite(), NOW)
    assert (
        open_and_verify(blob, pol.invite(), NOW, level=VerifyLevel.PARSE).level == VerifyLevel.PARSE
    )

"""The HPKE extension envelope: round trips, metadata binding, fail-closed for XIP readers."""

from __future__ import annotations

import hashlib
import hmac
import struct

import pytest
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric import x25519

from invitekit import hpke_blob
from invitekit.blob import parse_blob, seal
from invitekit.errors import BlobExpired, DecryptionFailed, InviteKitError, UnsupportedVersion
from invitekit.hpke_blob import HpkeBlob, HpkeVariant, open_hpke, parse_hpke_blob, seal_hpke

KEY = bytes(range(1, 33))
DIGEST = bytes(range(32))
PLAINTEXT = b"\x00\x01\x00\x04" + bytes(300)


def hkdf_sha256(ikm: bytes, info: bytes, length: int) -> bytes:
    """RFC 5869 with an empty salt, written out so the test does not reuse the code's HKDF."""
    prk = hmac.new(b"\x00" * 32, ikm, hashlib.sha256).digest()
    okm, block = b"", b""
    for counter in range(1, -(-length // 32) + 1):
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        okm += block
    return okm[:length]


@pytest.mark.parametrize("variant", list(HpkeVariant))
def test_round_trip(variant: HpkeVariant) -> None:
    sealed = seal_hpke(PLAINTEXT, KEY, epoch=5, group_state_hash=DIGEST, expires_at_ns=100,
                       variant=variant)
    data = sealed.to_bytes()
    assert parse_hpke_blob(data) == sealed
    assert open_hpke(data, KEY, now_ns=99) == PLAINTEXT


def test_x25519_variant_opens_with_independently_derived_key() -> None:
    sealed = seal_hpke(PLAINTEXT, KEY, epoch=5, group_state_hash=DIGEST, expires_at_ns=100,
                       variant=HpkeVariant.X25519)
    private = x25519.X25519PrivateKey.from_private_bytes(
        hkdf_sha256(KEY, b"XMTP_EXTERNAL_INVITE/hpke-keypair/hpke_x25519", 32))
    info = b"XMTP_EXTERNAL_INVITE" + struct.pack(">QQ", 5, 100) + DIGEST
    suite = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)
    assert suite.decrypt(sealed.sealed, private, info=info) == PLAINTEXT


@pytest.mark.parametrize("variant", list(HpkeVariant))
@pytest.mark.parametrize("field", ["epoch", "expires_at_ns", "group_state_hash"])
def test_metadata_is_bound(variant: HpkeVariant, field: str) -> None:
    sealed = seal_hpke(PLAINTEXT, KEY, epoch=5, group_state_hash=DIGEST, expires_at_ns=100,
                       variant=variant)
    changed = {"epoch": 6, "expires_at_ns": 101,
               "group_state_hash": bytes([1]) + DIGEST[1:]}[field]
    values = {"epoch": 5, "expires_at_ns": 100, "group_state_hash": DIGEST, field: changed}
    forged = HpkeBlob(variant, sealed.sealed, **values)  # type: ignore[arg-type]
    with pytest.raises(DecryptionFailed):
        open_hpke(forged, KEY, now_ns=0)


def test_wrong_key_and_expiry() -> None:
    sealed = seal_hpke(PLAINTEXT, KEY, epoch=1, group_state_hash=DIGEST, expires_at_ns=50)
    with pytest.raises(DecryptionFailed):
        open_hpke(sealed, bytes(32), now_ns=0)
    with pytest.raises(BlobExpired):
        open_hpke(sealed, KEY, now_ns=50)


def test_xip_readers_fail_closed_and_v1_is_not_an_extension_blob() -> None:
    extension = seal_hpke(PLAINTEXT, KEY, epoch=1, group_state_hash=DIGEST).to_bytes()
    with pytest.raises(UnsupportedVersion):
        parse_blob(extension)
    v1 = seal(PLAINTEXT, KEY, epoch=1, group_state_hash=DIGEST).to_bytes()
    with pytest.raises(UnsupportedVersion):
        parse_hpke_blob(v1)


def test_fresh_encapsulation_each_seal() -> None:
    a = seal_hpke(PLAINTEXT, KEY, epoch=1, group_state_hash=DIGEST)
    b = seal_hpke(PLAINTEXT, KEY, epoch=1, group_state_hash=DIGEST)
    assert a.sealed != b.sealed


@pytest.mark.parametrize("cut", [0, 3, 40, 200])
def test_truncated_input_is_typed(cut: int) -> None:
    data = seal_hpke(PLAINTEXT, KEY, epoch=1, group_state_hash=DIGEST).to_bytes()
    with pytest.raises(InviteKitError):
        open_hpke(data[:cut], KEY, now_ns=0)


def test_key_pair_depends_on_variant() -> None:
    a = hpke_blob.derive_private_key(KEY, HpkeVariant.X25519)
    assert isinstance(a, x25519.X25519PrivateKey)
    b = hpke_blob.derive_private_key(KEY, HpkeVariant.MLKEM768_X25519)
    assert isinstance(b, hpke.MLKEM768X25519PrivateKey)

"""EncryptedGroupInfoBlob v1: known answers, check order, tampering, both dialects."""

from __future__ import annotations

import struct

import pytest

from invitekit import blob
from invitekit.errors import (
    BlobExpired,
    CiphertextTooShort,
    DecryptionFailed,
    InvalidDigestLength,
    InvalidNonceLength,
    MalformedMessage,
    MissingGroupStateHash,
    UnsupportedVersion,
)
from invitekit.wire import Dialect
from tests.support import rfc8439
from tests.support.protowire import field_bytes, field_varint

KEY = bytes(range(0x80, 0xA0))
NONCE = bytes.fromhex("070000004041424344454647")
DIGEST = bytes(range(32))
PLAINTEXT = b"\x00\x01\x00\x04" + b"group-info-bytes" * 4
EPOCH = 0x0102030405060708
EXPIRES = 1_900_000_000_000_000_000


def fixed_nonce(n: int) -> bytes:
    assert n == 12
    return NONCE


def test_reference_aead_matches_rfc8439_vector() -> None:
    # RFC 8439 §2.8.2: the reference implementation in tests/support must be right first.
    key = bytes(range(0x80, 0xA0))
    nonce = bytes.fromhex("070000004041424344454647")
    aad = bytes.fromhex("50515253c0c1c2c3c4c5c6c7")
    plaintext = (
        b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for "
        b"the future, sunscreen would be it."
    )
    sealed = rfc8439.aead_encrypt(key, nonce, plaintext, aad)
    assert sealed[:16].hex() == "d31a8d34648e60db7b86afbc53ef7ec2"
    assert sealed[-16:].hex() == "1ae10b594f09e26a7e902ecbd0600691"


def test_seal_matches_independent_computation() -> None:
    sealed = blob.seal(
        PLAINTEXT, KEY, epoch=EPOCH, group_state_hash=DIGEST, expires_at_ns=EXPIRES,
        random_bytes=fixed_nonce,
    )
    aad = struct.pack(">Q", EPOCH) + struct.pack(">Q", EXPIRES) + DIGEST
    assert len(aad) == 48
    assert sealed.ciphertext == rfc8439.aead_encrypt(KEY, NONCE, PLAINTEXT, aad)
    assert sealed.aad == aad


def _hand_blob(dialect: Dialect, ciphertext: bytes) -> bytes:
    digest_field = (
        field_bytes(4, DIGEST) if dialect is Dialect.LEGACY
        else field_bytes(4, field_bytes(1, DIGEST))
    )
    v1 = (
        field_bytes(1, NONCE) + field_bytes(2, ciphertext) + field_varint(3, EPOCH)
        + digest_field + field_varint(5, EXPIRES)
    )
    return field_bytes(1, v1)


@pytest.mark.parametrize("dialect", list(Dialect))
def test_serialized_blob_bytes_are_the_hand_assembled_layout(dialect: Dialect) -> None:
    sealed = blob.seal(
        PLAINTEXT, KEY, epoch=EPOCH, group_state_hash=DIGEST, expires_at_ns=EXPIRES,
        random_bytes=fixed_nonce,
    )
    expected = _hand_blob(dialect, sealed.ciphertext)
    assert sealed.to_bytes(dialect) == expected
    parsed = blob.parse_blob(expected)
    assert parsed.dialect is dialect
    assert parsed.blob == sealed
    assert blob.open_blob(expected, KEY, now_ns=EXPIRES - 1) == PLAINTEXT


def test_typed_and_legacy_layouts_differ_by_the_digest_wrapper() -> None:
    sealed = blob.seal(PLAINTEXT, KEY, epoch=1, group_state_hash=DIGEST)
    typed, legacy = sealed.to_bytes(Dialect.TYPED), sealed.to_bytes(Dialect.LEGACY)
    assert len(typed) == len(legacy) + 2
    assert bytes([0x22, 34, 0x0A, 32]) + DIGEST in typed
    assert bytes([0x22, 32]) + DIGEST in legacy


def test_nonces_are_fresh_on_every_seal() -> None:
    nonces = {blob.seal(b"x", KEY, epoch=1, group_state_hash=DIGEST).nonce for _ in range(64)}
    assert len(nonces) == 64


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param({"epoch": EPOCH + 1}, id="epoch"),
        pytest.param({"expires_at_ns": EXPIRES + 10**12}, id="expiry"),
        pytest.param({"group_state_hash": bytes([DIGEST[0] ^ 1]) + DIGEST[1:]}, id="digest"),
    ],
)
@pytest.mark.parametrize("dialect", list(Dialect))
def test_tampering_any_aad_field_fails_open(tamper: dict[str, object], dialect: Dialect) -> None:
    genuine = blob.seal(PLAINTEXT, KEY, epoch=EPOCH, group_state_hash=DIGEST,
                        expires_at_ns=EXPIRES)
    assert blob.open_blob(genuine.to_bytes(dialect), KEY, now_ns=0) == PLAINTEXT
    fields = {
        "nonce": genuine.nonce, "ciphertext": genuine.ciphertext, "epoch": genuine.epoch,
        "group_state_hash": genuine.group_state_hash, "expires_at_ns": genuine.expires_at_ns,
    }
    fields.update(tamper)
    forged = blob.EncryptedBlob(**fields)  # type: ignore[arg-type]
    with pytest.raises(DecryptionFailed):
        blob.open_blob(forged.to_bytes(dialect), KEY, now_ns=0)


def test_tampered_ciphertext_and_wrong_key_fail() -> None:
    genuine = blob.seal(PLAINTEXT, KEY, epoch=3, group_state_hash=DIGEST)
    flipped = bytearray(genuine.ciphertext)
    flipped[5] ^= 0x40
    forged = blob.EncryptedBlob(genuine.nonce, bytes(flipped), 3, DIGEST)
    with pytest.raises(DecryptionFailed):
        blob.open_blob(forged, KEY, now_ns=0)
    with pytest.raises(DecryptionFailed):
        blob.open_blob(genuine, bytes(32), now_ns=0)


def test_expiry_is_checked_before_aead_and_is_exclusive() -> None:
    genuine = blob.seal(PLAINTEXT, KEY, epoch=3, group_state_hash=DIGEST, expires_at_ns=1000)
    assert blob.open_blob(genuine, KEY, now_ns=999) == PLAINTEXT
    with pytest.raises(BlobExpired):
        blob.open_blob(genuine, KEY, now_ns=1000)
    # An expired blob under the wrong key reports expiry: expiry comes first.
    with pytest.raises(BlobExpired):
        blob.open_blob(genuine, bytes(32), now_ns=5000)
    never = blob.seal(PLAINTEXT, KEY, epoch=3, group_state_hash=DIGEST, expires_at_ns=0)
    assert blob.open_blob(never, KEY, now_ns=2**64 - 1) == PLAINTEXT


def _v1(*fields: bytes) -> bytes:
    return field_bytes(1, b"".join(fields))


CT = bytes(20)


@pytest.mark.parametrize(
    ("data", "error"),
    [
        pytest.param(field_bytes(2, b""), UnsupportedVersion, id="unknown-version"),
        pytest.param(b"", UnsupportedVersion, id="empty"),
        pytest.param(b"\xff\xff", MalformedMessage, id="garbage"),
        pytest.param(_v1(field_bytes(1, bytes(11)), field_bytes(2, CT),
                         field_bytes(4, field_bytes(1, DIGEST))),
                     InvalidNonceLength, id="nonce-11"),
        pytest.param(_v1(field_bytes(2, CT)), InvalidNonceLength, id="nonce-missing"),
        pytest.param(_v1(field_bytes(1, NONCE), field_bytes(2, CT)), MissingGroupStateHash,
                     id="digest-missing"),
        pytest.param(_v1(field_bytes(1, NONCE), field_bytes(2, CT),
                         field_bytes(4, field_bytes(1, bytes(31)))), InvalidDigestLength,
                     id="digest-31"),
        pytest.param(_v1(field_bytes(1, NONCE), field_bytes(2, CT), field_bytes(4, bytes(31))),
                     InvalidDigestLength, id="legacy-digest-31"),
        pytest.param(_v1(field_bytes(1, NONCE), field_bytes(2, bytes(15)),
                         field_bytes(4, field_bytes(1, DIGEST))), CiphertextTooShort,
                     id="ciphertext-15"),
    ],
)
def test_structural_errors_are_typed(data: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        blob.parse_blob(data)
    with pytest.raises(error):
        blob.open_blob(data, KEY, now_ns=0)


def test_check_order_version_before_nonce_before_digest() -> None:
    # Bad nonce and bad digest together: the nonce is reported (it is checked first).
    data = _v1(field_bytes(1, bytes(3)), field_bytes(2, CT), field_bytes(4, bytes(5)))
    with pytest.raises(InvalidNonceLength):
        blob.open_blob(data, KEY, now_ns=0)
    # An unknown version next to a v1 body is still an unknown version.
    with pytest.raises(UnsupportedVersion):
        blob.open_blob(data + field_bytes(2, b"v2"), KEY, now_ns=0)


def test_pinned_digest_length() -> None:
    sealed = blob.seal(b"x", KEY, epoch=1, group_state_hash=bytes(48)).to_bytes()
    assert blob.parse_blob(sealed).blob.group_state_hash == bytes(48)
    with pytest.raises(InvalidDigestLength):
        blob.parse_blob(sealed, digest_length=32)


def test_size_cap() -> None:
    sealed = blob.seal(bytes(1000), KEY, epoch=1, group_state_hash=DIGEST).to_bytes()
    with pytest.raises(MalformedMessage):
        blob.parse_blob(sealed, max_bytes=len(sealed) - 1)
    assert blob.parse_blob(sealed, max_bytes=len(sealed)).blob.epoch == 1


def test_repr_never_shows_ciphertext() -> None:
    sealed = blob.seal(b"secret-plaintext", KEY, epoch=1, group_state_hash=DIGEST)
    assert sealed.ciphertext.hex() not in repr(sealed)
    assert "ciphertext" not in repr(sealed)

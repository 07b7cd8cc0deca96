"""The one envelope layer: version dispatch, seal and open for v1 and both HPKE variants."""

from __future__ import annotations

import pytest

from invitekit import envelope as env
from invitekit.blob import EncryptedBlob, parse_blob, seal
from invitekit.envelope import (
    Envelope,
    EnvelopeKey,
    envelope_of,
    open_envelope,
    parse_envelope,
    seal_envelope,
)
from invitekit.errors import (
    BlobExpired,
    DecryptionFailed,
    InvalidDigestLength,
    InvalidEnvelopeRequest,
    MalformedMessage,
    UnsupportedVersion,
)
from invitekit.hpke_blob import HpkeBlob, seal_hpke
from invitekit.wire import Dialect, Reading

KEY = bytes(range(1, 33))
DIGEST = bytes(range(32))
PLAINTEXT = b"group info " * 40


def field_bytes(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field (the test's own encoder)."""
    tag = (number << 3) | 2

    def varint(n: int) -> bytes:
        out = b""
        while True:
            low, n = n & 0x7F, n >> 7
            out += bytes([low | (0x80 if n else 0)])
            if not n:
                return out

    return varint(tag) + varint(len(payload)) + payload


@pytest.mark.parametrize("envelope", list(Envelope))
def test_every_envelope_round_trips_through_the_one_dispatch(envelope: Envelope) -> None:
    blob = seal_envelope(
        PLAINTEXT, KEY, envelope=envelope, epoch=9, group_state_hash=DIGEST, expires_at_ns=500
    )
    assert envelope_of(blob) is envelope
    data = blob.to_bytes()
    parsed = parse_envelope(data)
    assert parsed.blob == blob
    assert parsed.envelope is envelope
    assert parsed.dialect is Dialect.TYPED
    assert (parsed.blob.epoch, parsed.blob.group_state_hash, parsed.blob.expires_at_ns) == (
        9, DIGEST, 500)
    assert open_envelope(data, KEY, now_ns=499) == PLAINTEXT
    assert open_envelope(blob, EnvelopeKey(KEY), now_ns=499) == PLAINTEXT
    with pytest.raises(BlobExpired):
        open_envelope(data, KEY, now_ns=500)
    with pytest.raises(DecryptionFailed):
        open_envelope(data, bytes(32), now_ns=0)


def test_v1_is_the_default_and_reads_exactly_as_the_xip_reader() -> None:
    blob = seal_envelope(PLAINTEXT, KEY, epoch=1, group_state_hash=DIGEST)
    assert isinstance(blob, EncryptedBlob)
    legacy = blob.to_bytes(Dialect.LEGACY)
    parsed = parse_envelope(legacy)
    assert parsed.dialect is Dialect.LEGACY
    assert parsed.blob == parse_blob(legacy).blob
    with pytest.raises(InvalidDigestLength):  # strict reading is the v1 reader's
        parse_envelope(legacy, reading=Reading.TYPED_ONLY)


@pytest.mark.parametrize("envelope", [Envelope.HPKE_X25519, Envelope.HPKE_MLKEM768_X25519])
def test_hpke_blobs_fail_closed_in_the_xip_reader(envelope: Envelope) -> None:
    data = seal_envelope(PLAINTEXT, KEY, envelope=envelope, epoch=1,
                         group_state_hash=DIGEST).to_bytes()
    with pytest.raises(UnsupportedVersion):
        parse_blob(data)
    assert not envelope.xip
    assert Envelope.V1.xip


def test_two_version_fields_are_unsupported() -> None:
    v1 = seal(PLAINTEXT, KEY, epoch=1, group_state_hash=DIGEST).to_bytes()
    hpke = seal_hpke(PLAINTEXT, KEY, epoch=1, group_state_hash=DIGEST).to_bytes()
    for mixed in (v1 + hpke, hpke + v1, hpke + hpke):
        with pytest.raises(UnsupportedVersion):
            parse_envelope(mixed)
    with pytest.raises(UnsupportedVersion):  # a version nobody defined
        parse_envelope(field_bytes(1003, b""))
    with pytest.raises(UnsupportedVersion):
        parse_envelope(b"")


@pytest.mark.parametrize("data", [b"\xff", b"\x0a\x05ab", b"\xca\x3e\x7f", b"\x0f"])
def test_bytes_that_are_not_a_blob_are_typed_errors(data: bytes) -> None:
    with pytest.raises((MalformedMessage, UnsupportedVersion)):
        parse_envelope(data)


@pytest.mark.parametrize("envelope", list(Envelope))
def test_digest_length_pin_and_size_bound(envelope: Envelope) -> None:
    digest48 = bytes(48)
    data = seal_envelope(PLAINTEXT, KEY, envelope=envelope, epoch=1,
                         group_state_hash=digest48).to_bytes()
    assert parse_envelope(data, digest_length=48).blob.group_state_hash == digest48
    with pytest.raises(InvalidDigestLength):
        parse_envelope(data, digest_length=32)
    with pytest.raises(InvalidDigestLength):
        open_envelope(parse_envelope(data).blob, KEY, 0, digest_length=32)
    with pytest.raises(MalformedMessage):
        parse_envelope(data, max_bytes=len(data) - 1)
    assert parse_envelope(data, max_bytes=len(data)).blob.epoch == 1


@pytest.mark.parametrize("envelope", [Envelope.HPKE_X25519, Envelope.HPKE_MLKEM768_X25519])
def test_hpke_metadata_is_bound(envelope: Envelope) -> None:
    blob = seal_envelope(PLAINTEXT, KEY, envelope=envelope, epoch=4, group_state_hash=DIGEST,
                         expires_at_ns=77)
    assert isinstance(blob, HpkeBlob)
    for forged in (
        HpkeBlob(blob.variant, blob.sealed, 5, DIGEST, 77),
        HpkeBlob(blob.variant, blob.sealed, 4, bytes(32), 77),
        HpkeBlob(blob.variant, blob.sealed, 4, DIGEST, 0),
    ):
        with pytest.raises(DecryptionFailed):
            open_envelope(forged.to_bytes(), KEY, now_ns=0)
    with pytest.raises(InvalidEnvelopeRequest):  # the extension has one layout
        blob.to_bytes(Dialect.LEGACY)


def test_envelope_key_derives_each_key_pair_once_and_never_prints() -> None:
    key = EnvelopeKey(KEY)
    assert "redacted" in repr(key)
    assert KEY.hex() not in repr(key)
    sealed = [
        key.seal(PLAINTEXT, e, epoch=2, group_state_hash=DIGEST) for e in Envelope
    ]
    assert [key.decrypt(b) for b in sealed] == [PLAINTEXT] * 3
    # a blob sealed with one key object opens with another built from the same bytes
    assert [EnvelopeKey(KEY).decrypt(b) for b in sealed] == [PLAINTEXT] * 3


def test_the_module_names_every_version() -> None:
    assert [e.value for e in Envelope] == ["v1", "hpke-x25519", "hpke-mlkem768-x25519"]
    assert set(env.__all__) >= {"Envelope", "parse_envelope", "seal_envelope", "open_envelope"}

"""invitekit.lane: the keyed-lane write proof (pure functions, no service)."""

from __future__ import annotations

import hashlib
import os

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from invitekit import lane
from invitekit.errors import InvalidSymmetricKeyLength, MissingSymmetricKey


def test_derivation_is_hkdf_sha256_with_the_fixed_label() -> None:
    key = bytes(range(32))
    seed = HKDF(hashes.SHA256(), 32, None, b"invitekit v1 keyed-lane Ed25519 seed").derive(key)
    expected = (
        Ed25519PrivateKey.from_private_bytes(seed)
        .public_key()
        .public_bytes(Encoding.Raw, PublicFormat.Raw)
    )
    assert lane.derive_lane_seed(key) == seed
    assert lane.lane_id_for(key) == expected
    assert lane.lane_id_for(key) == lane.LaneSigner(key).lane_id  # deterministic
    assert lane.lane_id_for(os.urandom(32)) != expected


def test_message_layout_is_length_prefixed() -> None:
    slot, lane_id, digest = b"abcd", b"L" * 32, b"D" * 32
    msg = lane.upload_message(slot, lane_id, digest)
    label = b"invitekit v1 keyed-lane upload"
    assert msg == (
        len(label).to_bytes(2, "big")
        + label
        + b"\x00\x04"
        + slot
        + b"\x00\x20"
        + lane_id
        + b"\x00\x20"
        + digest
    )
    # Moving a byte across a field boundary changes the message (no ambiguity).
    assert lane.upload_message(b"abcdL", b"L" * 31 + b"D", digest) != msg
    with pytest.raises(ValueError):
        lane.upload_message(b"abc", lane_id, digest)
    with pytest.raises(ValueError):
        lane.upload_message(b"a" * 256, lane_id, digest)
    with pytest.raises(ValueError):
        lane.upload_message(slot, b"L" * 31, digest)
    with pytest.raises(ValueError):
        lane.upload_message(slot, lane_id, b"D" * 31)


def test_sign_and_verify() -> None:
    key, slot, body = os.urandom(32), os.urandom(16), b"blob bytes"
    lane_id, sig = lane.sign_upload(key, slot, body)
    assert len(sig) == lane.SIGNATURE_LENGTH
    assert lane.verify_upload(lane_id, slot, body, sig)
    assert lane.verify_upload_digest(lane_id, slot, hashlib.sha256(body).digest(), sig)
    assert not lane.verify_upload(lane_id, slot, body + b"x", sig)
    assert not lane.verify_upload(lane_id, os.urandom(16), body, sig)
    assert not lane.verify_upload(lane.lane_id_for(os.urandom(32)), slot, body, sig)
    assert not lane.verify_upload(lane_id, slot, body, sig[:-1] + bytes([sig[-1] ^ 1]))
    # Hostile inputs give False, never an exception.
    assert not lane.verify_upload(lane_id, b"ab", body, sig)
    assert not lane.verify_upload(b"\xff" * 32, slot, body, sig)
    assert not lane.verify_upload(lane_id[:31], slot, body, sig)
    assert not lane.verify_upload(lane_id, slot, body, sig[:63])


def test_bad_keys_are_typed_errors_and_repr_hides_secrets() -> None:
    with pytest.raises(MissingSymmetricKey):
        lane.LaneSigner(b"")
    with pytest.raises(InvalidSymmetricKeyLength):
        lane.LaneSigner(b"k" * 31)
    key = os.urandom(32)
    text = repr(lane.LaneSigner(key))
    assert key.hex() not in text
    assert lane.derive_lane_seed(key).hex() not in text

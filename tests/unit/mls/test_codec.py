"""The TLS codec primitives: RFC 9420 §2.1.2 varints, optional<T>, vectors, round trips."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from invitekit.mls.errors import InvalidStructure, InvalidVarint, TrailingBytes, Truncated
from invitekit.mls.schema import Capabilities, Credential, Lifetime
from invitekit.mls.tls import (
    DEFAULT_LIMITS,
    OPAQUE,
    U16_LIST,
    VARINT_MAX,
    Optional,
    Vector,
    codec_for,
    decode_exact,
    decode_struct,
    encode,
    encode_varint,
    read_varint,
)


@pytest.mark.parametrize(
    ("wire", "value"),
    [
        ("9d7f3e7d", 494878333),
        ("7bbd", 15293),
        ("25", 37),
        ("00", 0),
        ("3f", 63),
        ("4040", 64),
        ("7fff", 16383),
        ("80004000", 16384),
        ("bfffffff", VARINT_MAX),
    ],
)
def test_varint_known_answers(wire: str, value: int) -> None:
    data = bytes.fromhex(wire)
    assert read_varint(data, 0, len(data)) == (value, len(data))
    assert encode_varint(value) == data


@pytest.mark.parametrize("wire", ["403f", "4000", "80003fff", "80000000", "c0", "ffffffff"])
def test_varint_rejects_non_minimal_and_reserved(wire: str) -> None:
    data = bytes.fromhex(wire)
    with pytest.raises(InvalidVarint):
        read_varint(data, 0, len(data))


@pytest.mark.parametrize("wire", ["", "40", "80", "8000", "800040"])
def test_varint_truncated(wire: str) -> None:
    data = bytes.fromhex(wire)
    with pytest.raises(Truncated):
        read_varint(data, 0, len(data))


def test_varint_encode_range() -> None:
    for bad in (-1, VARINT_MAX + 1):
        with pytest.raises(ValueError, match="out of range"):
            encode_varint(bad)


@given(st.integers(0, VARINT_MAX))
def test_varint_round_trip(value: int) -> None:
    data = encode_varint(value)
    assert read_varint(data, 0, len(data)) == (value, len(data))


@given(st.binary(max_size=20_000))
def test_opaque_round_trip(value: bytes) -> None:
    assert decode_exact(OPAQUE, encode(OPAQUE, value)) == value


def test_optional_presence_octet() -> None:
    codec = Optional(OPAQUE)
    assert decode_exact(codec, b"\x00") is None
    assert decode_exact(codec, b"\x01\x02ab") == b"ab"
    with pytest.raises(InvalidStructure):
        decode_exact(codec, b"\x02\x02ab")


def test_ragged_uint_vector() -> None:
    with pytest.raises(TrailingBytes):
        decode_exact(U16_LIST, b"\x03\x00\x01\x00")
    assert decode_exact(U16_LIST, b"\x04\x00\x01\xff\xff") == (1, 0xFFFF)


def test_struct_round_trips_and_select() -> None:
    basic = Credential(credential_type=1, identity=b"alice")
    assert basic.to_bytes() == b"\x00\x01\x05alice"
    assert decode_struct(Credential, basic.to_bytes()) == basic
    x509 = Credential(credential_type=2, certificates=(b"c1", b"cert2"))
    decoded = decode_struct(Credential, x509.to_bytes())
    assert decoded == x509
    assert decoded.identity is None
    assert decoded.raw == x509.to_bytes()
    caps = Capabilities(
        versions=(1,), cipher_suites=(1, 3), extensions=(), proposals=(), credentials=(1,)
    )
    assert decode_struct(Capabilities, caps.to_bytes()) == caps
    life = Lifetime(not_before=0, not_after=2**64 - 1)
    assert decode_struct(Lifetime, life.to_bytes()) == life


def test_struct_field_overrunning_its_region_is_truncated() -> None:
    # a credential inside a 4-byte vector whose identity claims 9 bytes: the bytes after
    # the vector must not be borrowed
    creds = Vector(codec_for(Credential))
    data = b"\x04\x00\x01\x09a" + b"bcdefghij"
    with pytest.raises(Truncated):
        creds.decode(data, 0, len(data), DEFAULT_LIMITS)
    with pytest.raises(Truncated):
        decode_struct(Credential, b"\x00\x01\x09ab")

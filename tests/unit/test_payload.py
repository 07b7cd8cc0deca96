"""ExternalInvitePayload: hand-assembled bytes for both dialects, and every validation rule."""

from __future__ import annotations

import pytest

from invitekit.errors import (
    EmptyServicePointer,
    InvalidExternalGroupId,
    InvalidServiceUrl,
    InvalidSymmetricKeyLength,
    MalformedMessage,
    MissingSymmetricKey,
    UnsupportedVersion,
)
from invitekit.payload import InvitePayload, new_external_group_id, parse_payload
from invitekit.pointer import HttpsPointer, OpaquePointer
from invitekit.wire import Dialect
from tests.support.protowire import field_bytes

KEY = bytes(range(32))
SLOT = bytes.fromhex("00112233445566778899aabbccddeeff")
URL = "https://blobs.example.org/v1"


def typed_bytes(pointer: bytes | None, slot: bytes, key: bytes | None) -> bytes:
    body = b""
    if pointer is not None:
        body += field_bytes(1, pointer)
    body += field_bytes(2, slot) if slot else b""
    if key is not None:
        body += field_bytes(3, field_bytes(1, key) if key else b"")
    return field_bytes(1, body)


def legacy_bytes(pointer: bytes | None, slot: bytes, key: bytes) -> bytes:
    body = field_bytes(1, pointer) if pointer else b""
    body += field_bytes(2, slot) + field_bytes(3, key)
    return field_bytes(1, body)


@pytest.mark.parametrize(
    ("pointer", "pointer_typed", "pointer_legacy"),
    [
        pytest.param(HttpsPointer(URL), field_bytes(1, URL.encode()), URL.encode(), id="https"),
        pytest.param(OpaquePointer(b"\x01nfc"), field_bytes(2, b"\x01nfc"), b"\x01nfc",
                     id="opaque"),
        pytest.param(None, None, None, id="absent"),
    ],
)
def test_payload_bytes_match_hand_assembly(pointer, pointer_typed, pointer_legacy) -> None:  # type: ignore[no-untyped-def]
    payload = InvitePayload(SLOT, KEY, pointer)
    typed = typed_bytes(pointer_typed, SLOT, KEY)
    legacy = legacy_bytes(pointer_legacy, SLOT, KEY)
    assert payload.to_bytes() == typed
    assert payload.to_bytes(Dialect.LEGACY) == legacy
    assert parse_payload(typed).payload == payload
    assert parse_payload(typed).dialect is Dialect.TYPED
    assert parse_payload(legacy).payload == payload
    assert parse_payload(legacy).dialect is Dialect.LEGACY


def test_typed_payload_exact_hex() -> None:
    # By hand: 0a 3a { 0a 0e { 0a 0c url } 12 04 slot 1a 22 { 0a 20 key } }; 58 = 16 + 6 + 36
    payload = InvitePayload(b"slot", bytes(32), HttpsPointer("https://a.io"))
    expected = (
        "0a3a" "0a0e" "0a0c" + b"https://a.io".hex() + "1204" + b"slot".hex()
        + "1a22" "0a20" + "00" * 32
    )
    assert payload.to_bytes().hex() == expected
    legacy_expected = (
        "0a36" "0a0c" + b"https://a.io".hex() + "1204" + b"slot".hex() + "1a20" + "00" * 32
    )
    assert payload.to_bytes(Dialect.LEGACY).hex() == legacy_expected


def test_payload_is_small_enough_for_a_qr() -> None:
    assert len(InvitePayload(SLOT, KEY, HttpsPointer(URL)).to_bytes()) < 100


@pytest.mark.parametrize(
    ("data", "error"),
    [
        pytest.param(field_bytes(2, b"future"), UnsupportedVersion, id="unknown-version"),
        pytest.param(b"", UnsupportedVersion, id="empty-envelope"),
        pytest.param(typed_bytes(None, SLOT, KEY) + field_bytes(3, b"v3"), UnsupportedVersion,
                     id="v1-plus-unknown-variant"),
        pytest.param(b"\x0a\xff", MalformedMessage, id="truncated"),
        pytest.param(typed_bytes(b"", SLOT, KEY), EmptyServicePointer, id="empty-pointer"),
        pytest.param(typed_bytes(field_bytes(1, b"http://blobs.example.org"), SLOT, KEY),
                     InvalidServiceUrl, id="http-url"),
        pytest.param(typed_bytes(field_bytes(1, b"https://"), SLOT, KEY), InvalidServiceUrl,
                     id="url-without-host"),
        pytest.param(typed_bytes(field_bytes(1, b"ftp://x.org/a"), SLOT, KEY), InvalidServiceUrl,
                     id="ftp-url"),
        pytest.param(typed_bytes(field_bytes(1, b"https://a.org/\nx"), SLOT, KEY),
                     InvalidServiceUrl, id="url-with-newline"),
        pytest.param(typed_bytes(field_bytes(2, b""), SLOT, KEY), EmptyServicePointer,
                     id="empty-opaque"),
        pytest.param(typed_bytes(None, b"abc", KEY), InvalidExternalGroupId, id="short-id"),
        pytest.param(typed_bytes(None, b"", KEY), InvalidExternalGroupId, id="missing-id"),
        pytest.param(typed_bytes(None, SLOT, None), MissingSymmetricKey, id="missing-key"),
        pytest.param(typed_bytes(None, SLOT, b""), MissingSymmetricKey, id="empty-key-message"),
        pytest.param(typed_bytes(None, SLOT, bytes(31)), InvalidSymmetricKeyLength,
                     id="key-31"),
        pytest.param(typed_bytes(None, SLOT, bytes(33)), InvalidSymmetricKeyLength,
                     id="key-33"),
        pytest.param(legacy_bytes(None, SLOT, bytes(16)), MalformedMessage, id="legacy-key-16"),
        pytest.param(legacy_bytes(None, b"ab", KEY), InvalidExternalGroupId, id="legacy-short-id"),
    ],
)
def test_invalid_payloads_raise_typed_errors(data: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        parse_payload(data)


def test_legacy_short_key_is_rejected_not_misread() -> None:
    # 16 raw bytes cannot be a legacy key (32) and do not parse as a typed key message.
    with pytest.raises((MalformedMessage, InvalidSymmetricKeyLength, MissingSymmetricKey)):
        parse_payload(legacy_bytes(None, SLOT, bytes(range(1, 17))))


def test_construction_validates_too() -> None:
    with pytest.raises(InvalidExternalGroupId):
        InvitePayload(b"abc", KEY)
    with pytest.raises(InvalidSymmetricKeyLength):
        InvitePayload(SLOT, bytes(16))
    with pytest.raises(InvalidServiceUrl):
        HttpsPointer("http://insecure.example")
    assert InvitePayload(b"abcd", KEY).external_group_id == b"abcd"


def test_key_never_in_repr() -> None:
    payload = InvitePayload(SLOT, KEY, HttpsPointer(URL))
    assert KEY.hex() not in repr(payload)
    assert "symmetric_key" not in repr(payload)


def test_new_external_group_id_is_random_and_sized() -> None:
    ids = {new_external_group_id() for _ in range(32)}
    assert len(ids) == 32
    assert all(len(i) == 16 for i in ids)
    with pytest.raises(InvalidExternalGroupId):
        new_external_group_id(3)


def test_legacy_opaque_pointer_that_looks_like_text_stays_opaque() -> None:
    data = legacy_bytes(b"nfc-tag-7", SLOT, KEY)
    assert parse_payload(data).payload.service_pointer == OpaquePointer(b"nfc-tag-7")

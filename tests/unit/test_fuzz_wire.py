"""Hostile bytes: every parser either succeeds or raises an InviteKitError subclass."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from invitekit.blob import open_blob, parse_blob, seal
from invitekit.errors import InviteKitError
from invitekit.link import parse_invite_text
from invitekit.nfc import parse_ndef_uri_record
from invitekit.payload import InvitePayload, parse_payload
from invitekit.pointer import HttpsPointer
from invitekit.policy import enable, parse_policy_entry
from invitekit.wire import Dialect

KEY = bytes(range(32))
VALID = {
    "payload": InvitePayload(b"slot1234", KEY, HttpsPointer("https://b.io/x")).to_bytes(),
    "blob": seal(b"x" * 40, KEY, epoch=3, group_state_hash=bytes(32)).to_bytes(),
    "policy": enable(max_uses=1).to_entry_bytes(),
    "legacy-blob": seal(b"x" * 40, KEY, epoch=3, group_state_hash=bytes(32)).to_bytes(
        Dialect.LEGACY),
}
PARSERS: dict[str, Callable[[bytes], Any]] = {
    "payload": parse_payload,
    "blob": parse_blob,
    "policy": parse_policy_entry,
    "legacy-blob": parse_blob,
    "ndef": parse_ndef_uri_record,
    "open": lambda data: open_blob(data, KEY, now_ns=0),
}


def _survives(parser: Callable[[bytes], Any], data: bytes) -> None:
    with contextlib.suppress(InviteKitError):
        parser(data)


@pytest.mark.parametrize("name", sorted(PARSERS))
@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=300))
def test_random_bytes(name: str, data: bytes) -> None:
    _survives(PARSERS[name], data)


@pytest.mark.parametrize("name", sorted(VALID))
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_mutated_valid_messages(name: str, data: st.DataObject) -> None:
    original = bytearray(VALID[name])
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(original) - 1))
        original[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(original)))
    _survives(PARSERS[name], bytes(original[:cut]))
    _survives(PARSERS["open"], bytes(original))


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=200))
def test_random_invite_text(text: str) -> None:
    _survives(parse_invite_text, text)  # type: ignore[arg-type]


def test_every_truncation_of_a_valid_payload_fails_closed() -> None:
    data = VALID["payload"]
    for cut in range(len(data)):
        with pytest.raises(InviteKitError):
            parse_payload(data[:cut])

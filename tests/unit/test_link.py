"""Invite links and text encodings."""

from __future__ import annotations

import base64

import pytest

from invitekit.errors import InvalidInviteEncoding, InvalidLinkBase, MalformedMessage
from invitekit.link import make_link, parse_invite_text, payload_bytes_from_link
from invitekit.payload import InvitePayload
from invitekit.pointer import HttpsPointer
from invitekit.wire import Dialect

PAYLOAD = InvitePayload(bytes(range(16)), bytes(range(100, 132)),
                        HttpsPointer("https://blobs.example.org/v1"))
DATA = PAYLOAD.to_bytes()
B64 = base64.urlsafe_b64encode(DATA).decode()


def test_canonical_link_shape() -> None:
    link = make_link(PAYLOAD, "https://invite.example.org/i")
    assert link == "https://invite.example.org/i#" + B64.rstrip("=")
    assert "=" not in link
    assert parse_invite_text(link) == PAYLOAD


def test_link_without_path_gets_root() -> None:
    assert make_link(DATA, "https://x.org").startswith("https://x.org/#")


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(B64, id="padded-base64url"),
        pytest.param(B64.rstrip("="), id="unpadded-base64url"),
        pytest.param(DATA.hex(), id="hex"),
        pytest.param(DATA.hex().upper(), id="hex-upper"),
        pytest.param("0x" + DATA.hex(), id="hex-0x"),
        pytest.param(base64.b32encode(DATA).decode(), id="base32"),
        pytest.param("  " + B64[:20] + "\n" + B64[20:] + "\t ", id="whitespace"),
        pytest.param(" https://invite.example.org/i#" + B64 + "\n", id="link-padded"),
    ],
)
def test_every_text_form_parses(text: str) -> None:
    assert parse_invite_text(text) == PAYLOAD


def test_legacy_payload_in_a_link() -> None:
    link = make_link(PAYLOAD, "https://invite.example.org/i", dialect=Dialect.LEGACY)
    assert parse_invite_text(link) == PAYLOAD


def test_compact_link_is_alphanumeric_and_round_trips() -> None:
    link = make_link(PAYLOAD, "https://invite.example.org/I", compact=True)
    prefix, fragment = link.split("#")
    assert prefix == "HTTPS://INVITE.EXAMPLE.ORG/I"
    assert fragment == base64.b32encode(DATA).decode().rstrip("=")
    assert parse_invite_text(link) == PAYLOAD
    assert parse_invite_text(link.lower().replace("https://", "HTTPS://")) == PAYLOAD


def test_compact_link_needs_alphanumeric_path() -> None:
    with pytest.raises(InvalidLinkBase):
        make_link(PAYLOAD, "https://invite.example.org/join", compact=True)


@pytest.mark.parametrize(
    "base",
    ["http://x.org/i", "https://x.org/i?q=1", "https://x.org/i#frag", "https://u:p@x.org/i",
     "x.org/i", "https:///i"],
)
def test_bad_link_bases(base: str) -> None:
    with pytest.raises(InvalidLinkBase):
        make_link(PAYLOAD, base)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("http://invite.example.org/i#" + B64, InvalidInviteEncoding),
        ("https://invite.example.org/i", InvalidInviteEncoding),
        ("https://invite.example.org/i#", InvalidInviteEncoding),
        ("https://invite.example.org/i#!!!!", InvalidInviteEncoding),
        ("not an invite at all!", InvalidInviteEncoding),
        ("", InvalidInviteEncoding),
        ("abcd", MalformedMessage),
    ],
)
def test_bad_invite_text(text: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        parse_invite_text(text)


def test_link_payload_bytes_are_exact() -> None:
    assert payload_bytes_from_link("https://h.io/i#" + B64) == DATA

"""Text encodings for binary invite material: base64url, base32 (compact profile) and hex.

Every decoder ignores whitespace anywhere (copy-paste line breaks) and raises
:class:`~invitekit.errors.InvalidInviteEncoding` rather than a bare ``binascii`` error.
"""

from __future__ import annotations

import base64
import binascii
import enum
import re

from .errors import InvalidInviteEncoding

_WHITESPACE = re.compile(r"\s+")
_HEX = re.compile(r"\A(?:[0-9a-fA-F]{2})*\Z")
_B64URL = re.compile(r"\A[A-Za-z0-9_-]*={0,2}\Z")
_B32 = re.compile(r"\A[A-Z2-7]*={0,6}\Z")


class TextEncoding(enum.StrEnum):
    """How binary data is written as text."""

    BASE64URL = "base64url"
    BASE32 = "base32"
    HEX = "hex"


def strip_whitespace(text: str) -> str:
    """``text`` with every whitespace character removed."""
    return _WHITESPACE.sub("", text)


def b64url_encode(data: bytes) -> str:
    """Unpadded base64url (RFC 4648 §5)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode base64url with or without padding."""
    text = strip_whitespace(text)
    if not _B64URL.match(text) or len(text.rstrip("=")) % 4 == 1:
        raise InvalidInviteEncoding("not base64url")
    try:
        return base64.urlsafe_b64decode(text.rstrip("=") + "=" * (-len(text.rstrip("=")) % 4))
    except (binascii.Error, ValueError):
        raise InvalidInviteEncoding("not base64url") from None


def b32_encode(data: bytes) -> str:
    """Unpadded upper-case base32 (RFC 4648 §6): QR alphanumeric-mode friendly."""
    return base64.b32encode(data).rstrip(b"=").decode("ascii")


def b32_decode(text: str) -> bytes:
    """Decode base32 (case-insensitive) with or without padding."""
    text = strip_whitespace(text).upper()
    if not _B32.match(text):
        raise InvalidInviteEncoding("not base32")
    body = text.rstrip("=")
    try:
        return base64.b32decode(body + "=" * (-len(body) % 8))
    except (binascii.Error, ValueError):
        raise InvalidInviteEncoding("not base32") from None


def hex_decode(text: str) -> bytes:
    """Decode hex (either case, optional ``0x`` prefix)."""
    text = strip_whitespace(text)
    if text[:2].lower() == "0x":
        text = text[2:]
    if not _HEX.match(text):
        raise InvalidInviteEncoding("not hex")
    return bytes.fromhex(text)


def encode(data: bytes, encoding: TextEncoding) -> str:
    """``data`` written in ``encoding``."""
    if encoding is TextEncoding.HEX:
        return data.hex()
    if encoding is TextEncoding.BASE32:
        return b32_encode(data)
    return b64url_encode(data)


def decode(text: str, encoding: TextEncoding) -> bytes:
    """``text`` read as ``encoding``."""
    if encoding is TextEncoding.HEX:
        return hex_decode(text)
    if encoding is TextEncoding.BASE32:
        return b32_decode(text)
    return b64url_decode(text)


__all__ = [
    "TextEncoding",
    "b32_decode",
    "b32_encode",
    "b64url_decode",
    "b64url_encode",
    "decode",
    "encode",
    "hex_decode",
    "strip_whitespace",
]

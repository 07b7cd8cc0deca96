"""NFC: an invite link as one NDEF URI record (NFC Forum RTD-URI).

Record layout: header (MB|ME|SR|TNF=well-known, or the long form without SR), type length 1,
payload length (1 byte short / 4 bytes long), type ``U``, payload = URI identifier code ‖ rest
of the URI. ``https://`` abbreviates to code 0x04; any other URI is written whole (code 0x00).
"""

from __future__ import annotations

import struct

from .errors import InvalidInviteEncoding

_MB, _ME, _SR = 0x80, 0x40, 0x10
_TNF_WELL_KNOWN = 0x01
_TYPE_URI = b"U"
_PREFIXES = {0x04: "https://", 0x00: ""}


def ndef_uri_record(uri: str) -> bytes:
    """The bytes of a single-record NDEF message holding ``uri``."""
    if uri.startswith("https://"):
        body = bytes([0x04]) + uri[len("https://"):].encode()
    else:
        body = bytes([0x00]) + uri.encode()
    header = _MB | _ME | _TNF_WELL_KNOWN
    if len(body) < 256:
        return bytes([header | _SR, len(_TYPE_URI), len(body)]) + _TYPE_URI + body
    return bytes([header, len(_TYPE_URI)]) + struct.pack(">I", len(body)) + _TYPE_URI + body


def parse_ndef_uri_record(data: bytes) -> str:
    """The URI in a single-record NDEF URI message written by :func:`ndef_uri_record`."""
    try:
        header, type_len = data[0], data[1]
        if header & 0x0F != _TNF_WELL_KNOWN or not header & _MB or not header & _ME:
            raise InvalidInviteEncoding("not a single well-known NDEF record")
        if header & 0x08:
            raise InvalidInviteEncoding("NDEF records with an ID field are not supported")
        if header & _SR:
            length, offset = data[2], 3
        else:
            (length,) = struct.unpack(">I", data[2:6])
            offset = 6
        record_type = data[offset:offset + type_len]
        body = data[offset + type_len:]
    except (IndexError, struct.error):
        raise InvalidInviteEncoding("NDEF record is truncated") from None
    if record_type != _TYPE_URI or len(body) != length or not body:
        raise InvalidInviteEncoding("not a well-formed NDEF URI record")
    prefix = _PREFIXES.get(body[0])
    if prefix is None:
        raise InvalidInviteEncoding("unsupported NDEF URI identifier code")
    try:
        return prefix + body[1:].decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInviteEncoding("NDEF URI is not valid UTF-8") from None


__all__ = [
    "ndef_uri_record",
    "parse_ndef_uri_record",
]

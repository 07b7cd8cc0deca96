"""Protobuf plumbing shared by the payload, policy and blob modules.

Two wire dialects exist for the same field numbers:

* ``TYPED`` — the XIP's final schema: key, digest and service pointer are submessages.
* ``LEGACY`` — released xmtp/proto v3.92/v3.93 and libxmtp main: the same fields are raw
  ``bytes`` (and the policy has only fields 1–5).

The dual reader (:attr:`Reading.DUAL`, the default) tells the dialects apart by the
*length* of the key or digest field: a valid legacy key is exactly 32 raw bytes, a valid
typed key is a 34-byte submessage; valid legacy digests are 32/48/64 raw bytes, valid typed
ones 34/50/66. The valid sets are disjoint, so detection never changes the meaning of a valid
message; anything else is decoded as typed and rejected there.

Its one ambiguous corner: a *malformed* typed field whose submessage happens to be a legacy
length — a ``SymmetricKey`` with 30 bytes of material (32 on the wire), a ``GroupStateHash``
of 30/46/62 bytes — is read as a valid legacy message whose key or digest is the submessage's
bytes. :attr:`Reading.TYPED_ONLY` never reads legacy, so it rejects such a field.
"""

from __future__ import annotations

import enum
from typing import TypeVar

from google.protobuf import unknown_fields
from google.protobuf.message import DecodeError, Message

from .errors import MalformedMessage

M = TypeVar("M", bound=Message)

#: Hash output lengths of the MLS ciphersuites RFC 9420 defines (SHA-256/384/512).
DIGEST_LENGTHS = frozenset({32, 48, 64})
KEY_LENGTH = 32


class Dialect(enum.StrEnum):
    """Which schema a message was read with or is to be written in."""

    TYPED = "typed"
    LEGACY = "legacy"


def decode(message_type: type[M], data: bytes, *, what: str) -> M:
    """Parse ``data`` as ``message_type`` or raise :class:`MalformedMessage`."""
    try:
        return message_type.FromString(data)
    except DecodeError:
        raise MalformedMessage(f"{what}: not a valid protobuf encoding") from None


def has_unknown_fields(message: Message) -> bool:
    """True when the parsed message carried field numbers its schema does not define."""
    return len(unknown_fields.UnknownFieldSet(message)) > 0


class Reading(enum.StrEnum):
    """Which dialects a reader accepts."""

    DUAL = "dual"  # both, told apart by field length (see the module docstring)
    TYPED_ONLY = "typed-only"  # the XIP's typed layout only; never reinterpreted as legacy


def key_field_dialect(raw_field: bytes, reading: Reading = Reading.DUAL) -> Dialect:
    """Dialect of a message whose symmetric-key field holds ``raw_field``."""
    if reading is Reading.TYPED_ONLY:
        return Dialect.TYPED
    return Dialect.LEGACY if len(raw_field) == KEY_LENGTH else Dialect.TYPED


def digest_field_dialect(raw_field: bytes, reading: Reading = Reading.DUAL) -> Dialect:
    """Dialect of a blob whose group_state_hash field holds ``raw_field``."""
    if reading is Reading.TYPED_ONLY:
        return Dialect.TYPED
    return Dialect.LEGACY if len(raw_field) in DIGEST_LENGTHS else Dialect.TYPED


__all__ = [
    "DIGEST_LENGTHS",
    "KEY_LENGTH",
    "Dialect",
    "Reading",
    "decode",
    "digest_field_dialect",
    "has_unknown_fields",
    "key_field_dialect",
]

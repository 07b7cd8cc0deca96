"""ExternalInvitePayload: the capability a QR code, link or NFC tag carries.

Invariants of an :class:`InvitePayload` (checked on construction and on parse):
``external_group_id`` is at least 4 bytes, ``symmetric_key`` exactly 32 bytes, and the
service pointer is either absent (application-resolved) or a valid pointer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import wire
from .errors import (
    InvalidExternalGroupId,
    InvalidSymmetricKeyLength,
    MalformedMessage,
    MissingSymmetricKey,
    UnsupportedVersion,
)
from .pointer import (
    ServicePointer,
    pointer_from_legacy,
    pointer_from_proto,
    pointer_to_legacy,
    pointer_to_proto,
)
from .proto import external_invite_legacy_pb2 as legacy_pb
from .proto import external_invite_pb2 as pb
from .sources import RandomBytes, os_random_bytes
from .wire import Dialect, Reading

MIN_EXTERNAL_GROUP_ID = 4
DEFAULT_EXTERNAL_GROUP_ID = 16
#: Far above any real payload (~80 bytes); bounds work on hostile input.
MAX_PAYLOAD_BYTES = 4096


def validate_external_group_id(external_group_id: bytes) -> None:
    """Raise unless the slot id is at least 4 bytes."""
    if len(external_group_id) < MIN_EXTERNAL_GROUP_ID:
        raise InvalidExternalGroupId(
            f"external_group_id must be at least {MIN_EXTERNAL_GROUP_ID} bytes, "
            f"got {len(external_group_id)}"
        )


def validate_symmetric_key(key: bytes) -> None:
    """Raise unless ``key`` is exactly 32 bytes (empty counts as missing)."""
    if not key:
        raise MissingSymmetricKey("symmetric key is missing or empty")
    if len(key) != wire.KEY_LENGTH:
        raise InvalidSymmetricKeyLength(
            f"symmetric key must be {wire.KEY_LENGTH} bytes, got {len(key)}"
        )


def new_symmetric_key(random_bytes: RandomBytes = os_random_bytes) -> bytes:
    """A fresh 256-bit key (from the OS CSPRNG unless a test injects ``random_bytes``)."""
    return random_bytes(wire.KEY_LENGTH)


def new_external_group_id(
    length: int = DEFAULT_EXTERNAL_GROUP_ID, random_bytes: RandomBytes = os_random_bytes
) -> bytes:
    """A fresh random slot id (16 bytes unless asked otherwise; never under 4)."""
    validate_external_group_id(b"\0" * length)
    return random_bytes(length)


@dataclass(frozen=True)
class InvitePayload:
    """A validated ExternalInvitePayload v1. The key never appears in ``repr``."""

    external_group_id: bytes
    symmetric_key: bytes = field(repr=False)
    service_pointer: ServicePointer | None = None

    def __post_init__(self) -> None:
        validate_external_group_id(self.external_group_id)
        validate_symmetric_key(self.symmetric_key)

    def to_bytes(self, dialect: Dialect = Dialect.TYPED) -> bytes:
        """Serialize; typed unless the legacy raw-bytes layout is asked for."""
        if dialect is Dialect.LEGACY:
            v1_legacy = legacy_pb.ExternalInvitePayloadV1(
                external_group_id=self.external_group_id, symmetric_key=self.symmetric_key
            )
            if self.service_pointer is not None:
                v1_legacy.service_pointer = pointer_to_legacy(self.service_pointer)
            return legacy_pb.ExternalInvitePayload(v1=v1_legacy).SerializeToString()
        v1 = pb.ExternalInvitePayloadV1(
            external_group_id=self.external_group_id,
            symmetric_key=pb.SymmetricKey(material=self.symmetric_key),
        )
        if self.service_pointer is not None:
            v1.service_pointer.CopyFrom(pointer_to_proto(self.service_pointer))
        return pb.ExternalInvitePayload(v1=v1).SerializeToString()


@dataclass(frozen=True)
class ParsedPayload:
    """A payload together with the dialect it was read in."""

    payload: InvitePayload
    dialect: Dialect


def parse_payload(data: bytes, *, reading: Reading = Reading.DUAL) -> ParsedPayload:
    """Parse either dialect (``reading=TYPED_ONLY``: the typed one only), fail closed on
    anything invalid (typed errors, see module doc)."""
    if len(data) > MAX_PAYLOAD_BYTES:
        raise MalformedMessage(f"invite payload larger than {MAX_PAYLOAD_BYTES} bytes")
    # The legacy schema reads both dialects (typed submessages are length-delimited bytes),
    # which lets us look at the raw key field before choosing the schema.
    raw = wire.decode(legacy_pb.ExternalInvitePayload, data, what="invite payload")
    if wire.has_unknown_fields(raw) or raw.WhichOneof("version") != "v1":
        raise UnsupportedVersion("invite payload version is not one this reader supports")
    if not raw.v1.symmetric_key:
        raise MissingSymmetricKey("invite payload carries no symmetric key")
    dialect = wire.key_field_dialect(raw.v1.symmetric_key, reading)
    if dialect is Dialect.LEGACY:
        pointer = pointer_from_legacy(raw.v1.service_pointer) if raw.v1.service_pointer else None
        payload = InvitePayload(raw.v1.external_group_id, raw.v1.symmetric_key, pointer)
        return ParsedPayload(payload, dialect)
    typed = wire.decode(pb.ExternalInvitePayload, data, what="invite payload").v1
    key = typed.symmetric_key.material
    typed_pointer = (
        pointer_from_proto(typed.service_pointer) if typed.HasField("service_pointer") else None
    )
    return ParsedPayload(InvitePayload(typed.external_group_id, key, typed_pointer), dialect)


def decode_payload(data: bytes) -> InvitePayload:
    """Parse a payload in either dialect and return just the payload."""
    return parse_payload(data).payload


__all__ = [
    "DEFAULT_EXTERNAL_GROUP_ID",
    "MAX_PAYLOAD_BYTES",
    "MIN_EXTERNAL_GROUP_ID",
    "InvitePayload",
    "ParsedPayload",
    "decode_payload",
    "new_external_group_id",
    "new_symmetric_key",
    "parse_payload",
    "validate_external_group_id",
    "validate_symmetric_key",
]

"""XMTP's AppData components that XIP-82's validator reads, and XMTP credentials.

Wire facts (XMTP's app-data spec and libxmtp; the TLS parts are layout tables run by the
codec in :mod:`invitekit.mls.tls`):

* ``InboxId`` = ``varint version ‖ opaque id[32]`` with version 0 written as the single byte
  ``0x00`` (any other first byte, including the non-minimal ``40 00``, is refused): 33 bytes.
* ``GROUP_MEMBERSHIP`` (component 0x8003) is ``TlsMap<InboxId, opaque<V>>``: a vector of
  ``{key, value}`` entries with unique keys in ascending byte order.
* An ``AppDataUpdate`` of it carries ``TlsMapDelta``: a vector of mutations, each a ``uint8``
  type (0 insert, 1 update, 2 delete), the key, and for insert/update the value. Mutations
  apply in order; inserting a present key or updating/deleting an absent one fails the whole
  delta.
* Each value is a protobuf ``GroupMembershipEntry{oneof version{V1 v1 = 1}}`` with
  ``V1{uint64 sequence_id = 1; repeated bytes failed_installations = 2;
  bytes admitted_via_external_group_id = 3}``; an entry without a known version is malformed
  (fail closed: an unreadable entry could hide a tag change).
* ``COMPONENT_REGISTRY`` is component 0x8000; ``EXTERNAL_COMMIT_POLICY`` 0x800C.
* An XMTP leaf's credential is an RFC 9420 ``basic`` credential whose identity is the protobuf
  ``MlsCredential{string inbox_id = 1}``, the inbox id as 64 hex digits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from google.protobuf.message import DecodeError

from .errors import InviteKitError
from .mls.errors import MlsDecodeError
from .mls.schema import CREDENTIAL_BASIC, Credential
from .mls.tls import (
    OPAQUE,
    Enum,
    Field,
    FixedOpaque,
    Layout,
    Select,
    Struct,
    Vector,
    codec_for,
    decode_struct,
)
from .policy import COMPONENT_ID as EXTERNAL_COMMIT_POLICY
from .proto import xmtp_group_membership_pb2 as membership_pb
from .proto import xmtp_mls_credential_pb2 as credential_pb

COMPONENT_REGISTRY = 0x8000
GROUP_MEMBERSHIP = 0x8003
INBOX_ID_LENGTH = 32
INBOX_ID_VERSION = 0
MUTATION_INSERT = 0
MUTATION_UPDATE = 1
MUTATION_DELETE = 2
MUTATION_TYPES = {MUTATION_INSERT: "insert", MUTATION_UPDATE: "update", MUTATION_DELETE: "delete"}


class ComponentError(InviteKitError):
    """An XMTP component, membership entry or credential that does not decode or apply."""

    code = "xmtp-component"


class MalformedMembership(ComponentError):
    """GROUP_MEMBERSHIP bytes that are not a sorted, unique ``TlsMap<InboxId, bytes>``."""

    code = "group-membership-malformed"


class MalformedDelta(ComponentError):
    """A ``TlsMapDelta`` that does not decode, or does not apply to the map it targets."""

    code = "membership-delta-malformed"


class MalformedEntry(ComponentError):
    """A ``GroupMembershipEntry`` that does not parse or carries no known version."""

    code = "membership-entry-malformed"


class NotAnXmtpCredential(ComponentError):
    """A leaf credential that is not a basic credential holding an ``MlsCredential``."""

    code = "not-an-xmtp-credential"


# --- TLS layouts -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class InboxIdWire(Struct):
    """``InboxId``: version 0 as one ``0x00`` byte, then the 32-byte id."""

    version: int
    id: bytes

    LAYOUT: ClassVar[Layout] = (
        Field("version", Enum(1, {INBOX_ID_VERSION: "v0"}, "InboxId version")),
        Field("id", FixedOpaque(INBOX_ID_LENGTH)),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class MembershipMapEntry(Struct):
    """``TlsMapEntry<InboxId, opaque<V>>``, the ``InboxId`` laid out inline (one table for
    the hot path: a 1,000-member map is 1,000 of these)."""

    key_version: int
    key_id: bytes
    value: bytes

    LAYOUT: ClassVar[Layout] = (
        Field("key_version", Enum(1, {INBOX_ID_VERSION: "v0"}, "InboxId version")),
        Field("key_id", FixedOpaque(INBOX_ID_LENGTH)),
        Field("value", OPAQUE),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class MembershipMap(Struct):
    """``TlsMap<InboxId, opaque<V>>``: the GROUP_MEMBERSHIP snapshot."""

    entries: tuple[MembershipMapEntry, ...]

    LAYOUT: ClassVar[Layout] = (Field("entries", Vector(codec_for(MembershipMapEntry))),)


@dataclass(frozen=True, slots=True, kw_only=True)
class MembershipMutation(Struct):
    """``TlsMapMutation<InboxId, opaque<V>>``: insert/update carry a value, delete none."""

    type: int
    key: InboxIdWire
    value: bytes | None = None

    LAYOUT: ClassVar[Layout] = (
        Field("type", Enum(1, MUTATION_TYPES, "TlsMap mutation type")),
        Field("key", codec_for(InboxIdWire)),
        Select(
            "type",
            {
                MUTATION_INSERT: (Field("value", OPAQUE),),
                MUTATION_UPDATE: (Field("value", OPAQUE),),
                MUTATION_DELETE: (),
            },
        ),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class MembershipDelta(Struct):
    """``TlsMapDelta<InboxId, opaque<V>>``: mutations applied in order."""

    mutations: tuple[MembershipMutation, ...]

    LAYOUT: ClassVar[Layout] = (Field("mutations", Vector(codec_for(MembershipMutation))),)


def inbox_key(inbox_id: bytes) -> InboxIdWire:
    """The wire ``InboxId`` for a 32-byte inbox id."""
    if len(inbox_id) != INBOX_ID_LENGTH:
        raise ComponentError(f"an inbox id is {INBOX_ID_LENGTH} bytes, not {len(inbox_id)}")
    return InboxIdWire(version=INBOX_ID_VERSION, id=bytes(inbox_id))


# --- GROUP_MEMBERSHIP ----------------------------------------------------------------------


def decode_membership(data: bytes) -> dict[bytes, bytes]:
    """GROUP_MEMBERSHIP snapshot bytes → ``{inbox id (32 bytes): entry bytes}`` (in order).

    Raises :class:`MalformedMembership` unless the bytes are one ``TlsMap`` whose keys are
    unique and strictly ascending.
    """
    try:
        snapshot = decode_struct(MembershipMap, data)
    except MlsDecodeError as exc:
        raise MalformedMembership(f"GROUP_MEMBERSHIP does not decode: {exc}") from None
    out: dict[bytes, bytes] = {}
    previous = b""
    for entry in snapshot.entries:
        key = entry.key_id
        if out and key <= previous:
            raise MalformedMembership("GROUP_MEMBERSHIP keys are not unique and ascending")
        out[key] = entry.value
        previous = key
    return out


def encode_membership(entries: Mapping[bytes, bytes]) -> bytes:
    """A GROUP_MEMBERSHIP snapshot with ``entries`` sorted by inbox id."""
    return MembershipMap(
        entries=tuple(
            MembershipMapEntry(
                key_version=INBOX_ID_VERSION, key_id=inbox_key(k).id, value=entries[k]
            )
            for k in sorted(entries)
        )
    ).to_bytes()


def decode_delta(data: bytes) -> MembershipDelta:
    """``TlsMapDelta<InboxId, bytes>`` bytes; :class:`MalformedDelta` on any defect."""
    try:
        return decode_struct(MembershipDelta, data)
    except MlsDecodeError as exc:
        raise MalformedDelta(f"GROUP_MEMBERSHIP delta does not decode: {exc}") from None


def apply_delta(snapshot: Mapping[bytes, bytes], delta: MembershipDelta) -> dict[bytes, bytes]:
    """The snapshot after ``delta``'s mutations, in order; the input is never changed.

    Inserting a present key, or updating or deleting an absent one, raises
    :class:`MalformedDelta` and nothing is applied.
    """
    result = dict(snapshot)
    for mutation in delta.mutations:
        key = mutation.key.id
        if mutation.type == MUTATION_INSERT:
            if key in result:
                raise MalformedDelta("delta inserts an inbox that is already present")
            result[key] = mutation.value or b""
        elif key not in result:
            raise MalformedDelta(f"delta {MUTATION_TYPES[mutation.type]}s an absent inbox")
        elif mutation.type == MUTATION_UPDATE:
            result[key] = mutation.value or b""
        else:
            del result[key]
    return result


def encode_delta(mutations: list[tuple[int, bytes, bytes | None]]) -> bytes:
    """A ``TlsMapDelta`` from ``(type, inbox id, value or None)`` triples."""
    return MembershipDelta(
        mutations=tuple(
            MembershipMutation(type=kind, key=inbox_key(key), value=value)
            for kind, key, value in mutations
        )
    ).to_bytes()


# --- GroupMembershipEntry ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MembershipEntry:
    """A decoded ``GroupMembershipEntry.V1``; ``admitted_via`` is empty when absent."""

    sequence_id: int
    failed_installations: tuple[bytes, ...] = ()
    admitted_via: bytes = field(default=b"")

    def to_bytes(self) -> bytes:
        """The protobuf encoding (generated code)."""
        v1 = membership_pb.GroupMembershipEntry.V1(
            sequence_id=self.sequence_id,
            failed_installations=list(self.failed_installations),
            admitted_via_external_group_id=self.admitted_via,
        )
        return membership_pb.GroupMembershipEntry(v1=v1).SerializeToString()


def decode_entry(data: bytes) -> MembershipEntry:
    """Parse a GROUP_MEMBERSHIP value; :class:`MalformedEntry` unless it carries ``v1``."""
    message = membership_pb.GroupMembershipEntry()
    try:
        message.ParseFromString(bytes(data))
    except DecodeError:
        raise MalformedEntry("GroupMembershipEntry does not parse") from None
    if message.WhichOneof("version") != "v1":
        raise MalformedEntry("GroupMembershipEntry carries no known version")
    v1 = message.v1
    return MembershipEntry(
        sequence_id=v1.sequence_id,
        failed_installations=tuple(v1.failed_installations),
        admitted_via=v1.admitted_via_external_group_id,
    )


# --- credentials -----------------------------------------------------------------------


def inbox_id_from_hex(text: str) -> bytes:
    """The 32-byte inbox id of its 64-hex-digit string form (either case)."""
    if len(text) != 2 * INBOX_ID_LENGTH:
        raise NotAnXmtpCredential("an inbox id string is 64 hex digits")
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise NotAnXmtpCredential("inbox id is not hex") from None


def credential_inbox_id(credential: Credential) -> bytes:
    """The 32-byte inbox id a leaf's XMTP credential names.

    Raises :class:`NotAnXmtpCredential` unless the credential is ``basic`` and its identity
    parses as ``MlsCredential`` with a 64-hex-digit ``inbox_id``.
    """
    if credential.credential_type != CREDENTIAL_BASIC or credential.identity is None:
        raise NotAnXmtpCredential("not a basic credential")
    message = credential_pb.MlsCredential()
    try:
        message.ParseFromString(credential.identity)
    except DecodeError:
        raise NotAnXmtpCredential("credential identity is not an MlsCredential") from None
    return inbox_id_from_hex(message.inbox_id)


def mls_credential_identity(inbox_id: bytes) -> bytes:
    """The basic-credential identity bytes for ``inbox_id`` (generated protobuf)."""
    return credential_pb.MlsCredential(inbox_id=bytes(inbox_id).hex()).SerializeToString()


__all__ = [
    "COMPONENT_REGISTRY",
    "EXTERNAL_COMMIT_POLICY",
    "GROUP_MEMBERSHIP",
    "ComponentError",
    "MalformedDelta",
    "MalformedEntry",
    "MalformedMembership",
    "MembershipDelta",
    "MembershipEntry",
    "NotAnXmtpCredential",
    "apply_delta",
    "credential_inbox_id",
    "decode_delta",
    "decode_entry",
    "decode_membership",
    "encode_delta",
    "encode_membership",
    "inbox_id_from_hex",
    "mls_credential_identity",
]

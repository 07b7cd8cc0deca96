"""EXTERNAL_COMMIT_POLICY (AppData component 0x800C): encoding, lifecycle and accounting.

Lifecycle invariants enforced by :meth:`ExternalCommitPolicy.validate` (on construction,
parse and every helper's result):

* enabled  ⇒ a 32-byte ``symmetric_key`` and an ``external_group_id`` of at least 4 bytes;
* disabled ⇒ every per-invite field is absent: no key (not even an empty submessage), no slot
  id, ``expires_at_ns == 0``, no ``refresh_pointers``. Only the durable settings
  (``expire_in_ns``, ``max_uses``) survive, so a revoked policy serializes byte-identically to
  one that never had an invite.

Keys and slot ids are drawn from an injected ``random_bytes`` source (the OS CSPRNG by
default, see :mod:`invitekit.sources`) — every enable and every rotation takes a fresh key,
never a reused one.

"Is this invite active?" has one answer, :func:`active_invite`: an enabled policy with its
key. Every operation that needs a live invite (minting a payload, sealing, the refresh roles,
the CLI) goes through it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from . import wire
from .errors import (
    DisabledWithInviteFields,
    EnabledWithoutInvite,
    MalformedMessage,
    MissingSymmetricKey,
    PolicyNotEnabled,
    ValueOutOfRange,
)
from .expiry import check_u64, effective_expiry
from .payload import (
    DEFAULT_EXTERNAL_GROUP_ID,
    InvitePayload,
    validate_external_group_id,
    validate_symmetric_key,
)
from .pointer import ServicePointer, pointer_from_proto, pointer_to_proto
from .proto import external_commit_policy_pb2 as pb
from .proto import external_invite_legacy_pb2 as legacy_pb
from .proto import external_invite_pb2 as invite_pb
from .sources import RandomBytes, os_random_bytes
from .wire import Dialect, Reading

#: The AppData ComponentId of EXTERNAL_COMMIT_POLICY.
COMPONENT_ID = 0x800C
U32_MAX = 2**32 - 1
MAX_REFRESH_POINTERS = 64
MAX_POLICY_BYTES = 64 * 1024


@dataclass(frozen=True)
class ExternalCommitPolicy:
    """ExternalCommitPolicyV1 as a value. The default is "never had an invite"."""

    allow_external_commit: bool = False
    expires_at_ns: int = 0
    expire_in_ns: int = 0
    symmetric_key: bytes | None = field(default=None, repr=False)
    external_group_id: bytes = b""
    max_uses: int = 0
    refresh_pointers: tuple[ServicePointer, ...] = ()

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise a :class:`~invitekit.errors.PolicyError` if a lifecycle invariant fails."""
        check_u64(self.expires_at_ns, "expires_at_ns")
        check_u64(self.expire_in_ns, "expire_in_ns")
        if not 0 <= self.max_uses <= U32_MAX:
            raise ValueOutOfRange("max_uses must be within 0..2**32-1")
        if len(self.refresh_pointers) > MAX_REFRESH_POINTERS:
            raise MalformedMessage(f"more than {MAX_REFRESH_POINTERS} refresh pointers")
        if self.allow_external_commit:
            if self.symmetric_key is None or not self.external_group_id:
                raise EnabledWithoutInvite(
                    "an enabled policy needs both symmetric_key and external_group_id"
                )
            validate_symmetric_key(self.symmetric_key)
            validate_external_group_id(self.external_group_id)
            return
        present = [
            name
            for name, is_set in (
                ("symmetric_key", self.symmetric_key is not None),
                ("external_group_id", bool(self.external_group_id)),
                ("expires_at_ns", bool(self.expires_at_ns)),
                ("refresh_pointers", bool(self.refresh_pointers)),
            )
            if is_set
        ]
        if present:
            raise DisabledWithInviteFields(
                "a disabled policy must not carry per-invite fields: " + ", ".join(present)
            )

    # --- derived values --------------------------------------------------------------

    def effective_expiry(self, epoch_start_ns: int) -> int:
        """The ``expires_at_ns`` a blob of an epoch that began at ``epoch_start_ns`` gets."""
        return effective_expiry(self.expires_at_ns, epoch_start_ns, self.expire_in_ns)

    def invite(self, service_pointer: ServicePointer | None = None) -> InvitePayload:
        """The invite payload matching this (enabled) policy."""
        active = active_invite(self, "mint an invite")
        return InvitePayload(active.external_group_id, active.symmetric_key, service_pointer)

    # --- encoding --------------------------------------------------------------------

    def to_entry_bytes(self, dialect: Dialect = Dialect.TYPED) -> bytes:
        """Serialize as ExternalCommitPolicyEntry{v1}; typed unless legacy is asked for."""
        if dialect is Dialect.LEGACY:
            if self.max_uses or self.refresh_pointers:
                raise MalformedMessage(
                    "the legacy dialect has no max_uses or refresh_pointers fields"
                )
            v1_legacy = legacy_pb.ExternalCommitPolicyV1(
                allow_external_commit=self.allow_external_commit,
                expires_at_ns=self.expires_at_ns,
                expire_in_ns=self.expire_in_ns,
                symmetric_key=self.symmetric_key or b"",
                external_group_id=self.external_group_id,
            )
            return legacy_pb.ExternalCommitPolicyEntry(v1=v1_legacy).SerializeToString()
        v1 = pb.ExternalCommitPolicyV1(
            allow_external_commit=self.allow_external_commit,
            expires_at_ns=self.expires_at_ns,
            expire_in_ns=self.expire_in_ns,
            external_group_id=self.external_group_id,
            max_uses=self.max_uses,
            refresh_pointers=[pointer_to_proto(p) for p in self.refresh_pointers],
        )
        if self.symmetric_key is not None:
            v1.symmetric_key.CopyFrom(invite_pb.SymmetricKey(material=self.symmetric_key))
        return pb.ExternalCommitPolicyEntry(v1=v1).SerializeToString()


@dataclass(frozen=True)
class ParsedPolicy:
    """A policy, the dialect it was read in, and whether its version was recognised.

    A policy without a symmetric key reads identically in both dialects; it is reported as
    ``TYPED``. ``recognized`` is False when the entry carried an unknown version, in which
    case the XIP's tolerance rule makes it the default (disabled) policy.
    """

    policy: ExternalCommitPolicy
    dialect: Dialect
    recognized: bool = True


def parse_policy_entry(data: bytes, *, reading: Reading = Reading.DUAL) -> ParsedPolicy:
    """Decode ExternalCommitPolicyEntry bytes in either dialect (``reading=TYPED_ONLY``:
    the typed one only) and validate the lifecycle."""
    if len(data) > MAX_POLICY_BYTES:
        raise MalformedMessage(f"policy entry larger than {MAX_POLICY_BYTES} bytes")
    raw = wire.decode(legacy_pb.ExternalCommitPolicyEntry, data, what="policy entry")
    if raw.WhichOneof("version") != "v1":
        # Unknown variant: the XIP's rule is "treat as default (all fields zero)".
        return ParsedPolicy(ExternalCommitPolicy(), Dialect.TYPED, recognized=False)
    if wire.key_field_dialect(raw.v1.symmetric_key, reading) is Dialect.LEGACY:
        if wire.has_unknown_fields(raw.v1):
            raise MalformedMessage("legacy policy carries fields the legacy layout lacks")
        legacy = raw.v1
        policy = ExternalCommitPolicy(
            allow_external_commit=legacy.allow_external_commit,
            expires_at_ns=legacy.expires_at_ns,
            expire_in_ns=legacy.expire_in_ns,
            symmetric_key=legacy.symmetric_key,
            external_group_id=legacy.external_group_id,
        )
        return ParsedPolicy(policy, Dialect.LEGACY)
    typed = wire.decode(pb.ExternalCommitPolicyEntry, data, what="policy entry").v1
    key: bytes | None = None
    if typed.HasField("symmetric_key"):
        key = typed.symmetric_key.material
        if not key:
            # An empty SymmetricKey submessage is a forbidden second "cleared" encoding.
            if not typed.allow_external_commit:
                raise DisabledWithInviteFields("a disabled policy carries an empty key submessage")
            raise MissingSymmetricKey("policy carries an empty symmetric key")
    if len(typed.refresh_pointers) > MAX_REFRESH_POINTERS:
        raise MalformedMessage(f"more than {MAX_REFRESH_POINTERS} refresh pointers")
    policy = ExternalCommitPolicy(
        allow_external_commit=typed.allow_external_commit,
        expires_at_ns=typed.expires_at_ns,
        expire_in_ns=typed.expire_in_ns,
        symmetric_key=key,
        external_group_id=typed.external_group_id,
        max_uses=typed.max_uses,
        refresh_pointers=tuple(pointer_from_proto(p) for p in typed.refresh_pointers),
    )
    return ParsedPolicy(policy, Dialect.TYPED)


def decode_policy_entry(data: bytes) -> ExternalCommitPolicy:
    """Decode a policy entry in either dialect and return just the policy."""
    return parse_policy_entry(data).policy


# --- lifecycle helpers ----------------------------------------------------------------


def enable(
    current: ExternalCommitPolicy | None = None,
    *,
    expires_at_ns: int = 0,
    expire_in_ns: int | None = None,
    max_uses: int | None = None,
    refresh_pointers: Iterable[ServicePointer] = (),
    external_group_id: bytes | None = None,
    id_length: int = DEFAULT_EXTERNAL_GROUP_ID,
    random_bytes: RandomBytes = os_random_bytes,
) -> ExternalCommitPolicy:
    """Open an invite: fresh key, fresh slot id unless one is given, durable settings kept.

    ``expire_in_ns``/``max_uses`` default to the current policy's durable values.
    """
    base = current or ExternalCommitPolicy()
    slot = external_group_id if external_group_id is not None else random_bytes(id_length)
    return ExternalCommitPolicy(
        allow_external_commit=True,
        expires_at_ns=expires_at_ns,
        expire_in_ns=base.expire_in_ns if expire_in_ns is None else expire_in_ns,
        symmetric_key=random_bytes(wire.KEY_LENGTH),
        external_group_id=slot,
        max_uses=base.max_uses if max_uses is None else max_uses,
        refresh_pointers=tuple(refresh_pointers),
    )


def rotate(
    policy: ExternalCommitPolicy,
    *,
    new_slot: bool = False,
    id_length: int = DEFAULT_EXTERNAL_GROUP_ID,
    random_bytes: RandomBytes = os_random_bytes,
) -> ExternalCommitPolicy:
    """Rotate the key only, or the key and the slot id (``new_slot``); the rest stays."""
    active_invite(policy, "rotate a disabled policy (enable it instead)")
    slot = random_bytes(id_length) if new_slot else policy.external_group_id
    return replace(policy, symmetric_key=random_bytes(wire.KEY_LENGTH), external_group_id=slot)


@dataclass(frozen=True, slots=True)
class ActiveInvite:
    """The live coordinates of an enabled policy: its slot id and its (present) key."""

    policy: ExternalCommitPolicy
    external_group_id: bytes
    symmetric_key: bytes = field(repr=False)


def active_invite(policy: ExternalCommitPolicy, doing: str = "use the invite") -> ActiveInvite:
    """The one "is this invite active?" guard: enabled, with a key; else PolicyNotEnabled.

    ``doing`` names the refused operation in the error message.
    """
    if not policy.allow_external_commit or policy.symmetric_key is None:
        raise PolicyNotEnabled(f"no active invite: cannot {doing}")
    return ActiveInvite(policy, policy.external_group_id, policy.symmetric_key)


def revoke(policy: ExternalCommitPolicy) -> ExternalCommitPolicy:
    """Turn external commits off, clearing every per-invite field; durable settings stay."""
    return ExternalCommitPolicy(expire_in_ns=policy.expire_in_ns, max_uses=policy.max_uses)


def count_uses(policy: ExternalCommitPolicy, membership_tags: Iterable[bytes | None]) -> int:
    """Live uses of the active invite: membership entries tagged with the active slot id.

    ``membership_tags`` holds each GROUP_MEMBERSHIP entry's ``admitted_via_external_group_id``
    (None for members added by Welcome).
    """
    if not policy.external_group_id:
        return 0
    return sum(1 for tag in membership_tags if tag == policy.external_group_id)


__all__ = [
    "COMPONENT_ID",
    "MAX_POLICY_BYTES",
    "MAX_REFRESH_POINTERS",
    "U32_MAX",
    "ActiveInvite",
    "ExternalCommitPolicy",
    "ParsedPolicy",
    "active_invite",
    "count_uses",
    "decode_policy_entry",
    "enable",
    "parse_policy_entry",
    "revoke",
    "rotate",
]

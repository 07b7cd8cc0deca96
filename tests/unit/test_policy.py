"""EXTERNAL_COMMIT_POLICY: bytes, lifecycle invariants, helpers and use counting."""

from __future__ import annotations

import itertools

import pytest

from invitekit import policy as pol
from invitekit.errors import (
    DisabledWithInviteFields,
    EnabledWithoutInvite,
    InvalidExternalGroupId,
    InvalidSymmetricKeyLength,
    MalformedMessage,
    MissingSymmetricKey,
    PolicyNotEnabled,
)
from invitekit.pointer import HttpsPointer, OpaquePointer
from invitekit.policy import ExternalCommitPolicy, parse_policy_entry
from invitekit.precommit import PrecommitCode, precommit_check
from invitekit.sources import RandomBytes
from invitekit.wire import Dialect
from tests.support.protowire import field_bytes, field_varint

KEY = bytes([7]) * 32
SLOT = b"slot-0001"


def counting_rng() -> RandomBytes:
    counter = itertools.count(1)

    def rng(n: int) -> bytes:
        return bytes([next(counter)]) * n

    return rng


def test_enabled_policy_bytes_match_hand_assembly() -> None:
    policy = ExternalCommitPolicy(
        allow_external_commit=True, expires_at_ns=5000, expire_in_ns=250, symmetric_key=KEY,
        external_group_id=SLOT, max_uses=3, refresh_pointers=(HttpsPointer("https://r.io"),),
    )
    v1 = (
        field_varint(1, 1) + field_varint(2, 5000) + field_varint(3, 250)
        + field_bytes(4, field_bytes(1, KEY)) + field_bytes(5, SLOT) + field_varint(6, 3)
        + field_bytes(7, field_bytes(1, b"https://r.io"))
    )
    assert policy.to_entry_bytes() == field_bytes(1, v1)
    assert parse_policy_entry(field_bytes(1, v1)).policy == policy


def test_legacy_policy_bytes_and_detection() -> None:
    policy = ExternalCommitPolicy(
        allow_external_commit=True, expires_at_ns=5000, expire_in_ns=250, symmetric_key=KEY,
        external_group_id=SLOT,
    )
    v1 = (
        field_varint(1, 1) + field_varint(2, 5000) + field_varint(3, 250) + field_bytes(4, KEY)
        + field_bytes(5, SLOT)
    )
    legacy = policy.to_entry_bytes(Dialect.LEGACY)
    assert legacy == field_bytes(1, v1)
    parsed = parse_policy_entry(legacy)
    assert parsed.dialect is Dialect.LEGACY
    assert parsed.policy == policy
    assert parse_policy_entry(policy.to_entry_bytes()).dialect is Dialect.TYPED


def test_legacy_cannot_carry_typed_only_fields() -> None:
    policy = pol.enable(max_uses=2, random_bytes=counting_rng())
    with pytest.raises(MalformedMessage):
        policy.to_entry_bytes(Dialect.LEGACY)
    # A raw 32-byte key (legacy) next to max_uses (typed only) is a mixed, invalid entry.
    mixed = field_bytes(1, field_varint(1, 1) + field_bytes(4, KEY) + field_bytes(5, SLOT)
                        + field_varint(6, 2))
    with pytest.raises(MalformedMessage):
        parse_policy_entry(mixed)


def test_enable_requires_key_and_slot() -> None:
    with pytest.raises(EnabledWithoutInvite):
        ExternalCommitPolicy(allow_external_commit=True, external_group_id=SLOT)
    with pytest.raises(EnabledWithoutInvite):
        ExternalCommitPolicy(allow_external_commit=True, symmetric_key=KEY)
    with pytest.raises(InvalidExternalGroupId):
        ExternalCommitPolicy(allow_external_commit=True, symmetric_key=KEY,
                             external_group_id=b"abc")
    with pytest.raises(InvalidSymmetricKeyLength):
        ExternalCommitPolicy(allow_external_commit=True, symmetric_key=bytes(31),
                             external_group_id=SLOT)
    wire = field_bytes(1, field_varint(1, 1) + field_bytes(5, SLOT))
    with pytest.raises(EnabledWithoutInvite):
        parse_policy_entry(wire)


@pytest.mark.parametrize(
    "fields",
    [
        {"symmetric_key": KEY},
        {"external_group_id": SLOT},
        {"expires_at_ns": 10},
        {"refresh_pointers": (OpaquePointer(b"x"),)},
    ],
    ids=["key", "slot", "campaign-end", "refresh-pointers"],
)
def test_disabled_policy_carries_no_invite_field(fields: dict[str, object]) -> None:
    with pytest.raises(DisabledWithInviteFields):
        ExternalCommitPolicy(**fields)  # type: ignore[arg-type]


def test_empty_key_submessage_is_forbidden_when_disabled() -> None:
    # allow=false, expire_in=9, and an empty SymmetricKey submessage (1a 00).
    wire = field_bytes(1, field_varint(3, 9) + field_bytes(4, b""))
    with pytest.raises(DisabledWithInviteFields):
        parse_policy_entry(wire)
    wire_enabled = field_bytes(1, field_varint(1, 1) + field_bytes(4, b"") + field_bytes(5, SLOT))
    with pytest.raises(MissingSymmetricKey):
        parse_policy_entry(wire_enabled)


def test_lifecycle_enable_rotate_revoke() -> None:
    rng = counting_rng()
    first = pol.enable(expire_in_ns=60, max_uses=2, expires_at_ns=99,
                       refresh_pointers=[HttpsPointer("https://r.io")], random_bytes=rng)
    assert first.allow_external_commit
    assert first.external_group_id == bytes([1]) * 16
    assert first.symmetric_key == bytes([2]) * 32

    key_only = pol.rotate(first, random_bytes=rng)
    assert key_only.external_group_id == first.external_group_id
    assert key_only.symmetric_key == bytes([3]) * 32
    assert (key_only.max_uses, key_only.expire_in_ns, key_only.expires_at_ns) == (2, 60, 99)

    both = pol.rotate(key_only, new_slot=True, random_bytes=rng)
    assert both.external_group_id == bytes([4]) * 16
    assert both.symmetric_key == bytes([5]) * 32

    revoked = pol.revoke(both)
    assert not revoked.allow_external_commit
    assert (revoked.expire_in_ns, revoked.max_uses) == (60, 2)
    assert revoked.symmetric_key is None
    assert revoked.refresh_pointers == ()
    # Byte-identical to a policy that never had an invite, with the same durable settings.
    never = ExternalCommitPolicy(expire_in_ns=60, max_uses=2)
    assert revoked.to_entry_bytes() == never.to_entry_bytes()
    assert revoked.to_entry_bytes() == field_bytes(1, field_varint(3, 60) + field_varint(6, 2))

    again = pol.enable(revoked, random_bytes=rng)
    assert again.symmetric_key == bytes([7]) * 32
    assert again.external_group_id == bytes([6]) * 16
    assert (again.expire_in_ns, again.max_uses, again.expires_at_ns) == (60, 2, 0)
    with pytest.raises(PolicyNotEnabled):
        pol.rotate(revoked)


def test_enable_uses_the_csprng_by_default() -> None:
    keys = {pol.enable().symmetric_key for _ in range(16)}
    assert len(keys) == 16


def test_enable_with_explicit_slot_keeps_it() -> None:
    policy = pol.enable(external_group_id=SLOT, random_bytes=counting_rng())
    assert policy.external_group_id == SLOT


def test_use_counting() -> None:
    policy = pol.enable(external_group_id=SLOT, max_uses=2, random_bytes=counting_rng())
    tags: list[bytes | None] = [None, b"other-slot", SLOT]
    assert pol.count_uses(policy, tags) == 1
    invite = policy.invite()
    assert precommit_check(policy, invite, 0, tags).ok
    full = precommit_check(policy, invite, 0, [*tags, SLOT])
    assert full.code is PrecommitCode.MAX_USES_EXHAUSTED
    assert full.uses == 2
    unlimited = pol.enable(external_group_id=SLOT, max_uses=0, random_bytes=counting_rng())
    assert precommit_check(unlimited, unlimited.invite(), 0, [SLOT] * 100).ok
    # A new slot id starts a fresh budget.
    moved = pol.rotate(policy, new_slot=True, random_bytes=counting_rng())
    assert pol.count_uses(moved, [SLOT, SLOT]) == 0


def test_unknown_policy_version_is_the_default_policy() -> None:
    parsed = parse_policy_entry(field_bytes(2, b"\x08\x01"))
    assert not parsed.recognized
    assert parsed.policy == ExternalCommitPolicy()


def test_effective_expiry_and_invite_from_policy() -> None:
    policy = pol.enable(expires_at_ns=5000, expire_in_ns=250, random_bytes=counting_rng())
    assert policy.effective_expiry(1000) == 1250
    assert policy.effective_expiry(4900) == 5000
    invite = policy.invite(HttpsPointer("https://b.io"))
    assert invite.symmetric_key == policy.symmetric_key
    with pytest.raises(PolicyNotEnabled):
        pol.revoke(policy).invite()


def test_key_not_in_repr() -> None:
    policy = pol.enable(random_bytes=counting_rng())
    assert policy.symmetric_key is not None
    assert policy.symmetric_key.hex() not in repr(policy)

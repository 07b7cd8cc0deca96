"""Issue 8 case 7: the dialect rule's one ambiguous corner, and the strict typed-only reader.

A typed ``SymmetricKey`` carrying 30 bytes of material encodes to a 32-byte submessage —
exactly a legacy raw key's length. The dual reader (the default) takes it for a legacy key
whose material is the submessage bytes; the typed-only reader never reinterprets it and
rejects the malformed typed key. The same corner exists for digests (a ``GroupStateHash``
of 30/46/62 bytes is a 32/48/64-byte field). Messages are built with the generated protobuf
code, independently of the readers under test.
"""

from __future__ import annotations

import os

import pytest

from invitekit.blob import EncryptedBlob, parse_blob
from invitekit.errors import (
    InvalidDigestLength,
    InvalidSymmetricKeyLength,
    InviteKitError,
    MalformedMessage,
)
from invitekit.payload import InvitePayload, parse_payload
from invitekit.policy import enable, parse_policy_entry
from invitekit.proto import external_commit_policy_pb2 as policy_pb
from invitekit.proto import external_invite_pb2 as pb
from invitekit.wire import Dialect

SLOT = os.urandom(16)


def typed_payload(material: bytes) -> bytes:
    v1 = pb.ExternalInvitePayloadV1(
        external_group_id=SLOT, symmetric_key=pb.SymmetricKey(material=material)
    )
    return pb.ExternalInvitePayload(v1=v1).SerializeToString()


def typed_blob(digest: bytes) -> bytes:
    v1 = pb.EncryptedGroupInfoBlobV1(
        nonce=os.urandom(12),
        ciphertext=os.urandom(40),
        epoch=3,
        group_state_hash=pb.GroupStateHash(digest=digest),
    )
    return pb.EncryptedGroupInfoBlob(v1=v1).SerializeToString()


def test_issue8_case7_dual_reader_reinterprets_a_30_byte_typed_key_as_legacy() -> None:
    material = os.urandom(30)
    data = typed_payload(material)
    submessage = pb.SymmetricKey(material=material).SerializeToString()
    assert len(submessage) == 32
    parsed = parse_payload(data)  # the documented ambiguous corner of the dual rule
    assert parsed.dialect is Dialect.LEGACY
    assert parsed.payload.symmetric_key == submessage


def test_issue8_case7_typed_only_reader_rejects_the_malformed_typed_key() -> None:
    from invitekit.wire import Reading

    data = typed_payload(os.urandom(30))
    with pytest.raises(InvalidSymmetricKeyLength):
        parse_payload(data, reading=Reading.TYPED_ONLY)


def test_typed_only_reads_valid_typed_messages_and_refuses_legacy_ones() -> None:
    from invitekit.wire import Reading

    payload = InvitePayload(SLOT, os.urandom(32))
    typed = parse_payload(payload.to_bytes(), reading=Reading.TYPED_ONLY)
    assert (typed.payload, typed.dialect) == (payload, Dialect.TYPED)
    with pytest.raises(InviteKitError):
        parse_payload(payload.to_bytes(Dialect.LEGACY), reading=Reading.TYPED_ONLY)


def test_typed_only_policy_and_blob() -> None:
    from invitekit.wire import Reading

    policy = enable()
    assert parse_policy_entry(policy.to_entry_bytes(), reading=Reading.TYPED_ONLY).policy == policy
    with pytest.raises(InviteKitError):
        parse_policy_entry(policy.to_entry_bytes(Dialect.LEGACY), reading=Reading.TYPED_ONLY)
    # A 30-byte material in a typed policy: dual reads a legacy key, typed-only refuses.
    v1 = policy_pb.ExternalCommitPolicyV1(
        allow_external_commit=True,
        external_group_id=SLOT,
        symmetric_key=pb.SymmetricKey(material=os.urandom(30)),
    )
    entry = policy_pb.ExternalCommitPolicyEntry(v1=v1).SerializeToString()
    assert parse_policy_entry(entry).dialect is Dialect.LEGACY
    with pytest.raises(InviteKitError):
        parse_policy_entry(entry, reading=Reading.TYPED_ONLY)
    # Digests: a 30-byte GroupStateHash is a 32-byte field.
    odd = typed_blob(os.urandom(30))
    assert parse_blob(odd).dialect is Dialect.LEGACY
    with pytest.raises((InvalidDigestLength, MalformedMessage)):
        parse_blob(odd, reading=Reading.TYPED_ONLY)
    good = EncryptedBlob(os.urandom(12), os.urandom(40), 3, os.urandom(32), 0)
    assert parse_blob(good.to_bytes(), reading=Reading.TYPED_ONLY).blob == good
    with pytest.raises(InviteKitError):
        parse_blob(good.to_bytes(Dialect.LEGACY), reading=Reading.TYPED_ONLY)

"""Layer C: every hand-built structure encoded twice by independent code, plus known answers."""

from __future__ import annotations

import json

import pytest

from invitekit.mls.errors import InvalidVarint, UnknownEnumValue
from invitekit.mls.framing import decode_public_message
from invitekit.mls.proposals import APP_DATA_OP_UPDATE, AppDataUpdate
from invitekit.mls.schema import Credential
from invitekit.mls.tls import decode_struct
from invitekit.proto import xmtp_group_membership_pb2 as membership_pb
from invitekit.xmtp_components import (
    GROUP_MEMBERSHIP,
    MUTATION_DELETE,
    MUTATION_INSERT,
    MUTATION_UPDATE,
    ComponentError,
    InboxIdWire,
    MalformedDelta,
    MalformedEntry,
    MalformedMembership,
    MembershipEntry,
    MembershipMap,
    apply_delta,
    credential_inbox_id,
    decode_delta,
    decode_entry,
    decode_membership,
    encode_delta,
    encode_membership,
    inbox_key,
    mls_credential_identity,
)
from tests.support import tls_walker
from tests.support.commits import SHAPED, tsmls
from tests.support.protowire import field_bytes, field_varint

AB = b"\xab" * 32
CD = b"\xcd" * 32


# --- known answers carried over as facts ------------------------------------------------


def test_inbox_id_of_32_times_ab() -> None:
    """libxmtp's InboxId test: 32 × 0xAB serializes to 33 bytes, 0x00 then the id."""
    assert inbox_key(AB).to_bytes() == b"\x00" + AB
    assert decode_struct(InboxIdWire, b"\x00" + AB).id == AB


def test_non_minimal_varint_40_00_is_refused() -> None:
    """``40 00`` is 0 in a 2-byte varint: non-minimal, refused as an InboxId version and as
    an RFC 9420 length."""
    with pytest.raises(UnknownEnumValue):
        decode_struct(InboxIdWire, b"\x40\x00" + AB)
    with pytest.raises(InvalidVarint):
        decode_struct(MembershipMap, b"\x40\x00")
    with pytest.raises(MalformedMembership, match="non-minimal"):
        decode_membership(b"\x40\x00")
    assert decode_membership(b"\x00") == {}


@pytest.mark.parametrize("version", [1, 0x3F])
def test_other_inbox_id_versions_are_refused(version: int) -> None:
    with pytest.raises(UnknownEnumValue):
        decode_struct(InboxIdWire, bytes([version]) + AB)


def test_unsorted_and_duplicate_maps_are_refused() -> None:
    def raw_map(*pairs: tuple[bytes, bytes]) -> bytes:
        body = b"".join(b"\x00" + k + bytes([len(v)]) + v for k, v in pairs)
        return bytes([0x40 | len(body) >> 8, len(body) & 0xFF]) + body

    assert decode_membership(raw_map((AB, b"x"), (CD, b"y"))) == {AB: b"x", CD: b"y"}
    with pytest.raises(MalformedMembership):
        decode_membership(raw_map((CD, b"y"), (AB, b"x")))
    with pytest.raises(MalformedMembership):
        decode_membership(raw_map((AB, b"x"), (AB, b"y")))
    with pytest.raises(MalformedMembership):
        decode_membership(raw_map((AB, b"x")) + b"\x00")


@pytest.mark.parametrize("tag", [3, 4, 0xFF])
def test_unknown_mutation_tags_are_refused(tag: int) -> None:
    body = bytes([tag]) + b"\x00" + AB
    with pytest.raises(MalformedDelta):
        decode_delta(bytes([len(body)]) + body)


def test_delta_application_rules() -> None:
    snapshot = {AB: b"a"}
    assert apply_delta(snapshot, decode_delta(encode_delta([(MUTATION_INSERT, CD, b"c")]))) == {
        AB: b"a",
        CD: b"c",
    }
    ordered = encode_delta([(MUTATION_DELETE, AB, None), (MUTATION_INSERT, AB, b"b")])
    assert apply_delta(snapshot, decode_delta(ordered)) == {AB: b"b"}
    for bad in (
        [(MUTATION_INSERT, AB, b"z")],
        [(MUTATION_UPDATE, CD, b"z")],
        [(MUTATION_DELETE, CD, None)],
    ):
        with pytest.raises(MalformedDelta):
            apply_delta(snapshot, decode_delta(encode_delta(bad)))
    assert snapshot == {AB: b"a"}  # never changed in place


# --- protobuf: generated code vs hand-assembled bytes -----------------------------------


def test_membership_entry_generated_vs_hand_assembled() -> None:
    entry = MembershipEntry(
        sequence_id=300, failed_installations=(b"\x01\x02",), admitted_via=b"slot"
    )
    v1 = field_varint(1, 300) + field_bytes(2, b"\x01\x02") + field_bytes(3, b"slot")
    hand = field_bytes(1, v1)
    assert entry.to_bytes() == hand
    assert decode_entry(hand) == entry
    # an entry without the tag has no field 3 at all
    assert MembershipEntry(sequence_id=1).to_bytes() == field_bytes(1, field_varint(1, 1))


def test_membership_entry_without_version_or_garbage_is_malformed() -> None:
    for data in (b"", field_bytes(2, b""), b"\x0a\x05\x08"):
        with pytest.raises(MalformedEntry):
            decode_entry(data)


def test_mls_credential_generated_vs_hand_assembled() -> None:
    hand = field_bytes(1, AB.hex().encode())
    assert mls_credential_identity(AB) == hand
    cred = Credential(credential_type=1, identity=hand)
    assert credential_inbox_id(cred) == AB
    upper = Credential(credential_type=1, identity=field_bytes(1, AB.hex().upper().encode()))
    assert credential_inbox_id(upper) == AB
    for identity in (field_bytes(1, b"ab" * 31), field_bytes(1, b"zz" * 32), AB, b""):
        with pytest.raises(ComponentError):
            credential_inbox_id(Credential(credential_type=1, identity=identity))
    with pytest.raises(ComponentError):
        credential_inbox_id(Credential(credential_type=2, certificates=()))


def test_generated_code_reads_what_the_hand_assembler_wrote_for_the_fixture_group() -> None:
    for key, value in tsmls().membership().items():
        message = membership_pb.GroupMembershipEntry.FromString(value)
        assert message.WhichOneof("version") == "v1"
        assert decode_entry(value).sequence_id == message.v1.sequence_id
        assert len(key) == 32


# --- TLS: invitekit's tables vs the separate walker -------------------------------------


def test_membership_map_tables_vs_walker() -> None:
    entries = {CD: b"second", AB: b"first"}
    data = encode_membership(entries)
    assert tls_walker.tls_map(data) == [(AB, b"first"), (CD, b"second")]
    hand = b"\x00" + AB + b"\x05first" + b"\x00" + CD + b"\x06second"
    assert data == bytes([len(hand) >> 8 | 0x40, len(hand) & 0xFF]) + hand


def test_membership_delta_tables_vs_walker() -> None:
    mutations = [
        (MUTATION_INSERT, AB, b"v"),
        (MUTATION_UPDATE, CD, b"w"),
        (MUTATION_DELETE, AB, None),
    ]
    data = encode_delta(mutations)
    assert tls_walker.tls_map_delta(data) == mutations
    hand = b"\x00\x00" + AB + b"\x01v" + b"\x01\x00" + CD + b"\x01w" + b"\x02\x00" + AB
    assert data == bytes([0x40 | len(hand) >> 8, len(hand) & 0xFF]) + hand
    assert [
        (m.type, m.key.id, m.value) for m in decode_delta(hand_prefixed(hand)).mutations
    ] == mutations


def hand_prefixed(body: bytes) -> bytes:
    return bytes([0x40 | len(body) >> 8, len(body) & 0xFF]) + body


def test_app_data_update_body_has_no_outer_length() -> None:
    update = b"\x01\x02\x03"
    body = AppDataUpdate(component_id=GROUP_MEMBERSHIP, op=APP_DATA_OP_UPDATE, update=update)
    assert body.to_bytes() == b"\x80\x03\x01\x03\x01\x02\x03"


def test_shaped_fixtures_read_the_same_with_both_readers() -> None:
    for name in json.loads((SHAPED / "shaped.json").read_text()):
        data = (SHAPED / f"{name}.bin").read_bytes()
        walked, has_path = tls_walker.commit_proposals(data)
        decoded = decode_public_message(data)
        commit = decoded.content.commit
        assert commit is not None
        assert has_path == (commit.path is not None)
        assert len(walked) == len(commit.proposals)
        for w, item in zip(walked, commit.proposals, strict=True):
            p = item.proposal
            assert p is not None
            assert w.proposal_type == p.proposal_type
            if p.key_package is not None:
                assert w.identity == p.key_package.leaf_node.credential.identity
            if p.app_data_update is not None:
                adu = p.app_data_update
                assert (w.component_id, w.op, w.update) == (adu.component_id, adu.op, adu.update)
                if adu.component_id == GROUP_MEMBERSHIP and adu.update is not None:
                    assert tls_walker.tls_map_delta(adu.update) == [
                        (m.type, m.key.id, m.value) for m in decode_delta(adu.update).mutations
                    ]


def test_ts_mls_custom_proposal_is_length_prefixed_and_refused() -> None:
    """ts-mls wraps a custom proposal body in an extra opaque<V>; read as AppDataUpdate the
    length byte becomes part of the component id and the op is out of range."""
    group = tsmls()
    data = group.file("member-custom")
    body = bytes.fromhex(group.sidecar["app_data_update_body_hex"])
    assert bytes([len(body)]) + body in data
    with pytest.raises(UnknownEnumValue):
        decode_public_message(data)

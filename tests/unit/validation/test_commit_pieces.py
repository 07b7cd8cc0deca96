"""The joiner's own piece of the XIP's atomic commit (``invitekit.commit_pieces``).

Known answers come from an encoder written here, apart from invitekit's TLS tables and
protobuf code: ``struct`` for the TLS integers, RFC 9420 varints and protobuf wire bytes by
hand. Then the piece goes onto the real ts-mls external commit, re-signed by the joiner's
real key, and invitekit's validator accepts it; the join machine hands it to the commit
callback and to ``ReadyToCommit``; the CLI prints it.
"""

from __future__ import annotations

import json
import struct

import pytest
from typer.testing import CliRunner

from invitekit.cli import app
from invitekit.commit_pieces import (
    Joiner,
    joiner_membership_update,
    membership_update_bytes,
)
from invitekit.commit_validation import Accepted
from invitekit.errors import InvalidExternalGroupId, ValueOutOfRange
from invitekit.join import JoinMachine, JoinMode, ReadyToCommit
from invitekit.mls.proposals import Proposal
from invitekit.mls.tls import decode_struct
from invitekit.needs import CandidatesFetched, Commit, Finished
from invitekit.payload import InvitePayload
from invitekit.pointer import HttpsPointer
from invitekit.selection import Candidate
from invitekit.xmtp_components import ComponentError
from tests.support.commits import (
    Group,
    add,
    by_value,
    external_init,
    real_external,
    resign,
    tsmls,
)
from tests.support.groupinfos import NOW, enabled_policy, rine, seal_gi

from .conftest import run

# --- a separately written encoder -------------------------------------------------------


def mls_varint(n: int) -> bytes:
    """RFC 9420 §2.1.2 variable-length integer (1, 2 or 4 bytes)."""
    if n < 0x40:
        return bytes([n])
    if n < 0x4000:
        return struct.pack(">H", 0x4000 | n)
    return struct.pack(">I", 0x8000_0000 | n)


def pb_varint(n: int) -> bytes:
    out = b""
    while n >= 0x80:
        out += bytes([n & 0x7F | 0x80])
        n >>= 7
    return out + bytes([n])


def expected(inbox: bytes, sequence_id: int, slot: bytes) -> bytes:
    v1 = b""
    if sequence_id:
        v1 += b"\x08" + pb_varint(sequence_id)  # field 1, varint
    v1 += b"\x1a" + pb_varint(len(slot)) + slot  # field 3, admitted_via_external_group_id
    entry = b"\x0a" + pb_varint(len(v1)) + v1  # GroupMembershipEntry.v1 = 1
    mutation = b"\x00" + b"\x00" + inbox + mls_varint(len(entry)) + entry  # insert, InboxId v0
    delta = mls_varint(len(mutation)) + mutation  # TlsMapDelta: one mutation
    return struct.pack(">HHB", 0x0008, 0x8003, 1) + mls_varint(len(delta)) + delta


INBOX = bytes.fromhex("ab" * 32)


@pytest.mark.parametrize(
    ("sequence_id", "slot"),
    [
        (5, b"slot"),  # the 4-byte floor
        (0, b"fixture-slot-01"),
        (300, bytes(16)),  # a two-byte protobuf varint
        (2**64 - 1, b"\xff" * 64),  # the largest sequence id, a long slot id
        (1, b"s" * 100),  # an entry over 63 bytes: two-byte MLS varints
    ],
)
def test_known_answers(sequence_id: int, slot: bytes) -> None:
    assert membership_update_bytes(INBOX, sequence_id, slot) == expected(INBOX, sequence_id, slot)


def test_known_answer_literal() -> None:
    """One answer written out byte by byte: 0x0008 ‖ 0x8003 ‖ op 1 ‖ opaque<46>."""
    assert membership_update_bytes(INBOX, 5, b"slot").hex() == (
        "0008" "8003" "01" "2e" "2d" "00" "00" + "ab" * 32 + "0a" "0a0808051a04736c6f74"
    )


def test_the_invite_names_the_tag() -> None:
    invite = InvitePayload(b"fixture-slot-01", bytes(32), HttpsPointer("https://s.example/v1"))
    assert joiner_membership_update(INBOX, 7, invite) == expected(INBOX, 7, b"fixture-slot-01")


def test_bad_input_is_refused() -> None:
    with pytest.raises(ComponentError):
        membership_update_bytes(INBOX[:31], 1, b"slot")
    with pytest.raises(ValueOutOfRange):
        membership_update_bytes(INBOX, 2**64, b"slot")
    with pytest.raises(ValueOutOfRange):
        Joiner(INBOX, -1)
    with pytest.raises(InvalidExternalGroupId):
        membership_update_bytes(INBOX, 1, b"slo")


# --- onto a real external commit ---------------------------------------------------------


def assemble(group: Group, piece: bytes, *adds: bytes) -> bytes:
    """The real ts-mls external commit's ExternalInit, the joiner's real KeyPackages as
    Adds, then the piece, re-signed by the joiner's real key."""
    proposal = decode_struct(Proposal, piece)
    message = real_external(group)
    proposals = (external_init(group), *(add(a) for a in adds), by_value(proposal))
    return resign(message, group.joiner_key, group.view.group_context_bytes, proposals)


def test_pieces_on_a_real_external_commit_are_accepted() -> None:
    group = tsmls()
    invite = InvitePayload(group.policy.external_group_id, bytes(32))
    piece = joiner_membership_update(group.joiner_inbox, 12, invite)
    assert piece == expected(group.joiner_inbox, 12, group.policy.external_group_id)
    verdict = run(assemble(group, piece), group.group_info)
    assert isinstance(verdict, Accepted)
    assert verdict.joiner_inbox_id == group.joiner_inbox
    multi = assemble(group, piece, group.file("kp-joiner-2"), group.file("kp-joiner-3"))
    verdict = run(multi, group.group_info)
    assert isinstance(verdict, Accepted)
    assert verdict.added_installations == 2


def test_pieces_for_a_stale_invite_are_rejected_by_check_10() -> None:
    """The tag is the invite's slot id: a piece built from an old invite is refused."""
    group = tsmls()
    old = InvitePayload(b"old-slot-id", bytes(32))
    piece = joiner_membership_update(group.joiner_inbox, 12, old)
    verdict = run(assemble(group, piece), group.group_info)
    assert not verdict.accepted
    assert (verdict.check.value, verdict.code.value) == ("10", "admitted-via-mismatch")  # type: ignore[union-attr]


# --- the join machine hands it on -----------------------------------------------------------

KEY = bytes(range(32))
SLOT = b"slot-for-pieces!"
PAYLOAD = InvitePayload(SLOT, KEY, HttpsPointer("https://scanned.example/v1"))


def candidates() -> CandidatesFetched:
    blob = seal_gi(rine("rine-classic-epochs-e3"), KEY)
    return CandidatesFetched((Candidate.of(blob.to_bytes()),), ("https://scanned.example/v1",))


@pytest.mark.parametrize("mode", [JoinMode.JOIN, JoinMode.CHECK])
def test_the_ready_state_carries_the_pieces(mode: JoinMode) -> None:
    policy = enabled_policy(KEY, SLOT)
    machine = JoinMachine(
        PAYLOAD, NOW, mode=mode, policy_provider=lambda _v: policy, joiner=Joiner(INBOX, 3)
    )
    step = machine.send(candidates())
    piece = expected(INBOX, 3, SLOT)
    if mode is JoinMode.JOIN:
        assert isinstance(step, Commit)
        assert step.membership_update == piece
        assert step.request.membership_update == piece  # what the commit callback gets
        assert step.request.group_info == step.survivor.group_info
        assert step.request.view is step.survivor.view
        assert step.request.epoch == step.survivor.epoch == 3
    else:
        assert isinstance(step, Finished)
        outcome = machine.outcome
        assert isinstance(outcome, ReadyToCommit)
        assert outcome.membership_update == piece
        assert outcome.to_json()["membership_update"] == piece.hex()


def test_without_a_joiner_there_is_no_piece() -> None:
    policy = enabled_policy(KEY, SLOT)
    machine = JoinMachine(PAYLOAD, NOW, policy_provider=lambda _v: policy)
    step = machine.send(candidates())
    assert isinstance(step, Commit)
    assert step.request.membership_update is None


# --- the CLI -----------------------------------------------------------------------------

runner = CliRunner()


def test_cli_prints_the_proposal() -> None:
    args = ["membership-update", "--inbox-id", INBOX.hex(), "--slot-id", b"slot".hex()]
    result = runner.invoke(app, [*args, "--sequence-id", "5"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == expected(INBOX, 5, b"slot").hex() + "\n"
    result = runner.invoke(app, [*args, "--sequence-id", "5", "--json"])
    assert json.loads(result.stdout) == {"proposal": expected(INBOX, 5, b"slot").hex()}


@pytest.mark.parametrize(
    ("inbox", "slot", "seq", "code"),
    [
        ("ab" * 31, "736c6f74", "1", "xmtp-component"),
        ("zz" * 32, "736c6f74", "1", "bad-input"),
        ("ab" * 32, "736c6f", "1", "invalid-external-group-id"),
        ("ab" * 32, "736c6f74", str(2**64), "value-out-of-range"),
        ("ab" * 32, "736c6f74", "-1", "value-out-of-range"),
    ],
)
def test_cli_bad_input(inbox: str, slot: str, seq: str, code: str) -> None:
    result = runner.invoke(
        app, ["membership-update", "--inbox-id", inbox, "--slot-id", slot, "--sequence-id", seq]
    )
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"error: {code}: ")

"""Layer A and the layer-B gate: real ts-mls and rine commits through the decoder and validator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from invitekit.commit_validation import Accepted, validate_member_commit
from invitekit.mls import parse_group_info
from invitekit.mls.framing import (
    SENDER_MEMBER,
    SENDER_NEW_MEMBER_COMMIT,
    decode_public_message,
    encode_public_message,
    verify_framing_signature,
)
from invitekit.mls.proposals import (
    PROPOSAL_EXTERNAL_INIT,
    PROPOSAL_REMOVE,
)
from tests.support.commits import RINE, SHAPED, TSMLS, add, real_external, resign, shaped, tsmls

from .conftest import accepted, rejected, run

TSMLS_GI = (TSMLS / "tsmls-small-group-info.bin").read_bytes()
RINE_GI = (RINE / "rine-group-info.bin").read_bytes()

REAL = [
    # (file, group info, expected (check, code) or "member-accepted")
    (TSMLS / "tsmls-small-external-plain.bin", TSMLS_GI, ("5", "app-data-update-missing")),
    (TSMLS / "tsmls-small-external-resync.bin", TSMLS_GI, ("4", "joiner-already-member")),
    (TSMLS / "tsmls-small-external-same-inbox.bin", TSMLS_GI, ("4", "joiner-already-member")),
    (TSMLS / "tsmls-small-member-commit.bin", TSMLS_GI, "member-accepted"),
    (TSMLS / "tsmls-small-member-custom.bin", TSMLS_GI, ("framing", "malformed-commit")),
    (RINE / "rine-external.bin", RINE_GI, ("3", "joiner-credential-invalid")),
    (RINE / "rine-external-resync.bin", RINE_GI, ("3", "joiner-credential-invalid")),
    (RINE / "rine-member-commit.bin", RINE_GI, "member-accepted"),
]


@pytest.mark.parametrize(("path", "gi", "expected"), REAL, ids=lambda v: getattr(v, "stem", ""))
def test_real_commit_verdicts(path: Path, gi: bytes, expected: object) -> None:
    verdict = run(path.read_bytes(), gi)
    if expected == "member-accepted":
        assert isinstance(verdict, Accepted)
        assert verdict.sender == "member"
    else:
        assert isinstance(expected, tuple)
        assert rejected(verdict, *expected), verdict


DECODABLE = [p for p, _, e in REAL if e != ("framing", "malformed-commit")]


@pytest.mark.parametrize("path", DECODABLE, ids=lambda p: p.stem)
def test_real_commits_round_trip_and_their_signatures_verify(path: Path) -> None:
    data = path.read_bytes()
    message = decode_public_message(data)
    assert encode_public_message(message) == data
    gi = parse_group_info(TSMLS_GI if path.parent == TSMLS else RINE_GI)
    content = message.content
    assert content.commit is not None
    assert content.epoch == gi.epoch
    assert content.group_id == gi.group_id
    if content.sender.sender_type == SENDER_NEW_MEMBER_COMMIT:
        assert content.commit.path is not None
        key = content.commit.path.leaf_node.signature_key
        assert message.membership_tag is None
    else:
        assert content.sender.sender_type == SENDER_MEMBER
        assert message.membership_tag is not None
        leaf = gi.tree.leaf(content.sender.leaf_index or 0) if gi.tree else None
        assert leaf is not None
        key = leaf.signature_key
    assert message.confirmation_tag is not None
    verify_framing_signature(message, gi.suite, key, gi.group_context_bytes)


def test_real_external_commit_shapes() -> None:
    plain = decode_public_message((TSMLS / "tsmls-small-external-plain.bin").read_bytes())
    assert plain.content.commit is not None
    kinds = [p.proposal.proposal_type for p in plain.content.commit.proposals if p.proposal]
    assert kinds == [PROPOSAL_EXTERNAL_INIT]
    resync = decode_public_message((TSMLS / "tsmls-small-external-resync.bin").read_bytes())
    assert resync.content.commit is not None
    kinds = [p.proposal.proposal_type for p in resync.content.commit.proposals if p.proposal]
    assert kinds == [PROPOSAL_REMOVE, PROPOSAL_EXTERNAL_INIT]
    rine = decode_public_message((RINE / "rine-external-resync.bin").read_bytes())
    assert rine.content.commit is not None
    kinds = [p.proposal.proposal_type for p in rine.content.commit.proposals if p.proposal]
    assert PROPOSAL_REMOVE in kinds
    assert PROPOSAL_EXTERNAL_INIT in kinds


def test_real_commit_with_tampered_signature_fails_framing() -> None:
    data = bytearray((TSMLS / "tsmls-small-external-plain.bin").read_bytes())
    message = decode_public_message(bytes(data))
    sig_at = bytes(data).rfind(message.signature)
    data[sig_at + 5] ^= 0x01
    assert rejected(run(bytes(data), TSMLS_GI), "framing", "framing-signature-invalid")


def test_member_commit_signature_is_checked_against_the_sender_leaf() -> None:
    data = (TSMLS / "tsmls-small-member-commit.bin").read_bytes()
    message = decode_public_message(data)
    forged = resign(message, tsmls().joiner_key, parse_group_info(TSMLS_GI).group_context_bytes)
    verdict = validate_member_commit(forged, parse_group_info(TSMLS_GI))
    assert rejected(verdict, "framing", "framing-signature-invalid")


# --- the layer-B gate -------------------------------------------------------------------


def test_signer_reproduces_the_untouched_real_commits_exactly() -> None:
    """Before anything layer B builds is trusted, re-signing the untouched real ts-mls
    commits (external and member) must give ts-mls' exact bytes (Ed25519 is deterministic)."""
    group = tsmls()
    context = group.view.group_context_bytes
    assert resign(real_external(group), group.joiner_key, context) == group.file("external-plain")
    member = decode_public_message(group.file("member-commit"))
    assert resign(member, group.signer, context) == group.file("member-commit")
    large = tsmls("tsmls-large")
    assert resign(
        real_external(large), large.joiner_key, large.view.group_context_bytes
    ) == large.file("external-plain")


def test_shaped_fixtures_are_what_the_assembler_builds_and_get_their_verdicts() -> None:
    meta = json.loads((SHAPED / "shaped.json").read_text())
    small = tsmls()
    rebuilt = {
        "shaped-multi-installation": shaped(
            small, extra=(add(small.file("kp-joiner-2")), add(small.file("kp-joiner-3")))
        ),
        "shaped-large": shaped(tsmls("tsmls-large")),
    }
    for name, data in rebuilt.items():
        assert (SHAPED / f"{name}.bin").read_bytes() == data
    for name, info in meta.items():
        gi = (SHAPED.parent / info["group_info"]).read_bytes()
        verdict = run((SHAPED / f"{name}.bin").read_bytes(), gi)
        if info["expected"] == "accepted":
            assert accepted(verdict), (name, verdict)
        else:
            _, check, code = info["expected"].split()
            assert rejected(verdict, check, code), (name, verdict)


def test_a_group_state_reused_across_commits_gives_the_same_verdicts() -> None:
    from invitekit.commit_validation import GroupState, validate_commit

    view = parse_group_info(TSMLS_GI)
    prepared = GroupState(view)
    commits = [p.read_bytes() for p, _, _ in REAL if p.parent == TSMLS]
    commits += [
        p.read_bytes() for p in sorted(SHAPED.glob("shaped-*.bin")) if "large" not in p.name
    ]
    for commit in commits * 2:
        fresh = validate_commit(commit, view, envelope_ns=10**18, epoch_start_ns=10**18)
        reused = validate_commit(commit, prepared, envelope_ns=10**18, epoch_start_ns=10**18)
        assert fresh == reused

"""The sans-IO join core: triage, validate-and-select, fall-through, pre-commit, outcomes.

(The join machine's transitions are tested in test_join_machine.py.)"""

from __future__ import annotations

import os

import pytest

from invitekit.blob import seal
from invitekit.groupinfo_policy import PolicySource, read_policy
from invitekit.join import (
    AllExpired,
    AllUndecryptable,
    JoinOutcome,
    NoCandidates,
    NoValidCandidate,
    RejectedAfterForks,
    no_survivor_outcome,
)
from invitekit.mls import VerifyLevel, parse_group_info
from invitekit.payload import InvitePayload
from invitekit.precommit import PrecommitCode, precommit_check, stale_qr
from invitekit.selection import Candidate, Discard, Selection, merge_candidates, triage
from tests.support.groupinfos import (
    NOW,
    enabled_policy,
    fixture_key,
    fixture_slot,
    payload_for,
    policy_gi,
    rine,
    seal_gi,
)

KEY = os.urandom(32)
SLOT = os.urandom(16)
PAYLOAD = InvitePayload(SLOT, KEY)
EPOCHS = [f"rine-classic-epochs-e{n}" for n in (1, 2, 3, 4, 5, 6)]


def cands(*blobs: bytes, source: str = "svc") -> list[Candidate]:
    return [Candidate.of(b, source) for b in blobs]


def exhausted(sel: Selection, fetch_errors: tuple[str, ...] = ()) -> JoinOutcome:
    return no_survivor_outcome(sel.seen, sel.discarded, sel.attempts, fetch_errors)


def select(
    candidates: list[Candidate], payload: InvitePayload = PAYLOAD, now: int = NOW
) -> Selection:
    return Selection(payload, triage(candidates, payload, now), now)


def test_selects_highest_epoch_then_falls_through_in_order() -> None:
    blobs = [seal_gi(rine(name), KEY).to_bytes() for name in EPOCHS]
    sel = select(cands(*reversed(blobs)))
    seen = []
    while (s := sel.next()) is not None:
        seen.append(s.epoch)
        sel.reject(s)
    assert seen == [6, 5, 4, 3, 2, 1]
    outcome = exhausted(sel)
    assert isinstance(outcome, RejectedAfterForks)
    assert outcome.attempts == 6


def test_equal_epoch_forks_are_ordered_by_digest() -> None:
    fork_a = seal_gi(rine("rine-classic-epochs-e5"), KEY).to_bytes()
    fork_b = seal_gi(rine("rine-classic-epochs-e5-joiner"), KEY).to_bytes()
    digests = sorted(
        parse_group_info(rine(n)).digest
        for n in ("rine-classic-epochs-e5", "rine-classic-epochs-e5-joiner")
    )
    for order in ([fork_a, fork_b], [fork_b, fork_a]):
        sel = select(cands(*order))
        first = sel.next()
        assert first is not None
        sel.reject(first)
        second = sel.next()
        assert second is not None
        assert [first.digest, second.digest] == digests


def test_rejected_state_is_not_offered_again_under_a_fresh_nonce() -> None:
    gi = rine("rine-classic-epochs-e3")
    copies = [seal_gi(gi, KEY).to_bytes() for _ in range(4)]
    lower = seal_gi(rine("rine-classic-epochs-e2"), KEY).to_bytes()
    sel = select(cands(*copies, lower))
    top = sel.next()
    assert top is not None
    assert top.epoch == 3
    sel.reject(top)
    nxt = sel.next()
    assert nxt is not None
    assert nxt.epoch == 2
    assert sum(d.reason is Discard.DUPLICATE_STATE for d in sel.discarded) == 3


def test_non_key_holder_junk_and_keyless_tamper_are_discarded() -> None:
    genuine = seal_gi(rine("rine-classic-epochs-e2"), KEY)
    junk = seal_gi(rine("rine-classic-epochs-e6"), os.urandom(32))  # other key, higher epoch
    tampered = type(genuine)(
        genuine.nonce,
        genuine.ciphertext,
        genuine.epoch,
        genuine.group_state_hash,
        expires_at_ns=NOW * 2,
    )
    sel = select(cands(junk.to_bytes(), tampered.to_bytes(), b"\x00garbage", genuine.to_bytes()))
    chosen = sel.next()
    assert chosen is not None
    assert chosen.epoch == 2
    reasons = sorted(d.reason for d in sel.discarded)
    assert reasons == sorted(
        [Discard.DECRYPTION_FAILED, Discard.DECRYPTION_FAILED, Discard.MALFORMED]
    )


def test_key_holder_forged_metadata_is_discarded() -> None:
    gi = rine("rine-classic-epochs-e2")
    forged_epoch = seal_gi(gi, KEY, epoch=99)
    forged_digest = seal_gi(gi, KEY, digest=b"\x11" * 32)
    sel = select(cands(forged_epoch.to_bytes(), forged_digest.to_bytes()))
    assert sel.next() is None
    assert [d.reason for d in sel.discarded] == [Discard.METADATA_MISMATCH] * 2
    assert isinstance(exhausted(sel), NoValidCandidate)


def test_no_survivor_outcomes() -> None:
    gi = rine("rine-classic-epochs-e1")
    assert isinstance(exhausted(select([]), ("service-unreachable",)), NoCandidates)
    expired = [seal_gi(gi, KEY, expires_at_ns=NOW - 1).to_bytes() for _ in range(3)]
    out = exhausted(select(cands(*expired)))
    assert isinstance(out, AllExpired)
    assert out.count == 3
    other = [seal_gi(gi, os.urandom(32)).to_bytes() for _ in range(2)]
    out2 = exhausted(select(cands(*other)))
    assert isinstance(out2, AllUndecryptable)
    assert out2.count == 2
    assert out2.to_json()["outcome"] == "all-failed-aead"


def test_expiry_boundary_is_now_ge_expires() -> None:
    gi = rine("rine-classic-epochs-e1")
    assert select(cands(seal_gi(gi, KEY, expires_at_ns=NOW).to_bytes())).next() is None
    assert select(cands(seal_gi(gi, KEY, expires_at_ns=NOW + 1).to_bytes())).next() is not None


def test_caps_bound_the_work() -> None:
    gi = rine("rine-classic-epochs-e1")
    blobs = [seal_gi(gi, KEY).to_bytes() for _ in range(5)]
    tri = triage(cands(*blobs), PAYLOAD, NOW, max_candidates=2)
    assert len(tri.ordered) == 2
    assert [d.reason for d in tri.discarded] == [Discard.OVER_CAP] * 3
    big = triage(cands(*blobs), PAYLOAD, NOW, max_blob_bytes=100)
    assert {d.reason for d in big.discarded} == {Discard.TOO_LARGE}
    assert not big.ordered


def test_merge_dedupes_by_content_hash_and_keeps_sources() -> None:
    blob = seal_gi(rine("rine-classic-epochs-e1"), KEY).to_bytes()
    other = seal_gi(rine("rine-classic-epochs-e1"), KEY).to_bytes()
    merged = merge_candidates([cands(blob, source="a"), cands(blob, other, source="b")])
    assert len(merged) == 2
    assert merged[0].sources == ("a", "b")
    assert merged[1].sources == ("b",)


def test_verification_levels_reach_the_signature() -> None:
    gi = bytearray(rine("rine-classic-epochs-e2"))
    gi[-5] ^= 0x01  # inside the GroupInfo signature
    blob = seal(bytes(gi), KEY, epoch=2, group_state_hash=parse_group_info(bytes(gi)).digest)
    strict = Selection(PAYLOAD, triage(cands(blob.to_bytes()), PAYLOAD, NOW), NOW)
    assert strict.next() is None
    assert strict.discarded[0].reason is Discard.GROUP_INFO_INVALID
    parse_only = Selection(
        PAYLOAD, triage(cands(blob.to_bytes()), PAYLOAD, NOW), NOW, level=VerifyLevel.PARSE
    )
    assert parse_only.next() is not None


# --- pre-commit (policy carried in real GroupInfos' app_data_dictionary) ---------------


def fixture_payload(*, key: bytes | None = None, slot: bytes | None = None) -> InvitePayload:
    return InvitePayload(slot or fixture_slot(), key or fixture_key())


def survivor_for(variant: str, payload: InvitePayload):  # type: ignore[no-untyped-def]
    blob = seal_gi(policy_gi(variant), payload.symmetric_key).to_bytes()
    sel = Selection(payload, triage(cands(blob), payload, NOW), NOW)
    survivor = sel.next()
    assert survivor is not None
    return survivor


@pytest.mark.parametrize(
    ("variant", "verdict"),
    [
        ("enabled", None),
        ("revoked", PrecommitCode.SWITCH_OFF),
        ("campaign-over", PrecommitCode.POLICY_EXPIRED),
        ("rotated-key", PrecommitCode.STALE_QR),
        ("rotated-slot", PrecommitCode.STALE_QR),
    ],
)
def test_precommit_from_group_info_policy(variant: str, verdict: PrecommitCode | None) -> None:
    payload = fixture_payload()
    survivor = survivor_for(variant, payload)
    read = read_policy(survivor.view)
    assert read.source is PolicySource.GROUP_INFO
    assert read.policy is not None
    got = precommit_check(read.policy, payload, NOW)
    assert got.code is verdict
    assert got.ok is (verdict is None)


def test_stale_qr_reports_which_coordinate_moved() -> None:
    payload = fixture_payload()
    key_only = read_policy(survivor_for("rotated-key", payload).view).policy
    both = read_policy(survivor_for("rotated-slot", payload).view).policy
    assert key_only is not None
    assert both is not None
    assert stale_qr(key_only, payload).group_id_matches
    assert not stale_qr(key_only, payload).key_matches
    assert not stale_qr(both, payload).group_id_matches


def test_max_uses_counts_tagged_members_like_validators() -> None:
    payload = fixture_payload()
    policy = read_policy(survivor_for("max-uses-2", payload).view).policy
    assert policy is not None
    assert policy.max_uses == 2
    slot = payload.external_group_id
    assert precommit_check(policy, payload, NOW, [slot, None, b"other-slot"]).ok
    tags = [slot, None, slot]
    out = precommit_check(policy, payload, NOW, tags)
    assert out.code is PrecommitCode.MAX_USES_EXHAUSTED
    assert (out.uses, policy.max_uses) == (2, 2)


def test_policy_provider_is_used_only_without_app_data() -> None:
    policy = enabled_policy(KEY, SLOT)
    with_app_data = parse_group_info(policy_gi("revoked"))
    read = read_policy(with_app_data, lambda view: policy)
    assert read.source is PolicySource.GROUP_INFO
    assert not read.policy.allow_external_commit
    plain = parse_group_info(rine("rine-classic-epochs-e1"))
    assert read_policy(plain, lambda view: policy).source is PolicySource.PROVIDER
    assert read_policy(plain).source is PolicySource.NONE
    assert precommit_check(policy, payload_for(policy), NOW).ok

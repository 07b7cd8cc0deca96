"""The join reads every envelope through one layer, and decrypts each candidate once."""

from __future__ import annotations

import os

import pytest

from invitekit.envelope import (
    Envelope,
    EnvelopeKey,
    SealedBlob,
    envelope_of,
    open_envelope,
    parse_envelope,
    seal_envelope,
)
from invitekit.join import JoinMachine
from invitekit.mls import parse_group_info
from invitekit.needs import (
    CandidatesFetched,
    Commit,
    CommitAccepted,
    ResolveTargets,
    TargetsResolved,
    Upload,
)
from invitekit.payload import InvitePayload
from invitekit.pointer import HttpsPointer
from invitekit.protocol import SlotKind
from invitekit.refresh import RefreshMachine, RefreshRole
from invitekit.sealing import open_and_verify, seal_group_info
from invitekit.selection import Candidate, Discard, Selection, triage
from tests.support.groupinfos import NOW, enabled_policy, rine

KEY = os.urandom(32)
SLOT = os.urandom(16)
PAYLOAD = InvitePayload(SLOT, KEY)


def sealed(name: str, envelope: Envelope, key: bytes = KEY, expires_at_ns: int = 0) -> bytes:
    gi = rine(name)
    view = parse_group_info(gi)
    blob: SealedBlob = seal_envelope(
        gi, key, envelope=envelope, epoch=view.epoch, group_state_hash=view.digest,
        expires_at_ns=expires_at_ns,
    )
    return blob.to_bytes()


@pytest.mark.parametrize("envelope", list(Envelope))
def test_seal_group_info_in_each_envelope_opens_and_verifies(envelope: Envelope) -> None:
    policy = enabled_policy(KEY, SLOT)
    blob = seal_group_info(rine("rine-classic-epochs-e3"), policy, NOW, envelope=envelope)
    opened = open_and_verify(blob.to_bytes(), PAYLOAD, NOW)
    assert opened.view.epoch == 3
    assert opened.digest_verified
    assert opened.group_info_bytes == rine("rine-classic-epochs-e3")


def test_selection_orders_across_envelopes_and_falls_through() -> None:
    blobs = [
        sealed("rine-classic-epochs-e1", Envelope.V1),
        sealed("rine-classic-epochs-e2", Envelope.HPKE_X25519),
        sealed("rine-classic-epochs-e3", Envelope.HPKE_MLKEM768_X25519),
        sealed("rine-classic-epochs-e4", Envelope.HPKE_X25519, key=os.urandom(32)),
    ]
    sel = Selection(PAYLOAD, triage([Candidate.of(b, "s") for b in blobs], PAYLOAD, NOW), NOW)
    order = []
    while (survivor := sel.next()) is not None:
        order.append(survivor.epoch)
        sel.reject(survivor)
    assert order == [3, 2, 1]
    assert sel.discarded[0].reason is Discard.DECRYPTION_FAILED


def test_expired_hpke_blob_is_discarded_as_expired() -> None:
    blob = sealed("rine-classic-epochs-e2", Envelope.HPKE_MLKEM768_X25519, expires_at_ns=NOW)
    tri = triage([Candidate.of(blob)], PAYLOAD, NOW)
    assert tri.ordered == ()
    assert [d.reason for d in tri.discarded] == [Discard.EXPIRED]


def test_each_candidate_is_decrypted_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """A spy on the one decryption dispatch: triage decrypts, selection only verifies."""
    calls: list[Envelope] = []
    real = EnvelopeKey.decrypt

    def counting(self: EnvelopeKey, blob: SealedBlob) -> bytes:
        calls.append(envelope_of(blob))
        return real(self, blob)

    monkeypatch.setattr(EnvelopeKey, "decrypt", counting)
    blobs = [
        sealed(f"rine-classic-epochs-e{n}", envelope)
        for n, envelope in zip((1, 2, 3, 4, 5, 6), list(Envelope) * 2, strict=True)
    ]
    sel = Selection(PAYLOAD, triage([Candidate.of(b) for b in blobs], PAYLOAD, NOW), NOW)
    seen = []
    while (survivor := sel.next()) is not None:
        seen.append(survivor.epoch)
        sel.reject(survivor)
    assert seen == [6, 5, 4, 3, 2, 1]
    assert len(calls) == len(blobs)
    assert sorted(calls) == sorted(list(Envelope) * 2)


# --- writers: the refresh roles and the joiner's step 10 seal in the group's envelope ------

A = "https://a.example/v1"


@pytest.mark.parametrize("envelope", list(Envelope))
def test_refresh_machine_seals_the_members_blob_in_the_chosen_envelope(
    envelope: Envelope,
) -> None:
    policy = enabled_policy(KEY, SLOT)
    m = RefreshMachine(
        RefreshRole.COMMITTER, rine("rine-classic-epochs-e4"), policy, NOW, NOW,
        first_services=(A,), kinds=(SlotKind.OPEN,), envelope=envelope,
    )
    upload = m.need
    if isinstance(upload, ResolveTargets):
        upload = m.send(TargetsResolved(()))
    assert isinstance(upload, Upload)
    parsed = parse_envelope(upload.body)
    assert parsed.envelope is envelope
    assert open_envelope(upload.body, KEY, NOW) == rine("rine-classic-epochs-e4")


def test_refresh_defaults_to_v1() -> None:
    m = RefreshMachine(
        RefreshRole.COMMITTER, rine("rine-classic-epochs-e4"), enabled_policy(KEY, SLOT), NOW,
        NOW, first_services=(A,), kinds=(SlotKind.OPEN,),
    )
    need = m.need
    assert isinstance(need, Upload)
    assert parse_envelope(need.body).envelope is Envelope.V1


@pytest.mark.parametrize("envelope", list(Envelope))
def test_joiner_refreshes_in_the_envelope_it_joined_from(envelope: Envelope) -> None:
    policy = enabled_policy(KEY, SLOT)
    payload = InvitePayload(SLOT, KEY, HttpsPointer(A))
    m = JoinMachine(payload, NOW, policy_provider=lambda _view: policy)
    commit = m.send(CandidatesFetched(
        (Candidate.of(sealed("rine-classic-epochs-e3", envelope)),), (A,), (), fetches=1))
    assert isinstance(commit, Commit)
    new_state = rine("rine-classic-epochs-e4")
    upload = m.send(CommitAccepted(new_state, NOW + 7, policy))
    assert isinstance(upload, Upload)
    assert parse_envelope(upload.body).envelope is envelope
    assert open_envelope(upload.body, KEY, NOW) == new_state

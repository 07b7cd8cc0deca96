"""Issue 8's admission and read rules as pure functions (``invitekit_service/admission.py``),
the ones every storage backend applies: whole-blob identity, no epoch-jump gate, and the
read window cut by arrival. Blobs are real ChaCha20-Poly1305 seals."""

from __future__ import annotations

import hashlib
import os
import time

from invitekit_service.admission import (
    AdmissionPolicy,
    EntryMeta,
    Head,
    Outcome,
    SlotKind,
    SlotState,
    Upload,
    arrival_ranks,
    decide,
    read_window,
)

from invitekit.blob import EncryptedBlob, parse_blob
from tests.integration.service.support import U64_MAX, Invite

NOW = time.time_ns()
POLICY = AdmissionPolicy(retention=8)


def upload(body: bytes) -> Upload:
    return Upload.from_blob(
        body, parse_blob(body).blob, sha256=hashlib.sha256(body).digest(),
        signature=None, received_ns=NOW,
    )


def entry(seq: int, up: Upload) -> EntryMeta:
    return EntryMeta(
        seq, up.sha256, up.fields_key, up.epoch, up.group_state_hash, up.expires_at_ns,
        up.nonce, up.signature, up.received_ns, len(up.body),
    )


def test_lane_same_pair_other_bytes_is_stored_never_idempotent() -> None:
    inv = Invite()
    genuine = upload(inv.blob(5))
    copy = upload(inv.blob(5))  # same (epoch, digest), fresh nonce
    state = SlotState(True, Head(5, genuine.group_state_hash), (entry(1, genuine),))
    stored = decide(SlotKind.LANE, state, copy, POLICY, NOW)
    assert (stored.outcome, stored.store, stored.head) == (
        Outcome.CREATED, True, state.head
    )
    same = decide(SlotKind.LANE, state, genuine, POLICY, NOW)
    assert (same.outcome, same.store, same.existing) == (
        Outcome.IDEMPOTENT, False, state.entries[0]
    )


def test_no_gate_on_either_kind() -> None:
    inv = Invite()
    squat = tuple(
        entry(i, upload(EncryptedBlob(os.urandom(12), os.urandom(40), 0, os.urandom(32))
                        .to_bytes()))
        for i in range(1, 9)
    )
    genuine = upload(inv.blob(5000))
    assert decide(SlotKind.OPEN, SlotState(True, None, squat), genuine, POLICY, NOW).outcome \
        is Outcome.CREATED
    head = Head(5, hashlib.sha256(b"5").digest())
    far = upload(inv.blob(5 + (1 << 40)))
    assert decide(SlotKind.LANE, SlotState(True, head, ()), far, POLICY, NOW).outcome \
        is Outcome.CREATED


def test_read_window_keeps_the_newest_arrivals_then_orders() -> None:
    inv = Invite()
    genuine = entry(17, upload(inv.blob(2)))
    forged = [
        entry(i, upload(EncryptedBlob(os.urandom(12), os.urandom(40), U64_MAX, os.urandom(32))
                        .to_bytes()))
        for i in range(1, 17)
    ]
    metas = [*forged, genuine]
    assert read_window(metas, 1, lambda m: m) == [genuine]
    window = read_window(metas, 4, lambda m: m)
    assert genuine in window
    assert window[-1] == genuine  # lowest epoch last: candidate order inside the window
    assert {m.seq for m in window} == {14, 15, 16, 17}
    assert arrival_ranks(window)[17] == 0

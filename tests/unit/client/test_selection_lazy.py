"""Sans-IO: candidates listed by metadata are selected in the same order as bodies in hand,
fetched one at a time when their turn comes, and checked against what the listing claimed."""

from __future__ import annotations

import hashlib
import os

import pytest

from invitekit.errors import FlowStateError
from invitekit.protocol import SlotKind
from invitekit.selection import (
    BodySource,
    BodyWanted,
    Candidate,
    Discard,
    Listed,
    Selection,
    triage,
    triage_listed,
)
from tests.support.groupinfos import NOW, rine, seal_gi

from .test_join_core import KEY, PAYLOAD

EPOCHS = [f"rine-classic-epochs-e{n}" for n in (1, 2, 3, 4, 5, 6)]
WHERE = (BodySource("https://a.example/v1", b"slot", SlotKind.OPEN),)


def listed(body: bytes, **claims: object) -> Listed:
    from invitekit.blob import parse_blob

    blob = parse_blob(body).blob
    fields: dict[str, object] = {
        "sha256": hashlib.sha256(body).digest(),
        "size": len(body),
        "epoch": blob.epoch,
        "group_state_hash": blob.group_state_hash,
        "expires_at_ns": blob.expires_at_ns,
        "locations": WHERE,
    }
    fields.update(claims)
    return Listed(**fields)  # type: ignore[arg-type]


def lazy(items: list[Listed], in_hand: list[Candidate] = ()) -> Selection:  # type: ignore[assignment]
    pending, dropped = triage_listed(items, NOW, known=frozenset(c.content_hash for c in in_hand))
    return Selection(
        PAYLOAD, triage(in_hand, PAYLOAD, NOW), NOW, listed=pending, listed_discarded=dropped
    )


def drive(sel: Selection, bodies: dict[bytes, bytes | None]) -> list[int]:
    """Step the selection, supplying bodies; reject each survivor; the epochs tried."""
    tried: list[int] = []
    while (step := sel.step()) is not None:
        if isinstance(step, BodyWanted):
            sel.supply(step, bodies[step.listed.sha256], "service-unreachable")
            continue
        tried.append(step.epoch)
        sel.reject(step)
    return tried


def test_lazy_order_equals_eager_order_and_bodies_are_asked_one_at_a_time() -> None:
    blobs = [seal_gi(rine(name), KEY).to_bytes() for name in EPOCHS]
    sel = lazy([listed(b) for b in reversed(blobs)])
    first = sel.step()
    assert isinstance(first, BodyWanted)
    assert first.listed.epoch == 6
    assert sel.step() is first  # the same request until it is answered
    with pytest.raises(FlowStateError):
        sel.next()
    sel.supply(first, blobs[-1])
    top = sel.step()
    assert not isinstance(top, BodyWanted)
    assert top is not None
    assert top.epoch == 6
    sel.reject(top)
    by_sha = {hashlib.sha256(b).digest(): b for b in blobs}
    assert drive(sel, dict(by_sha)) == [5, 4, 3, 2, 1]
    assert sel.fetched_bytes == sum(len(b) for b in blobs)


def test_mixed_inline_and_listed_candidates_share_one_order() -> None:
    blobs = [seal_gi(rine(name), KEY).to_bytes() for name in EPOCHS]
    in_hand = [Candidate.of(b) for b in blobs[::2]]  # epochs 1, 3, 5 inline
    sel = lazy([listed(b) for b in blobs], in_hand)  # every one listed as well
    by_sha = {hashlib.sha256(b).digest(): b for b in blobs}
    assert drive(sel, dict(by_sha)) == [6, 5, 4, 3, 2, 1]
    assert sel.fetched_bytes == sum(len(b) for b in blobs[1::2])  # only 2, 4, 6 fetched


def test_a_listing_that_lies_or_loses_a_body_is_fallen_through() -> None:
    blobs = [seal_gi(rine(name), KEY).to_bytes() for name in EPOCHS[:4]]
    e1, e2, e3, e4 = blobs
    lie_epoch = listed(e2, epoch=9)  # claims a higher place in the order than its bytes
    lie_address = listed(e3, sha256=hashlib.sha256(b"other").digest())
    gone = listed(e4)
    sel = lazy([lie_epoch, lie_address, gone, listed(e1)])
    bodies: dict[bytes, bytes | None] = {
        lie_epoch.sha256: e2, lie_address.sha256: e3, gone.sha256: None,
        hashlib.sha256(e1).digest(): e1,
    }
    assert drive(sel, bodies) == [1]
    reasons = [(d.reason, d.code) for d in sel.discarded if d.reason is not Discard.COMMIT_REJECTED]
    assert reasons == [
        (Discard.METADATA_MISMATCH, "listing-mismatch"),
        (Discard.BODY_UNAVAILABLE, "service-unreachable"),
        (Discard.METADATA_MISMATCH, "listing-mismatch"),
    ]


def test_metadata_checks_run_before_any_fetch() -> None:
    body = seal_gi(rine(EPOCHS[0]), KEY).to_bytes()
    expired = listed(body, expires_at_ns=NOW - 1, sha256=os.urandom(32))
    huge = listed(body, size=10 << 20, sha256=os.urandom(32))
    extra = [listed(body, sha256=os.urandom(32)) for _ in range(3)]
    pending, dropped = triage_listed([expired, huge, *extra], NOW, room=4)
    assert [d.reason for d in dropped] == [Discard.EXPIRED, Discard.TOO_LARGE, Discard.OVER_CAP]
    assert len(pending) == 2

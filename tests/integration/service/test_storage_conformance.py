"""The storage interface, directly: every backend must pass these unchanged."""

from __future__ import annotations

import asyncio
import hashlib
import time

import pytest
from invitekit_service.admission import (
    AdmissionPolicy,
    Head,
    Outcome,
    SlotAddress,
    SlotKind,
    Upload,
)
from invitekit_service.storage import BlobStore

from invitekit.blob import parse_blob

from .support import Invite, digest_for

LANE_POLICY = AdmissionPolicy(retention=4)
OPEN_POLICY = AdmissionPolicy(retention=4)


def upload(
    inv: Invite, epoch: int, state: str | int | None = None, *, plaintext_size: int = 0, **kw: int
) -> Upload:
    body = inv.blob(epoch, state, plaintext=b"p" * plaintext_size, **kw)
    return Upload.from_blob(
        body,
        parse_blob(body).blob,
        sha256=hashlib.sha256(body).digest(),
        signature=inv.signer.sign(inv.slot, body),
        received_ns=time.time_ns(),
    )


def lane(inv: Invite) -> SlotAddress:
    return SlotAddress(inv.slot, SlotKind.LANE, inv.signer.lane_id)


def open_slot(inv: Invite) -> SlotAddress:
    return SlotAddress(inv.slot, SlotKind.OPEN)


async def admit(store: BlobStore, address: SlotAddress, up: Upload) -> Outcome:
    policy = LANE_POLICY if address.kind is SlotKind.LANE else OPEN_POLICY
    return (await store.admit(address, up, policy, time.time_ns())).outcome


async def test_lane_total_order(store: BlobStore) -> None:
    inv = Invite()
    addr = lane(inv)
    first = upload(inv, 3)
    assert await admit(store, addr, first) is Outcome.CREATED
    assert await admit(store, addr, first) is Outcome.IDEMPOTENT  # the same bytes
    assert await admit(store, addr, upload(inv, 3, "fork")) is Outcome.FORK
    assert await admit(store, addr, upload(inv, 2)) is Outcome.STALE
    assert await admit(store, addr, upload(inv, 103)) is Outcome.CREATED  # no jump gate
    result = await store.admit(addr, upload(inv, 103, "other"), LANE_POLICY, time.time_ns())
    assert result.outcome is Outcome.FORK
    assert result.head == Head(103, digest_for(103))
    items = await store.list_entries(addr, now_ns=time.time_ns(), limit=10)
    assert [i.meta.epoch for i in items] == [103, 3]


async def test_lane_history_and_signature_round_trip(store: BlobStore) -> None:
    inv = Invite()
    addr = lane(inv)
    ups = [upload(inv, e) for e in range(1, 8)]
    for up in ups:
        assert await admit(store, addr, up) is Outcome.CREATED
    items = await store.list_entries(addr, now_ns=time.time_ns(), limit=10)
    assert [i.meta.epoch for i in items] == [7, 6, 5, 4]
    assert items[0].body == ups[-1].body
    assert items[0].meta.signature == ups[-1].signature
    got = await store.get_by_sha256(addr, ups[-1].sha256, now_ns=time.time_ns())
    assert got is not None
    assert got.body == ups[-1].body
    assert await store.get_by_sha256(addr, ups[0].sha256, now_ns=time.time_ns()) is None
    meta_only = await store.list_entries(addr, now_ns=time.time_ns(), limit=1, with_body=False)
    assert meta_only[0].body is None


async def test_lane_expired_head_can_be_refreshed(store: BlobStore) -> None:
    inv = Invite()
    addr = lane(inv)
    soon = time.time_ns() + 200_000_000
    assert await admit(store, addr, upload(inv, 5, expires_at_ns=soon)) is Outcome.CREATED
    await asyncio.sleep(0.25)
    assert await store.list_entries(addr, now_ns=time.time_ns(), limit=5) == []
    # Same state, fresh expiry: not "idempotent" (nothing live), so it is stored.
    assert await admit(store, addr, upload(inv, 5)) is Outcome.CREATED
    assert await admit(store, addr, upload(inv, 4)) is Outcome.STALE  # order survives expiry
    assert len(await store.list_entries(addr, now_ns=time.time_ns(), limit=5)) == 1


async def test_open_fifo_coalescing_and_order(store: BlobStore) -> None:
    inv = Invite()
    addr = open_slot(inv)
    first = upload(inv, (1 << 64) - 1)
    assert await admit(store, addr, first) is Outcome.CREATED
    assert await admit(store, addr, first) is Outcome.COALESCED
    for e in (1, 2, 2):
        assert await admit(store, addr, upload(inv, e, "s")) is Outcome.CREATED
    assert await admit(store, addr, upload(inv, 0)) is Outcome.CREATED  # evicts the oldest
    items = await store.list_entries(addr, now_ns=time.time_ns(), limit=10)
    assert [i.meta.epoch for i in items] == [2, 2, 1, 0]
    assert items[0].meta.seq > items[1].meta.seq  # equal (epoch, hash): newest first


async def test_match_and_kinds_are_separate(store: BlobStore) -> None:
    inv = Invite()
    await admit(store, open_slot(inv), upload(inv, 4, "a"))
    await admit(store, open_slot(inv), upload(inv, 4, "b"))
    await admit(store, lane(inv), upload(inv, 9))
    match = Head(4, digest_for("b"))
    found = await store.list_entries(open_slot(inv), now_ns=time.time_ns(), limit=9, match=match)
    assert [f.meta.group_state_hash for f in found] == [digest_for("b")]
    assert [
        f.meta.epoch for f in await store.list_entries(lane(inv), now_ns=time.time_ns(), limit=9)
    ] == [9]


async def test_gc_removes_expired_and_idle(store: BlobStore) -> None:
    inv, idle = Invite(), Invite()
    now = time.time_ns()
    await admit(store, open_slot(inv), upload(inv, 1, expires_at_ns=now + 10**8))
    await admit(store, open_slot(inv), upload(inv, 2))
    await admit(store, open_slot(idle), upload(idle, 1))
    seen: list[int] = []
    store.set_expiry_listener(lambda: seen.append(1))
    later = now + 2 * 10**8
    assert [
        i.meta.epoch for i in await store.list_entries(open_slot(inv), now_ns=later, limit=9)
    ] == [2]
    assert seen  # the lazy-GC trigger fired
    report = await store.collect_garbage(later, idle_before_ns=None)
    assert report.expired_blobs == 1
    report = await store.collect_garbage(later, idle_before_ns=time.time_ns() + 1)
    assert report.idle_slots == 2
    assert await store.list_entries(open_slot(idle), now_ns=later, limit=9) == []


async def test_change_marker_moves_on_commit(store: BlobStore) -> None:
    inv = Invite()
    addr = lane(inv)
    before = store.change_marker(addr)
    await admit(store, addr, upload(inv, 1))
    assert store.change_marker(addr) != before


@pytest.mark.parametrize("writers", [32])
async def test_concurrent_admissions_are_serialised(store: BlobStore, writers: int) -> None:
    inv = Invite()
    addr = lane(inv)
    ups = [
        upload(inv, 1 + (i * 7) % 20, "fork" if i % 3 == 0 else None) for i in range(writers * 2)
    ]
    results = await asyncio.gather(
        *(store.admit(addr, u, LANE_POLICY, time.time_ns()) for u in ups)
    )
    created = [r.entry for r in results if r.outcome is Outcome.CREATED]
    assert created
    seqs_epochs = sorted((e.seq, e.epoch) for e in created if e is not None)
    epochs = [e for _, e in seqs_epochs]
    # The head only moves up; same-state copies with other bytes are stored beside it.
    assert epochs == sorted(epochs)
    assert all(r.outcome is not Outcome.IDEMPOTENT for r in results)  # no byte-identical pair


async def test_large_and_small_bodies_round_trip(store: BlobStore) -> None:
    inv = Invite()
    addr = open_slot(inv)
    small = upload(inv, 1)
    large = upload(inv, 2, plaintext_size=200_000)
    assert len(large.body) > 100_000
    for up in (small, large):
        assert await admit(store, addr, up) is Outcome.CREATED
    now = time.time_ns()
    head = await store.list_entries(addr, now_ns=now, limit=1)
    assert [h.body for h in head] == [large.body]
    both = await store.list_entries(addr, now_ns=now, limit=8)
    assert [b.body for b in both] == [large.body, small.body]
    meta_only = await store.list_entries(addr, now_ns=now, limit=8, with_body=False)
    assert [(m.body, m.meta.size) for m in meta_only] == [
        (None, len(large.body)),
        (None, len(small.body)),
    ]
    got = await store.get_by_sha256(addr, large.sha256, now_ns=now)
    assert got is not None
    assert got.body == large.body


async def test_head_entry_is_the_newest_live_arrival_with_small_bodies_inline(
    store: BlobStore,
) -> None:
    inv = Invite()
    addr = open_slot(inv)
    assert await store.head_entry(addr, now_ns=time.time_ns()) is None
    small, big, older = upload(inv, 5), upload(inv, 2, plaintext_size=40_000), upload(inv, 9)
    for up in (older, small):
        assert await admit(store, addr, up) is Outcome.CREATED
    head = await store.head_entry(addr, now_ns=time.time_ns())
    assert head is not None
    assert head.meta.sha256 == small.sha256
    assert head.body == small.body
    assert await admit(store, addr, big) is Outcome.CREATED
    head = await store.head_entry(addr, now_ns=time.time_ns())
    assert head is not None
    assert head.meta.sha256 == big.sha256
    assert head.body is None
    assert head.meta.size == len(big.body)


async def test_bodies_read_in_chunks_and_gone_rows_read_none(store: BlobStore) -> None:
    inv = Invite()
    addr = open_slot(inv)
    up = upload(inv, 1, plaintext_size=300_000)
    assert await admit(store, addr, up) is Outcome.CREATED
    (item,) = await store.list_entries(addr, now_ns=time.time_ns(), limit=4, with_body=False)
    assert item.body is None
    parts, offset = [], 0
    while offset < item.meta.size:
        chunk = await store.read_body_chunk(item.meta.seq, offset, 65_536)
        assert chunk
        parts.append(chunk)
        offset += len(chunk)
    assert b"".join(parts) == up.body
    assert await store.read_body_chunk(item.meta.seq, item.meta.size, 10) == b""
    for epoch in range(2, 6):  # retention 4: the first upload is evicted
        assert await admit(store, addr, upload(inv, epoch)) is Outcome.CREATED
    assert await store.read_body_chunk(item.meta.seq, 0, 10) is None

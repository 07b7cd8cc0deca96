"""Issue 12, the head cache holds whole bodies: it must be bounded in bytes, not entries."""

from __future__ import annotations

import os
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer
from invitekit_service.admission import EntryMeta
from invitekit_service.app import create_app
from invitekit_service.config import Settings
from invitekit_service.headcache import HeadCache, HeadEntry
from invitekit_service.state import STATE_KEY
from invitekit_service.storage import StoredBlob

from .support import Invite


def _entry(size: int) -> HeadEntry:
    meta = EntryMeta(
        seq=1,
        sha256=os.urandom(32),
        fields_key=os.urandom(32),
        epoch=1,
        group_state_hash=os.urandom(32),
        expires_at_ns=0,
        nonce=os.urandom(12),
        signature=None,
        received_ns=0,
        size=size,
    )
    return HeadEntry(marker=0, blob=StoredBlob(meta, bytes(size)), headers={})


def test_bytes_bound_evicts_least_recently_used() -> None:
    cache = HeadCache(max_entries=1000, max_bytes=1000)
    for n in range(20):
        cache.put((b"slot", bytes([n])), _entry(100))
        assert cache.bytes <= 1000
    assert len(cache) == 10
    assert cache.get((b"slot", bytes([10]))) is not None  # now the most recently used
    cache.put((b"slot", b"new"), _entry(100))
    assert cache.get((b"slot", bytes([10]))) is not None
    assert cache.get((b"slot", bytes([11]))) is None  # the least recently used went
    cache.put((b"slot", b"new"), _entry(50))  # replacing an entry does not double count
    assert (
        cache.bytes
        == sum(
            e.size for k in [(b"slot", bytes([n])) for n in range(12, 20)] if (e := cache.get(k))
        )
        + 100
        + 50
    )


def test_oversized_heads_are_served_but_not_kept() -> None:
    cache = HeadCache(max_entries=1000, max_bytes=8000)
    cache.put((b"s", b"big"), _entry(1001))
    assert cache.get((b"s", b"big")) is None
    assert cache.bytes == 0
    cache.put((b"s", b"ok"), _entry(1000))
    assert cache.get((b"s", b"ok")) is not None
    assert cache.bytes == 1000
    empty = HeadCache(max_entries=1000, max_bytes=0)
    empty.put((b"s", b"none"), HeadEntry(marker=0, blob=None, headers={}))
    assert len(empty) == 0


async def test_many_large_heads_stay_within_the_byte_bound(tmp_path: Path) -> None:
    bound = 256 * 1024
    settings = Settings(
        database=f"sqlite:///{tmp_path / 'cache.sqlite3'}",
        rate_limits_enabled=False,
        access_log=False,
        max_body_bytes=64 * 1024,
        head_cache_bytes=bound,
    )
    app = create_app(settings)
    async with TestClient(TestServer(app)) as client:
        state = app[STATE_KEY]
        invites = [Invite() for _ in range(40)]
        bodies = []
        for invite in invites:
            body = invite.blob(1, plaintext=os.urandom(30 * 1024))
            bodies.append(body)
            resp = await client.post(invite.open_path + "/blobs", data=body)
            assert resp.status == 201
        for _ in range(2):
            for invite, body in zip(invites, bodies, strict=True):
                resp = await client.get(invite.open_path + "/head")
                assert resp.status == 200
                assert await resp.read() == body
                assert state.head_cache.bytes <= bound
        assert 0 < len(state.head_cache) < len(invites)
        metrics = await (await client.get("/metrics")).text()
        exported = next(
            line for line in metrics.splitlines() if line.startswith("invitekit_head_cache_bytes ")
        )
        assert 0 < float(exported.split()[1]) <= bound

"""The HTTP client against the real service (mounted in-process): every route, many services
at once, and the client's error contract."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from invitekit.client import (
    ClientError,
    FetchPolicy,
    InsecureUrl,
    InvalidFetchPolicy,
    InviteClient,
    LaneKeyRequired,
    ServiceUnreachable,
    SlotKind,
    UploadRejected,
    api_root,
)
from invitekit.lane import lane_id_for
from tests.support.groupinfos import rine, seal_gi

from .conftest import ServiceProcess

KEY = os.urandom(32)
EPOCHS = [rine(f"rine-classic-epochs-e{n}") for n in (1, 2, 3, 4)]


def blob(n: int, key: bytes = KEY) -> bytes:
    return seal_gi(EPOCHS[n - 1], key).to_bytes()


def test_api_root() -> None:
    loop = FetchPolicy(allow_insecure_loopback=True)
    assert (
        str(api_root("https://blobs.example.org", FetchPolicy())) == "https://blobs.example.org/v1"
    )
    assert str(api_root("https://u:p@blobs.example.org/api/v1", FetchPolicy())) == (
        "https://blobs.example.org/api/v1"
    )
    assert str(api_root("http://127.0.0.1:9/v1", loop)).startswith("http://127.0.0.1:9/v1")
    with pytest.raises(InsecureUrl):
        api_root("http://blobs.example.org/v1", loop)


async def test_lane_upload_fetch_head_lookup_presence(
    client: InviteClient, service: ServiceProcess
) -> None:
    slot = os.urandom(16)
    url = service.url
    assert (await client.upload(url, slot, blob(1), key=KEY)).outcome == "created"
    second = blob(2)
    assert (await client.upload(url, slot, second, key=KEY)).outcome == "created"
    assert (await client.upload(url, slot, second, key=KEY)).outcome == "idempotent"
    again = await client.upload(url, slot, blob(2), key=KEY)  # same state, fresh nonce
    assert again.ok
    assert again.outcome == "created"  # other bytes: stored, never answered as stored
    stale = await client.upload(url, slot, blob(1), key=KEY)
    assert not stale.ok
    assert stale.outcome == "stale"
    assert stale.http_status == 409
    assert not stale.retryable
    assert isinstance(stale.failure, UploadRejected)
    assert stale.failure.problem_type == "stale"
    joiner_copy = seal_gi(rine("rine-classic-epochs-e5-joiner"), KEY).to_bytes()
    member_copy = seal_gi(rine("rine-classic-epochs-e5"), KEY).to_bytes()
    assert (await client.upload(url, slot, joiner_copy, key=KEY)).outcome == "created"
    # Joiner and member export the same epoch-5 state: equal digests, other bytes: stored.
    assert (await client.upload(url, slot, member_copy, key=KEY)).outcome == "created"
    other_fork = seal_gi(rine("rine-classic-epochs-e5"), KEY, digest=b"\x01" * 32).to_bytes()
    forked = await client.upload(url, slot, other_fork, key=KEY)  # same epoch, other digest
    assert not forked.ok
    assert forked.outcome == "fork"
    assert forked.http_status == 409

    fetched = await client.fetch(url, slot, key=KEY)
    assert fetched.ok
    assert len(fetched.candidates) == 5
    assert fetched.candidates[0].sources == (f"{url} lane",)
    head = await client.head(url, slot, key=KEY)
    assert head is not None
    assert head.content_hash == fetched.candidates[0].content_hash

    from invitekit.mls import parse_group_info

    view = parse_group_info(EPOCHS[1])
    found = await client.lookup(url, slot, 2, view.digest, key=KEY)
    assert found.ok
    assert len(found.candidates) == 2  # two seals of the epoch-2 state
    assert await client.exists(url, slot, 2, view.digest, key=KEY) is True
    assert await client.exists(url, slot, 3, view.digest, key=KEY) is False
    # Other key, other lane: nothing there.
    assert (await client.fetch(url, slot, key=os.urandom(32))).candidates == ()
    assert await client.head(url, slot, key=os.urandom(32)) is None


async def test_open_slot_is_fifo_and_coalesces_identical_bytes(
    client: InviteClient, service: ServiceProcess
) -> None:
    slot = os.urandom(8)
    body = blob(3)
    assert (await client.upload(service.url, slot, body, kind=SlotKind.OPEN)).outcome == "created"
    dup = await client.upload(service.url, slot, body, kind=SlotKind.OPEN)
    assert dup.ok
    assert dup.outcome == "coalesced"
    for n in (1, 2):
        assert (await client.upload(service.url, slot, blob(n), kind=SlotKind.OPEN)).ok
    got = await client.fetch(service.url, slot, kind=SlotKind.OPEN)
    assert len(got.candidates) == 3
    capped = await client.fetch(service.url, slot, kind=SlotKind.OPEN, max_candidates=2)
    assert len(capped.candidates) == 2
    assert capped.truncated


async def test_many_services_per_service_results_and_merge(
    client: InviteClient, start_service: Callable[..., ServiceProcess]
) -> None:
    a, b, dead = start_service("a"), start_service("b"), start_service("dead")
    dead.kill()
    slot = os.urandom(16)
    body = blob(2)
    results = await client.upload_many(
        [a.url, b.url, dead.url], slot, body, kinds=(SlotKind.LANE, SlotKind.OPEN), key=KEY
    )
    assert [(r.service, r.kind, r.ok) for r in results] == [
        (a.url, SlotKind.LANE, True),
        (a.url, SlotKind.OPEN, True),
        (b.url, SlotKind.LANE, True),
        (b.url, SlotKind.OPEN, True),
        (dead.url, SlotKind.LANE, False),
        (dead.url, SlotKind.OPEN, False),
    ]
    assert all(r.retryable for r in results if not r.ok)
    assert (await client.upload(b.url, slot, blob(1), kind=SlotKind.OPEN)).ok
    merged = await client.fetch_merged([a.url, b.url, dead.url], slot, key=KEY)
    # Four copies of one blob collapse to one candidate that names every source.
    assert len(merged.candidates) == 2
    sources = {c.content_hash: c.sources for c in merged.candidates}
    assert len(max(sources.values(), key=len)) == 4
    assert len(merged.errors) == 2
    assert merged.any_ok


async def test_lane_signature_is_stored_and_served(
    client: InviteClient, service: ServiceProcess
) -> None:
    slot = os.urandom(16)
    body = blob(1)
    assert (await client.upload(service.url, slot, body, key=KEY)).ok
    stored = await client.stored_uploads(service.url, slot, SlotKind.LANE, lane_id_for(KEY))
    assert len(stored) == 1
    assert stored[0].body == body
    assert stored[0].signature is not None
    assert client.signer(KEY).sign(slot, body) == stored[0].signature  # Ed25519 is deterministic
    # A bad proof is refused by the service and reported, not raised.
    bad = await client.upload(
        service.url,
        slot,
        blob(2),
        kind=SlotKind.LANE,
        lane_id=lane_id_for(KEY),
        signature=bytes(64),
    )
    assert not bad.ok
    assert bad.outcome == "bad-signature"
    assert bad.http_status == 403


async def test_existence_falls_back_to_the_listing_on_a_minimal_service(
    client: InviteClient,
) -> None:
    """A service with only the candidate listing (XIP rule 3): filter by metadata."""
    import base64
    import json

    from aiohttp import web

    from invitekit.mls import parse_group_info

    from .servers import serve

    body = blob(2)
    items = [{"blob": base64.urlsafe_b64encode(body).rstrip(b"=").decode()}]

    async def listing(request: web.Request) -> web.Response:
        return web.json_response({"items": items}, dumps=json.dumps)

    app = web.Application()
    app.router.add_get("/v1/slots/{slot}/open/blobs", listing)
    async with serve(app) as base:
        digest = parse_group_info(EPOCHS[1]).digest
        url = base + "/v1"
        slot = os.urandom(8)
        assert await client.exists(url, slot, 2, digest, kind=SlotKind.OPEN) is True
        assert await client.exists(url, slot, 3, digest, kind=SlotKind.OPEN) is False


async def test_error_contract_single_service_reads_raise_typed_errors(
    client: InviteClient, start_service: Callable[..., ServiceProcess]
) -> None:
    dead = start_service("gone")
    dead.kill()
    slot = os.urandom(16)
    with pytest.raises(ServiceUnreachable) as caught:
        await client.exists(dead.url, slot, 1, bytes(32), key=KEY)
    assert caught.value.retryable
    assert caught.value.code == "service-unreachable"
    with pytest.raises(ServiceUnreachable):
        await client.head(dead.url, slot, key=KEY)
    with pytest.raises(ClientError):
        await client.stored_uploads(dead.url, slot, SlotKind.OPEN)
    # ...while the per-service steps of fan-out calls report the same failure as a result.
    fetched = await client.fetch(dead.url, slot, key=KEY)
    assert isinstance(fetched.failure, ServiceUnreachable)
    assert fetched.error == "service-unreachable"
    assert fetched.candidates == ()


async def test_error_contract_caller_bugs_are_typed(
    client: InviteClient, service: ServiceProcess
) -> None:
    slot = os.urandom(16)
    for call in (
        client.upload(service.url, slot, blob(1)),  # a lane upload with neither key nor proof
        client.fetch(service.url, slot),
        client.exists(service.url, slot, 1, bytes(32)),
    ):
        with pytest.raises(LaneKeyRequired):
            await call
    with pytest.raises(InvalidFetchPolicy):
        FetchPolicy(max_body_bytes=0)

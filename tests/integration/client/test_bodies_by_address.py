"""The join fetches what it selects: listings by metadata, bodies by content address, in the
selection's order; old services (bodies inline, the ``bodies`` parameter unknown) and
old-style requests (no ``bodies``) still meet the new code in both directions."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web

from invitekit.blob import EncryptedBlob, parse_blob
from invitekit.client import FetchPolicy, InProcessTransport, InviteClient, SlotKind
from invitekit.client.transport import HttpResponse, TransportRequest
from invitekit.drivers import join_invite
from invitekit.join import Joined, ReadyToCommit, RejectedAfterForks, Survivor
from invitekit.needs import CommitRejected, CommitReport
from invitekit.protocol import ListingBodies
from tests.support.groupinfos import seal_gi

from .scenario import BOTH, Scenario
from .world import World


@dataclass
class _At:
    url: str


_BODY_PATH = re.compile(r"/blobs/[0-9a-f]{64}$")


@dataclass
class Counting:
    """A transport that counts listing and by-address GETs and the bytes they carried."""

    inner: InProcessTransport
    listings: int = 0
    bodies: list[str] = field(default_factory=list)
    received: int = 0

    async def send(self, request: TransportRequest) -> HttpResponse:
        response = await self.inner.send(request)
        if request.method == "GET" and request.url.path.endswith("/blobs"):
            self.listings += 1
            self.received += len(response.body)
        elif request.method == "GET" and _BODY_PATH.search(request.url.path):
            self.bodies.append(request.url.path.rsplit("/", 1)[1])
            self.received += len(response.body)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture
async def counting() -> AsyncIterator[Counting]:
    transport = Counting(InProcessTransport())
    yield transport
    await transport.aclose()


def _old_service_app(app: web.Application) -> web.Application:
    """The real service behind a middleware that drops ``bodies`` from every query: exactly
    a service that predates the parameter (it answers with every body inline)."""
    Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

    @web.middleware
    async def forget_bodies(request: web.Request, handler: Handler) -> web.StreamResponse:
        if "bodies" in request.query:
            query = {k: v for k, v in request.query.items() if k != "bodies"}
            request = request.clone(rel_url=request.rel_url.with_query(query))
        return await handler(request)

    app.middlewares.insert(0, forget_bodies)
    return app


def _service(transport: InProcessTransport, tmp_path: Path, name: str, *, old: bool) -> str:
    from invitekit_service.app import create_app
    from invitekit_service.config import Settings

    settings = Settings(
        database=f"sqlite:///{tmp_path / name}.sqlite3",
        rate_limits_enabled=False,
        access_log=False,
        log_level="WARNING",
    )
    app = create_app(settings)
    return transport.mount(name, _old_service_app(app) if old else app) + "/v1"


@asynccontextmanager
async def _scenario(
    world: World, tmp_path: Path, counting: Counting, *, old: bool,
    kinds: tuple[SlotKind, ...] = BOTH, listing_bodies: ListingBodies = ListingBodies.OMIT,
) -> AsyncIterator[tuple[InviteClient, str, Scenario]]:
    """A client reading through ``counting`` from one in-process service (``old``: one that
    predates ``bodies``), and the scenario's invite on it: (client, service url, scenario)."""
    async with InviteClient(
        FetchPolicy(allow_insecure_loopback=True), transport=counting,
        listing_bodies=listing_bodies,
    ) as client:
        url = _service(counting.inner, tmp_path, "old" if old else "new", old=old)
        yield client, url, Scenario.start(world, client, [_At(url)], kinds=kinds)  # type: ignore[list-item]


async def _slot_with_eight(sc: Scenario, client: InviteClient, url: str) -> bytes:
    """The genuine current blob (lane and open slot) and seven forged lower-epoch copies
    in the open slot: eight candidates, one worth joining from."""
    sc.world.ordinary_commit("admin")
    await sc.refresh()
    slot = sc.payload.external_group_id
    genuine = (await client.fetch(url, slot, kind=SlotKind.OPEN)).candidates[0]
    blob = parse_blob(genuine.raw).blob
    assert blob.epoch >= 1
    for _ in range(7):
        forged = EncryptedBlob(
            blob.nonce, blob.ciphertext, blob.epoch - 1, os.urandom(32), blob.expires_at_ns
        )
        assert (await client.upload(url, slot, forged.to_bytes(), kind=SlotKind.OPEN)).ok
    return genuine.content_hash


async def test_join_fetches_only_the_body_it_selects(
    world: World, tmp_path: Path, counting: Counting
) -> None:
    async with _scenario(world, tmp_path, counting, old=False) as (client, url, sc):
        genuine = await _slot_with_eight(sc, client, url)
        counting.listings, counting.bodies, counting.received = 0, [], 0
        ready = await sc.check()
        assert isinstance(ready, ReadyToCommit)
        assert ready.survivor is not None
        assert ready.survivor.candidate.content_hash == genuine
        assert counting.listings == 2  # lane and open slot, metadata only
        assert counting.bodies == [genuine.hex()]  # one body: the one selected
        assert counting.received < 1.5 * len(ready.survivor.candidate.raw) + 8 * 1024
        # The inline form (what an old client asks for) carries all eight bodies.
        client.listing_bodies = ListingBodies.INLINE
        counting.listings, counting.bodies, counting.received = 0, [], 0
        ready = await sc.check()
        assert isinstance(ready, ReadyToCommit)
        assert counting.bodies == []
        assert counting.received > 8 * len(ready.survivor.candidate.raw)
        client.listing_bodies = ListingBodies.OMIT
        joined = await sc.join("alice")
        assert isinstance(joined, Joined)
        assert joined.attempts == 1


async def test_rejected_survivor_falls_through_to_the_next_body(
    world: World, tmp_path: Path, counting: Counting
) -> None:
    async with _scenario(
        world, tmp_path, counting, old=False, kinds=(SlotKind.OPEN,)
    ) as (client, url, sc):
        key = world.policy.symmetric_key or b""
        slot = sc.payload.external_group_id
        older = seal_gi(world.group_info(), key).to_bytes()
        world.ordinary_commit("admin")
        await sc.refresh()
        assert (await client.upload(url, slot, older, kind=SlotKind.OPEN)).ok
        counting.bodies = []
        real = world.joiner("alice")
        tried: list[int] = []

        async def commit(survivor: Survivor) -> CommitReport:
            tried.append(survivor.epoch)
            if len(tried) == 1:
                return CommitRejected("lost-the-race")  # the first commit loses
            return await real(survivor)

        joined = await join_invite(
            sc.payload, commit, client=client, resolver=sc.resolver,
            policy_provider=world.provider(), options=sc.options,
        )
        # The older state's commit is refused too (the group moved on): both were tried, in
        # order, and each body was fetched only when its turn came.
        assert isinstance(joined, RejectedAfterForks), joined
        assert tried == [world.epoch, world.epoch - 1]
        assert joined.attempts == 2
        assert len(counting.bodies) == 2  # the newest first, then the next one
        assert counting.bodies[1] == hashlib.sha256(older).hexdigest()


async def test_new_client_meets_a_service_before_bodies(
    world: World, tmp_path: Path, counting: Counting
) -> None:
    async with _scenario(world, tmp_path, counting, old=True) as (client, url, sc):
        genuine = await _slot_with_eight(sc, client, url)
        fetched = await client.fetch(url, sc.payload.external_group_id, kind=SlotKind.OPEN,
                                     lazy=True)
        assert fetched.listed == ()  # the old form: every body inline
        assert len(fetched.candidates) == 8
        counting.bodies = []
        joined = await sc.join("alice")
        assert isinstance(joined, Joined)
        assert counting.bodies == []  # nothing to fetch by address
        assert genuine in {c.content_hash for c in fetched.candidates}
        # Mirroring from an old service reads the inline bodies as they come.
        stored = await client.stored_uploads(url, sc.payload.external_group_id, SlotKind.OPEN)
        assert len(stored) == 8


async def test_old_style_requests_meet_the_new_service(
    world: World, tmp_path: Path, counting: Counting
) -> None:
    async with _scenario(
        world, tmp_path, counting, old=False,
        listing_bodies=ListingBodies.INLINE,  # asks as a client before `bodies` did
    ) as (client, url, sc):
        await _slot_with_eight(sc, client, url)
        counting.bodies = []
        joined = await sc.join("alice")
        assert isinstance(joined, Joined)
        assert counting.bodies == []
        fetched = await client.fetch(url, sc.payload.external_group_id, kind=SlotKind.OPEN,
                                     lazy=True)
        assert len(fetched.candidates) == 8
        assert fetched.listed == ()

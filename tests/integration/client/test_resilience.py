"""Hostile and failing services during a real join: a mirror dies, a service streams an
endless body, services redirect to http or to another origin.

The redirect tests run real service processes behind real TLS servers on loopback
(``service_process``); the others mount the service in-process.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import web

from invitekit.client import FetchPolicy, InProcessTransport, InviteClient
from invitekit.drivers import join_invite
from invitekit.join import Joined, NoCandidates
from invitekit.pointer import HttpsPointer

from .conftest import ServiceProcess
from .scenario import Scenario
from .servers import serve
from .tls import SelfSignedCert
from .world import World


async def test_mirror_goes_down_mid_join(
    world: World, client: InviteClient, start_service: Callable[..., ServiceProcess]
) -> None:
    a, b = start_service("a"), start_service("b")
    sc = Scenario.start(world, client, [a, b])
    first = await sc.refresh()
    assert first.uploaded == 4  # two services x (lane, open)
    outcome = await sc.join("alice", after_publish=a.kill)  # A dies while alice commits
    assert isinstance(outcome, Joined)
    assert outcome.epoch == 2
    by_service = {(r.service, r.ok) for r in outcome.refresh}
    assert (a.url, False) in by_service
    assert (b.url, True) in by_service
    assert {r.outcome for r in outcome.refresh if r.service == a.url} == {"service-unreachable"}
    # The next scanner: A refuses connections, B serves the refreshed blob.
    bob = await sc.join("bob")
    assert isinstance(bob, Joined)
    assert bob.epoch == 3
    assert bob.attempts == 1


@asynccontextmanager
async def endless_server() -> AsyncIterator[str]:
    async def endless(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        await resp.prepare(request)
        try:
            await resp.write(b'{"items":[{"blob":"')
            while True:
                await resp.write(b"A" * 65536)
        except (ConnectionError, asyncio.CancelledError):
            pass
        return resp

    app = web.Application()
    app.router.add_get("/{tail:.*}", endless)
    async with serve(app) as base:
        yield base + "/v1"


async def test_malicious_service_streams_an_endless_body(
    world: World, service: ServiceProcess, inprocess: InProcessTransport
) -> None:
    policy = FetchPolicy(allow_insecure_loopback=True, max_body_bytes=2 << 20)
    async with endless_server() as hostile, InviteClient(policy, transport=inprocess) as client:
        sc = Scenario.start(world, client, [service])
        await sc.refresh()

        async def only_hostile(pointer: object) -> list[str]:
            return [hostile]

        outcome = await asyncio.wait_for(
            join_invite(
                sc.payload,
                world.joiner("alice"),
                client=client,
                resolver=only_hostile,
                policy_provider=world.provider(),
            ),
            timeout=30,
        )
        assert isinstance(outcome, NoCandidates)
        assert outcome.fetch_errors
        assert all("body-too-large" in e for e in outcome.fetch_errors)

        async def both(pointer: object) -> list[str]:
            return [hostile, service.url]

        joined = await join_invite(
            sc.payload,
            world.joiner("alice"),
            client=client,
            resolver=both,
            policy_provider=world.provider(),
        )
        assert isinstance(joined, Joined)


@asynccontextmanager
async def redirector(target_root: str, cert: SelfSignedCert) -> AsyncIterator[str]:
    """An https service that answers every request with a redirect into ``target_root``."""

    async def bounce(request: web.Request) -> web.Response:
        raise web.HTTPFound(target_root + request.path_qs.removeprefix("/v1"))

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", bounce)
    async with serve(app, ssl_context=cert.server_context()) as base:
        yield base + "/v1"


@pytest.mark.service_process
async def test_redirect_to_http_is_refused(
    world: World, service: ServiceProcess, cert: SelfSignedCert
) -> None:
    async with InviteClient(FetchPolicy(allow_insecure_loopback=True)) as plain:
        sc = Scenario.start(world, plain, [service])
        assert (await sc.refresh()).uploaded == 2  # the blob sits on the plain-http service
    async with (
        redirector(service.url, cert) as https_url,
        InviteClient(
            FetchPolicy(allow_insecure_loopback=True), ssl_context=cert.client_context()
        ) as client,
    ):
        payload = world.policy.invite(HttpsPointer(https_url))
        outcome = await join_invite(
            payload, world.joiner("alice"), client=client, policy_provider=world.provider()
        )
        assert isinstance(outcome, NoCandidates)
        assert outcome.fetch_errors
        assert all("redirect-refused" in e for e in outcome.fetch_errors)
        assert "alice" not in world.members


@pytest.mark.service_process
async def test_cross_origin_redirect_is_refused(
    world: World,
    service: ServiceProcess,
    cert: SelfSignedCert,
    tls_front: Callable[[str], Any],
) -> None:
    async with InviteClient(FetchPolicy(allow_insecure_loopback=True)) as plain:
        assert (await Scenario.start(world, plain, [service]).refresh()).uploaded == 2
    real_https = await tls_front(service.url)  # the genuine service, on another origin
    async with redirector(real_https, cert) as bouncer:
        payload = world.policy.invite(HttpsPointer(bouncer))
        async with InviteClient(ssl_context=cert.client_context()) as client:
            outcome = await join_invite(
                payload, world.joiner("alice"), client=client, policy_provider=world.provider()
            )
            assert isinstance(outcome, NoCandidates)
            assert all("redirect-refused" in e for e in outcome.fetch_errors)
        # Explicitly allow-listed by the application: the same redirect is followed.
        origin = real_https.removesuffix("/v1")
        allow = FetchPolicy(redirect_allowlist=frozenset({origin}))
        async with InviteClient(allow, ssl_context=cert.client_context()) as client:
            joined = await join_invite(
                payload, world.joiner("alice"), client=client, policy_provider=world.provider()
            )
            assert isinstance(joined, Joined)


async def test_backstop_retries_are_bounded_with_backoff(
    world: World, client: InviteClient, start_service: Callable[..., ServiceProcess]
) -> None:
    from invitekit.drivers import backstop_refresh, committer_refresh
    from invitekit.refresh import Backoff

    up, down = start_service("up"), start_service("down")
    sc = Scenario.start(world, client, [up, down])
    down.kill()  # a real outage: connection refused on every try
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    draws = iter([0.5] * 100)
    backoff = Backoff(attempts=3, base_s=1.0, cap_s=8.0, jitter_s=20.0)
    report = await backstop_refresh(
        client,
        world.group_info(),
        world.policy,
        world.epoch_started_at_ns,
        resolver=sc.resolver,
        random_unit=draws.__next__,
        sleep=sleep,
        backoff=backoff,
    )
    # Per (service, kind): the lane and the open slot of each.
    assert [t.action for t in report.targets] == ["uploaded", "uploaded", "error", "error"]
    # One jittered start, then two retry delays per kind of the dead service only: 3 tries
    # each, no storm.
    assert sleeps == [10.0, 0.5, 1.0, 0.5, 1.0]
    # Opaque refresh pointers without a resolver are skipped, never fatal.
    partial = await committer_refresh(
        client, world.group_info(), world.policy, world.epoch_started_at_ns, first_services=[up.url]
    )
    assert [t.action for t in partial.targets] == ["uploaded", "skipped", "skipped"]

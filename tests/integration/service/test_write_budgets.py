"""Issue 12, shared write budgets: refused uploads never spend a slot's budget, and one
flooding address cannot spend an honest writer's share of a slot (SPEC "Fairness rule").

Clients are told apart by their real loopback source address (127.0.0.2, 127.0.0.3, ...).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import aiohttp

from .support import Api, Invite, b64


@asynccontextmanager
async def _client_at(address: str) -> AsyncIterator[aiohttp.ClientSession]:
    connector = aiohttp.TCPConnector(local_addr=(address, 0), force_close=True)
    async with aiohttp.ClientSession(connector=connector) as session:
        yield session


async def test_unsigned_lane_posts_do_not_drain_the_key_holders_budget(
    service_factory: Callable[..., object],
) -> None:
    svc = service_factory(
        "--client-write-limit",
        "1000/minute",
        "--slot-write-limit",
        "5/minute",
        "--slot-client-write-limit",
        "5/minute",
        "--no-access-log",
    )
    invite = Invite()
    async with _client_at("127.0.0.2") as keyless, _client_at("127.0.0.3") as holder:
        attacker = Api(svc.base_url, keyless)  # type: ignore[attr-defined]
        honest = Api(svc.base_url, holder)  # type: ignore[attr-defined]
        for n in range(40):
            body = invite.blob(100 + n)
            unsigned = await attacker.post(invite.lane_path + "/blobs", body)
            assert unsigned.status == 401
            forged = await attacker.post(
                invite.lane_path + "/blobs",
                body,
                headers={"Invitekit-Signature": b64(os.urandom(64))},
            )
            assert forged.status == 403
        statuses = [(await honest.upload_lane(invite, invite.blob(e))).status for e in range(5)]
    assert statuses == [201] * 5


async def test_one_flooder_cannot_spend_an_honest_writers_share_of_an_open_slot(
    service_factory: Callable[..., object],
) -> None:
    svc = service_factory(
        "--client-write-limit",
        "1000/minute",
        "--slot-write-limit",
        "12/minute",
        "--slot-client-write-limit",
        "4/minute",
        "--no-access-log",
    )
    invite = Invite()
    async with _client_at("127.0.0.4") as flood, _client_at("127.0.0.5") as writer:
        flooder = Api(svc.base_url, flood)  # type: ignore[attr-defined]
        honest = Api(svc.base_url, writer)  # type: ignore[attr-defined]
        flood_statuses = []
        for n in range(30):
            reply = await flooder.upload_open(invite, invite.blob(1000 + n))
            flood_statuses.append(reply.status)
            if reply.status == 429:
                assert reply.json["scope"] == "slot-client-write"
        honest_statuses = [
            (await honest.upload_open(invite, invite.blob(n))).status for n in range(4)
        ]
        listing = (await honest.get(invite.open_path + "/blobs")).json
    assert flood_statuses.count(201) == 4
    assert honest_statuses == [201] * 4
    # All four honest uploads are among the retained candidates (8 retained by default).
    epochs = {item["epoch"] for item in listing["items"]}
    assert {0, 1, 2, 3} <= epochs


async def test_a_slots_total_budget_still_binds_many_addresses(
    service_factory: Callable[..., object],
) -> None:
    svc = service_factory(
        "--client-write-limit",
        "1000/minute",
        "--slot-write-limit",
        "6/minute",
        "--slot-client-write-limit",
        "2/minute",
        "--no-access-log",
    )
    invite = Invite()
    statuses: list[int] = []
    scopes: list[str] = []
    for host in range(10, 15):
        async with _client_at(f"127.0.0.{host}") as session:
            api = Api(svc.base_url, session)  # type: ignore[attr-defined]
            for n in range(2):
                reply = await api.upload_open(invite, invite.blob(host * 10 + n))
                statuses.append(reply.status)
                if reply.status == 429:
                    scopes.append(reply.json["scope"])
    assert statuses.count(201) == 6
    assert scopes == ["slot-write"] * 4

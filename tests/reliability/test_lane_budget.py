"""A lane's write budget taken by invite holders: the open slot carries the invite.

Every invite holder can sign lane writes (the lane key is derived from the invite key), so
the service cannot give a member's lane writes a share that other invite holders cannot
take: five addresses holding the invite spend the lane's whole budget (5 x 12 of its 60 a
minute), and the member's next lane upload is refused 429 for the rest of the window.
SPEC ("Who can do what to an invite") says what carries the invite then: the open slot.
This test proves it with the real client: the member's refresh to both kinds gets 429 on
the lane and 201 on the open slot, and a joiner's merged fetch (both kinds, as every reader
does) finds the member's new state and selects it over everything on the lane.

Default budgets; CI and issue size are the same.
"""

from __future__ import annotations

import asyncio
import os

import aiohttp

from invitekit.blob import parse_blob, seal
from invitekit.client import FetchPolicy, InviteClient
from invitekit.lane import LaneSigner
from invitekit.protocol import SlotKind, b64url

from .harness import record_figures

FLOODERS = [f"127.0.40.{i}" for i in range(1, 6)]


async def test_a_lane_budget_taken_by_invite_holders_leaves_the_open_slot(make_service) -> None:
    svc = make_service("--no-access-log")
    key, slot = os.urandom(32), os.urandom(16)
    signer = LaneSigner(key)
    lane = f"/v1/slots/{b64url(slot)}/lanes/{b64url(signer.lane_id)}"
    digest_1 = os.urandom(32)

    def state(epoch: int, digest: bytes) -> bytes:
        return seal(os.urandom(96), key, epoch=epoch, group_state_hash=digest).to_bytes()

    async with InviteClient(FetchPolicy(allow_insecure_loopback=True)) as member:
        first = await member.upload_many([svc.base_url], slot, state(1, digest_1), key=key)
        assert [r.http_status for r in first] == [201, 201], first

        async def holder(src: str) -> dict[int, int]:
            """An invite holder: signed copies of the lane head's state, as fast as it can."""
            got: dict[int, int] = {}
            async with aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(local_addr=(src, 0))
            ) as http:
                for _ in range(15):
                    body = state(1, digest_1)
                    sig = {"Invitekit-Signature": b64url(signer.sign(slot, body)),
                           "Content-Type": "application/octet-stream"}
                    async with http.post(svc.base_url + lane + "/blobs", data=body,
                                         headers=sig) as r:
                        await r.read()
                        got[r.status] = got.get(r.status, 0) + 1
            return got

        flood = await asyncio.gather(*(holder(src) for src in FLOODERS))
        flood_total: dict[int, int] = {}
        for got in flood:
            for status, n in got.items():
                flood_total[status] = flood_total.get(status, 0) + n

        genuine = state(2, os.urandom(32))  # the member's next epoch
        refresh = {r.kind: r for r in await member.upload_many([svc.base_url], slot, genuine,
                                                               key=key)}
        fetched = await member.fetch_merged([svc.base_url], slot, key=key)
    newest = max(fetched.candidates, key=lambda c: parse_blob(c.raw).blob.epoch)
    figures = {
        "flooders": len(FLOODERS), "flood_answers": flood_total,
        "member_lane": refresh[SlotKind.LANE].http_status,
        "member_open": refresh[SlotKind.OPEN].http_status,
        "candidates": len(fetched.candidates),
        "joiner_selects_member_state": newest.raw == genuine,
    }
    record_figures("lane-budget", figures)
    # five invite holders took the rest of the lane's budget (60 a minute, 1 spent by the
    # member's first upload), each held to its share of 12
    assert flood_total.get(201, 0) == 60 - 1, figures
    assert all(got.get(201, 0) <= 12 for got in flood), flood
    assert set(flood_total) == {201, 429}, figures
    # the member's lane write is refused for the window; the open slot takes it
    assert refresh[SlotKind.LANE].http_status == 429, figures
    assert refresh[SlotKind.LANE].outcome == "rate-limited", figures
    assert refresh[SlotKind.OPEN].http_status == 201, figures
    # a joiner reading both kinds gets the member's state and selects it
    assert any(c.raw == genuine for c in fetched.candidates), figures
    assert newest.raw == genuine, figures

"""Listings by metadata (``bodies=omit``), bodies by content address, streamed from storage,
and the response budget (real service process, both storage backends)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import socket

import aiohttp
import pytest
from invitekit_service.problems import Problem
from invitekit_service.responses import CHUNK, response_budget
from yarl import URL

from invitekit.protocol import CandidateListing, ProblemCode

from .conftest import ServiceFactory
from .support import Api, Invite

BIG = 3 * CHUNK + 12_345  # several chunks, not a multiple of the chunk size


@pytest.fixture(scope="module")
def big_api_service(service_factory: ServiceFactory) -> str:
    proc = service_factory(
        "--no-rate-limits-enabled", "--no-access-log", "--max-body-bytes", str(2 << 20),
        "--head-cache-bytes", "0",
    )
    return proc.base_url


@pytest.fixture
def big_api(big_api_service: str, session: aiohttp.ClientSession) -> Api:
    return Api(big_api_service, session)


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


async def test_metadata_listing_then_bodies_by_address(big_api: Api) -> None:
    inv = Invite()
    bodies = [inv.blob(1, plaintext=b"x" * BIG), inv.blob(2), inv.blob(3, plaintext=b"y" * 999)]
    for body in bodies:
        assert (await big_api.upload_open(inv, body)).status == 201
    listing = await big_api.get(inv.open_path + "/blobs", params={"bodies": "omit"})
    assert listing.status == 200
    items = listing.json["items"]
    assert [i["epoch"] for i in items] == [3, 2, 1]
    assert all("blob" not in i for i in items)
    assert [i["arrival"] for i in items] == [0, 1, 2]
    assert len(listing.body) < 2048  # metadata only: no body travels with the listing
    by_sha = {hashlib.sha256(b).hexdigest(): b for b in bodies}
    for item in items:
        assert item["size"] == len(by_sha[item["sha256"]])
        got = await big_api.get(f"{inv.open_path}/blobs/{item['sha256']}")
        assert got.status == 200
        assert got.body == by_sha[item["sha256"]]  # streamed in chunks, byte-exact
        assert got.headers["ETag"] == f'"{item["sha256"]}"'
        assert got.headers["Content-Length"] == str(item["size"])
        assert got.headers["Cache-Control"].startswith("public, max-age=")
        assert got.headers["Cache-Control"].endswith(", immutable")
    # The two forms have different validators (a cache never serves one for the other).
    inline = await big_api.get(inv.open_path + "/blobs")
    assert inline.headers["ETag"] != listing.headers["ETag"]


async def test_default_listing_still_carries_every_body_inline(big_api: Api) -> None:
    """An old-style request (no ``bodies``) gets the inline form, streamed, byte-exact."""
    inv = Invite()
    bodies = [inv.blob(5, plaintext=b"z" * BIG), inv.blob(6, plaintext=b"w" * (CHUNK - 1))]
    for body in bodies:
        assert (await big_api.upload_lane(inv, body)).status == 201
    reply = await big_api.get(inv.lane_path + "/blobs")
    assert reply.status == 200
    assert reply.headers.get("Transfer-Encoding") == "chunked"
    items = CandidateListing.items_from_json(reply.body)
    assert [item.body for item in items] == bodies[::-1]
    assert all(item.signature is not None for item in items)
    raw = json.loads(reply.body)
    assert raw["count"] == 2
    assert raw["kind"] == "lane"
    assert [_unb64url(i["blob"]) for i in raw["items"]] == bodies[::-1]
    explicit = await big_api.get(inv.lane_path + "/blobs", params={"bodies": "inline"})
    assert explicit.body == reply.body


async def test_bad_bodies_value_and_head_requests(api: Api) -> None:
    inv = Invite()
    assert (await api.upload_open(inv, inv.blob(1))).status == 201
    bad = await api.get(inv.open_path + "/blobs", params={"bodies": "some"}, validate=False)
    assert bad.status == 400
    assert bad.problem_type == "invalid-query"
    head = await api.call("HEAD", inv.open_path + "/blobs", validate=False)
    assert head.status == 200
    assert head.body == b""
    head = await api.call("HEAD", inv.open_path + "/head", validate=False)
    assert head.status == 200
    assert head.body == b""


async def test_large_heads_stream_from_storage_with_the_cache_off(big_api: Api) -> None:
    inv = Invite()
    body = inv.blob(7, plaintext=b"h" * BIG)
    assert (await big_api.upload_open(inv, body)).status == 201
    for _ in range(2):
        head = await big_api.get(inv.open_path + "/head")
        assert head.status == 200
        assert head.body == body
        assert head.headers["Content-Length"] == str(len(body))


async def test_large_heads_from_the_head_cache_are_whole(
    service_factory: ServiceFactory, session: aiohttp.ClientSession
) -> None:
    """A head of several chunks that the cache keeps: the miss fills the entry, the hits
    write it in chunk-sized views of the cached bytes."""
    proc = service_factory(
        "--no-rate-limits-enabled", "--no-access-log", "--max-body-bytes", str(2 << 20)
    )
    api = Api(proc.base_url, session)
    inv = Invite()
    body = inv.blob(7, plaintext=b"c" * BIG)
    assert (await api.upload_open(inv, body)).status == 201
    for _ in range(3):
        head = await api.get(inv.open_path + "/head")
        assert head.status == 200
        assert head.body == body
        assert head.headers["Content-Length"] == str(len(body))


def _stalled_reader(base_url: str, path: str) -> socket.socket:
    """A connection that sends a GET and never reads (a tiny receive window), so the
    service's response stays in progress."""
    url = URL(base_url)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(5)
    sock.connect((url.host, url.port))
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {url.host}\r\n\r\n".encode())
    return sock


async def test_a_client_at_its_response_share_gets_429_not_5xx(
    service_factory: ServiceFactory, session: aiohttp.ClientSession
) -> None:
    proc = service_factory(
        "--no-rate-limits-enabled", "--no-access-log", "--max-body-bytes", str(8 << 20),
        "--response-bytes-in-flight", str(8 * CHUNK), "--response-client-share", "0.25",
    )
    api = Api(proc.base_url, session)
    inv = Invite()
    body = inv.blob(1, plaintext=os.urandom(7 << 20))
    sha = (await api.upload_open(inv, body)).json["sha256"]
    path = f"{inv.open_path}/blobs/{sha}"
    # Readers that do not read: each holds one chunk of the budget until it is done (more
    # of them than the share holds, so the share stays full).
    stalled = [_stalled_reader(proc.base_url, path) for _ in range(4)]
    try:
        # Wait until the stalled responses hold the client's whole share (the metric), then
        # ask once more from the same address.
        gauge = f"invitekit_response_bytes_in_flight {float(2 * CHUNK)}"
        for _ in range(200):
            metrics = await api.get("/metrics", validate=False)
            if gauge in metrics.body.decode():
                break
            await asyncio.sleep(0.05)
        assert gauge in metrics.body.decode()
        refused = await api.get(path)
        assert refused.status == 429
        assert refused.problem_type == "rate-limited"
        assert refused.headers["Retry-After"] == "1"
    finally:
        for sock in stalled:
            sock.close()
    for _ in range(100):  # the stalled responses end with their connections
        again = await api.get(path)
        if again.status == 200:
            break
        await asyncio.sleep(0.05)
    assert again.status == 200
    assert again.body == body


def test_response_budget_shares_and_global_bound() -> None:
    budget = response_budget(10 * CHUNK, client_share=0.25, network_share=0.5)
    assert budget.client_limit == int(2.5 * CHUNK)
    a, b, neighbour = "192.0.2.1", "198.51.100.1", "192.0.2.7"
    with budget.reserve(CHUNK, a), budget.reserve(CHUNK, a):
        with pytest.raises(Problem) as share, budget.reserve(CHUNK, a):
            pass
        assert share.value.code is ProblemCode.RATE_LIMITED
        assert share.value.extra["scope"] == "client-response-bytes"
        with budget.reserve(2 * CHUNK, neighbour):  # same /24: 4 of its 5 chunks
            with pytest.raises(Problem) as net, budget.reserve(2 * CHUNK, "192.0.2.9"):
                pass
            assert net.value.code is ProblemCode.RATE_LIMITED
            assert net.value.extra["scope"] == "network-response-bytes"
        holders = [budget.reserve(2 * CHUNK, f"203.0.{i}.1") for i in range(4)]
        for holder in holders:
            holder.__enter__()
        with pytest.raises(Problem) as full, budget.reserve(CHUNK, b):
            pass
        assert full.value.code is ProblemCode.UNAVAILABLE
        for holder in holders:
            holder.__exit__(None, None, None)
        assert budget.held_by(a) == 2 * CHUNK
    assert budget.in_flight == 0
    assert budget.held_by(a) == 0
    assert budget.clients == 0

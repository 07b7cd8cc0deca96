"""Expiry GC (timer and lazy-on-read), idle-slot GC, rate limits with Retry-After, and logs
that never carry secrets — each against its own real server process."""

from __future__ import annotations

import asyncio
import time

from .support import Api, Invite, b64


async def _eventually(check, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.1)


async def test_expired_blobs_are_hidden_and_collected_on_timer(
    service_factory, storage_backend, session
) -> None:
    svc = service_factory("--no-rate-limits-enabled", "--gc-interval-s", "0.3")
    api = Api(svc.base_url, session)
    inv = Invite()
    soon = time.time_ns() + 1_500_000_000
    sha = (await api.upload_open(inv, inv.blob(1, expires_at_ns=soon))).json["sha256"]
    await api.upload_lane(inv, inv.blob(1, expires_at_ns=soon))
    assert (await api.get(inv.open_path + "/head")).status == 200
    assert (await api.get(inv.lane_path + "/head")).status == 200
    await asyncio.sleep(max(0.0, (soon - time.time_ns()) / 1e9) + 0.05)
    assert (await api.get(inv.open_path + "/head")).status == 404
    assert (await api.get(inv.lane_path + "/head")).status == 404
    assert (await api.get(f"{inv.open_path}/blobs/{sha}")).status == 404
    assert (await api.get(inv.open_path + "/blobs")).json["count"] == 0
    await _eventually(lambda: storage_backend.count(svc.database_url, "blobs") == 0)


async def test_lazy_gc_on_read(
    service_factory, storage_backend, session
) -> None:
    svc = service_factory("--no-rate-limits-enabled", "--gc-interval-s", "3600")
    api = Api(svc.base_url, session)
    inv = Invite()
    soon = time.time_ns() + 800_000_000
    await api.upload_open(inv, inv.blob(1, expires_at_ns=soon))
    await asyncio.sleep(1.0)
    assert storage_backend.count(svc.database_url, "blobs") == 1
    assert (await api.get(inv.open_path + "/blobs")).json["count"] == 0
    await _eventually(lambda: storage_backend.count(svc.database_url, "blobs") == 0)


async def test_idle_slots_are_collected(
    service_factory, storage_backend, session
) -> None:
    svc = service_factory(
        "--no-rate-limits-enabled", "--gc-interval-s", "0.3", "--slot-idle-ttl-s", "3"
    )
    api = Api(svc.base_url, session)
    inv = Invite()
    await api.upload_lane(inv, inv.blob(1))
    await api.upload_open(inv, inv.blob(1))
    assert storage_backend.count(svc.database_url, "slots") == 2
    await _eventually(lambda: storage_backend.count(svc.database_url, "slots") == 0)
    assert (await api.get(inv.lane_path + "/head")).status == 404
    # The pass that deleted the rows reports them when it ends (PostgreSQL commits each
    # chunk as it goes, so the rows can be gone a moment before the metric moves).
    deadline = time.monotonic() + 10
    while True:
        metrics = (await api.call("GET", "/metrics")).body.decode()
        if 'invitekit_gc_deleted_total{what="idle_slot"}' in metrics:
            break
        assert time.monotonic() < deadline, "the idle-slot metric never moved"
        await asyncio.sleep(0.1)


async def test_per_client_write_limit(service_factory, session) -> None:
    svc = service_factory("--client-write-limit", "5/minute", "--slot-write-limit", "100/minute")
    api = Api(svc.base_url, session)
    statuses = []
    for _ in range(6):
        inv = Invite()
        statuses.append(await api.upload_open(inv, inv.blob(1)))
    assert [r.status for r in statuses[:5]] == [201] * 5
    limited = statuses[5]
    assert limited.status == 429
    assert limited.problem_type == "rate-limited"
    assert limited.json["scope"] == "client-write"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60


async def test_per_slot_write_limit(service_factory, session) -> None:
    svc = service_factory("--client-write-limit", "100/minute", "--slot-write-limit", "3/minute")
    api = Api(svc.base_url, session)
    inv = Invite()
    results = [await api.upload_lane(inv, inv.blob(e)) for e in range(1, 5)]
    assert [r.status for r in results] == [201, 201, 201, 429]
    assert results[3].json["scope"] == "slot-write"
    assert int(results[3].headers["Retry-After"]) >= 1
    other = Invite()
    assert (await api.upload_lane(other, other.blob(1))).status == 201  # other slots unaffected
    # Reads are not charged to the slot's write budget.
    assert (await api.get(inv.lane_path + "/head")).status == 200


async def test_per_client_read_limit(service_factory, session) -> None:
    svc = service_factory("--client-read-limit", "10/minute")
    api = Api(svc.base_url, session)
    inv = Invite()
    statuses = [(await api.get(inv.open_path + "/head")).status for _ in range(11)]
    assert statuses[:10] == [404] * 10
    assert statuses[10] == 429
    assert (await api.get("/healthz")).status == 200  # health is never limited


async def test_logs_are_json_and_carry_no_secrets(service_factory, session) -> None:
    svc = service_factory("--no-rate-limits-enabled", "--access-log")
    api = Api(svc.base_url, session)
    inv = Invite()
    body = inv.blob(1)
    await api.upload_lane(inv, body)
    await api.upload_open(inv, body)
    await api.post(inv.lane_path + "/blobs", b"junk", headers=inv.sign(b"junk"))
    await api.get(inv.lane_path + "/head")
    svc.stop()
    text = svc.log_text()
    import json

    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert any(line.get("msg") == "request" for line in lines)
    forbidden = [
        b64(inv.slot),
        inv.slot.hex(),
        b64(inv.key),
        inv.key.hex(),
        b64(inv.signer.lane_id),
        inv.sign(body)["Invitekit-Signature"],
        b64(body)[:40],
    ]
    for needle in forbidden:
        assert needle not in text
    tags = {line.get("slot") for line in lines if line.get("slot")}
    assert tags
    assert all(len(t.split(":")[1]) == 12 for t in tags)


async def test_request_budgets_count_an_ipv6_client_by_its_64(service_factory, session) -> None:
    """An IPv6 host holds a whole /64: rotating addresses inside it must not buy fresh
    request budgets (reads, writes) — the unit the byte budgets already count it by."""
    svc = service_factory(
        "--trust-forwarded-for", "--client-write-limit", "5/minute",
        "--slot-write-limit", "100/minute", "--client-read-limit", "5/minute",
    )  # fmt: skip
    api = Api(svc.base_url, session)

    def at(address: str) -> dict[str, str]:
        return {"X-Forwarded-For": address}

    writes = []
    for i in range(6):
        inv = Invite()
        address = at(f"2001:db8:1:2::{i + 1:x}")
        writes.append(await api.post(inv.open_path + "/blobs", inv.blob(1), headers=address))
    assert [r.status for r in writes[:5]] == [201] * 5
    assert writes[5].status == 429
    assert writes[5].json["scope"] == "client-write"
    inv = Invite()
    other = await api.post(inv.open_path + "/blobs", inv.blob(1), headers=at("2001:db8:1:3::1"))
    assert other.status == 201  # the next /64 is another client

    reads = [
        (await api.get(inv.open_path + "/head", headers=at(f"2001:db8:7:7:{i:x}::1"))).status
        for i in range(6)
    ]
    assert reads[:5] == [200] * 5
    assert reads[5] == 429

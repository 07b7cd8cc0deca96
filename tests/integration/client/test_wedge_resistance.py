"""Issue 8, client side: no invite holder can wedge an invite, junk never hides the genuine
blob, and the library's defaults keep an invite joinable.

Real rine-mls groups (``World``), the real service app on the in-process transport, the
library's *default* kinds and caps unless a test says otherwise. Each test is one of the
issue's cases, named after it, or one of XIP-82's test cases 13, 17 and 25 re-run with the
attacker writing to the keyed lane as well as the open slot. Names added by the fix are
imported where they are used, so each test fails on its own against the old code.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable

from invitekit.blob import EncryptedBlob, parse_blob, seal
from invitekit.client import InProcessTransport, InviteClient, SlotKind
from invitekit.drivers import (
    backstop_refresh,
    check_invite,
    committer_refresh,
    deep_check,
    join_invite,
)
from invitekit.join import (
    Discard,
    Joined,
    JoinOptions,
    PrecommitAborted,
    ReadyToCommit,
)
from invitekit.lane import LaneSigner
from invitekit.mls import parse_group_info
from invitekit.payload import InvitePayload
from invitekit.precommit import PrecommitCode
from invitekit.protocol import BlobRecord
from invitekit.refresh import TargetAction
from tests.support.groupinfos import (
    enabled_policy,
    fixture_key,
    fixture_slot,
    policy_gi,
    rine,
    seal_gi,
)

from .conftest import Service
from .scenario import Scenario
from .world import World

U64_MAX = (1 << 64) - 1
LANE = (SlotKind.LANE,)


def keyless_junk(epoch: int, digest: bytes | None = None) -> bytes:
    return EncryptedBlob(
        os.urandom(12), os.urandom(256), epoch, digest or os.urandom(32), 0
    ).to_bytes()


def holder_junk(key: bytes, epoch: int, digest: bytes | None = None) -> bytes:
    """An invite holder's junk: sealed under the invite key, so it passes AEAD."""
    return seal(b"junk", key, epoch=epoch, group_state_hash=digest or os.urandom(32)).to_bytes()


def scenario(world: World, client: InviteClient, service: Service) -> Scenario:
    return Scenario.start(world, client, [service])


async def library_join(sc: Scenario, name: str) -> object:
    """A join with the library's default options (both kinds read, both written)."""
    return await sc.join(name, options=JoinOptions())


async def member_refresh(sc: Scenario, member: str = "admin", **kw: object):  # type: ignore[no-untyped-def]
    """The committer role with the library's defaults (no ``kinds``)."""
    return await committer_refresh(
        sc.client,
        sc.world.group_info(member),
        sc.world.policy,
        sc.world.epoch_started_at_ns,
        resolver=sc.resolver,
        **kw,  # type: ignore[arg-type]
    )


async def test_issue8_case1_invite_holder_lane_wedge_costs_only_speed(
    world: World, client: InviteClient, service: Service
) -> None:
    from invitekit.refresh import RefreshMetrics, RefreshStatus
    sc = scenario(world, client, service)
    await member_refresh(sc)
    slot, key = sc.payload.external_group_id, sc.payload.symmetric_key
    # An invite holder pushes the lane head 2^20 epochs past the genuine one.
    wedge = holder_junk(key, world.epoch + (1 << 20))
    assert (await client.upload(service.url, slot, wedge, key=key)).ok
    world.ordinary_commit("admin")
    metrics = RefreshMetrics()
    report = await member_refresh(sc, metrics=metrics)
    (target,) = report.targets
    assert target.action is TargetAction.LANE_WEDGED  # detected, typed
    assert {(u.kind, u.ok, u.outcome) for u in target.uploads} == {
        (SlotKind.LANE, False, "stale"),
        (SlotKind.OPEN, True, "created"),  # the open slot is always written too
    }
    assert report.status is RefreshStatus.DEGRADED
    assert report.lane_wedged == (service.url,)
    assert metrics.lane_wedged == 1
    joined = await library_join(sc, "alice")
    assert isinstance(joined, Joined)
    assert joined.epoch == world.epoch
    # The joiner's own post-join upload also reaches the open slot.
    assert {(u.kind, u.ok) for u in joined.refresh} >= {(SlotKind.OPEN, True)}


async def test_issue8_case2_deep_check_stores_the_genuine_blob_beside_copied_metadata(
    world: World, client: InviteClient, service: Service
) -> None:
    sc = scenario(world, client, service)
    slot, key = sc.payload.external_group_id, sc.payload.symmetric_key
    view = parse_group_info(world.group_info())
    junk = holder_junk(key, view.epoch, view.digest)  # the genuine pair, junk inside
    assert (await client.upload(service.url, slot, junk, key=key)).outcome == "created"
    report = await deep_check(
        client, world.group_info(), world.policy, world.epoch_started_at_ns,
        resolver=sc.resolver, kinds=LANE,
    )
    (target,) = report.targets
    assert target.action is TargetAction.REUPLOADED
    assert [u.outcome for u in target.uploads] == ["created"]  # was "idempotent", not stored
    lane_only = JoinOptions(fetch_kinds=LANE, upload_kinds=LANE)
    joined = await sc.join("alice", options=lane_only)
    assert isinstance(joined, Joined)
    # Alice's post-join upload is her new state; a deep check opens it before calling the
    # lane healthy.
    again = await deep_check(
        client, world.group_info("alice"), world.policy, world.epoch_started_at_ns,
        resolver=sc.resolver, kinds=LANE,
    )
    assert [(t.action, t.verified, t.uploads) for t in again.targets] == [
        (TargetAction.HEALTHY, True, ())
    ]


async def test_issue8_case3_forged_epoch_flood_never_hides_a_retained_genuine_blob(
    world: World, client: InviteClient, inprocess: InProcessTransport, tmp_path: object
) -> None:
    url = inprocess.add_service(
        "wide", f"sqlite:///{tmp_path}/wide.sqlite3", rate_limits_enabled=False,
        access_log=False, log_level="WARNING", open_retention=32,
    )

    class Wide:
        def __init__(self) -> None:
            self.url = url

    sc = Scenario.start(world, client, [Wide()], kinds=(SlotKind.OPEN,))  # type: ignore[list-item]
    await sc.refresh()  # the genuine blob: the oldest arrival
    slot = sc.payload.external_group_id
    for _ in range(16):
        up = await client.upload(url, slot, keyless_junk(U64_MAX), kind=SlotKind.OPEN)
        assert up.ok
    fetched = await client.fetch(url, slot, kind=SlotKind.OPEN)
    assert len(fetched.candidates) == 17  # the default client cap holds the whole window
    joined = await library_join(sc, "alice")
    assert isinstance(joined, Joined)  # was all-failed-aead
    assert sum(d.reason is Discard.DECRYPTION_FAILED for d in joined.discarded) == 16


def test_issue8_case3_client_cap_keeps_the_newest_arrivals() -> None:
    from invitekit.client.service import keep_newest
    genuine = BlobRecord(b"genuine", epoch=2, arrival=0)
    forged = [BlobRecord(bytes([i]), epoch=U64_MAX, arrival=i + 1) for i in range(16)]
    listed = (*forged, genuine)  # the service lists by claimed epoch
    assert keep_newest(listed, 1) == (genuine,)
    kept = keep_newest(listed, 4)
    assert kept == (*forged[:3], genuine)  # listed order kept
    unranked = [BlobRecord(bytes([i])) for i in range(3)]
    assert keep_newest(unranked, 2) == tuple(unranked[:2])


async def test_issue8_case6_no_policy_means_external_commits_off(
    client: InviteClient, service: Service
) -> None:
    payload = InvitePayload(os.urandom(16), os.urandom(32))
    gi = rine("rine-classic-epochs-e2")  # a plain MLS group: no app_data_dictionary
    body = seal_gi(gi, payload.symmetric_key).to_bytes()
    assert (await client.upload(service.url, payload.external_group_id, body,
                                kind=SlotKind.OPEN)).ok

    async def resolver(pointer: object) -> list[str]:
        return [service.url]

    refused = await check_invite(payload, client=client, resolver=resolver)  # type: ignore[arg-type]
    assert isinstance(refused, PrecommitAborted)  # was "ready"
    assert refused.code is PrecommitCode.NO_POLICY

    published: list[object] = []

    async def commit(survivor: object) -> object:
        published.append(survivor)
        raise AssertionError("must not commit")

    joined = await join_invite(payload, commit, client=client, resolver=resolver)  # type: ignore[arg-type]
    assert isinstance(joined, PrecommitAborted)
    assert published == []
    supplied = enabled_policy(payload.symmetric_key, payload.external_group_id)
    ready = await check_invite(
        payload, client=client, resolver=resolver,  # type: ignore[arg-type]
        policy_provider=lambda view: supplied,
    )
    assert isinstance(ready, ReadyToCommit)


async def test_issue8_case6_max_uses_that_cannot_be_counted_is_said_so(
    client: InviteClient, start_service: Callable[..., Service]
) -> None:
    svc = start_service("uses")
    qr = InvitePayload(fixture_slot(), fixture_key())
    body = seal_gi(policy_gi("max-uses-2"), qr.symmetric_key).to_bytes()
    assert (await client.upload(svc.url, qr.external_group_id, body, kind=SlotKind.OPEN)).ok

    async def resolver(pointer: object) -> list[str]:
        return [svc.url]

    blind = await check_invite(qr, client=client, resolver=resolver)  # type: ignore[arg-type]
    assert isinstance(blind, ReadyToCommit)
    assert blind.max_uses == 2
    assert blind.uses is None  # was a silent 0
    assert blind.uses_unknown
    assert blind.to_json()["uses_unknown"] is True
    counted = await check_invite(
        qr, client=client, resolver=resolver,  # type: ignore[arg-type]
        membership_tags=lambda view: [qr.external_group_id, None],
    )
    assert isinstance(counted, ReadyToCommit)
    assert (counted.uses, counted.uses_unknown) == (1, False)
    full = await check_invite(
        qr, client=client, resolver=resolver,  # type: ignore[arg-type]
        membership_tags=lambda view: [qr.external_group_id] * 2,
    )
    assert isinstance(full, PrecommitAborted)
    assert full.code is PrecommitCode.MAX_USES_EXHAUSTED


async def test_issue8_case8_largest_xwing_group_info_round_trips_with_defaults(
    client: InviteClient, service: Service
) -> None:
    payload = InvitePayload(os.urandom(16), os.urandom(32))
    gi = rine("rine-xwing-large")
    assert len(gi) > 1_400_000
    body = seal_gi(gi, payload.symmetric_key).to_bytes()
    results = await client.upload_many(
        [service.url], payload.external_group_id, body, key=payload.symmetric_key
    )
    assert [(r.kind, r.ok) for r in results] == [(SlotKind.LANE, True), (SlotKind.OPEN, True)]

    async def resolver(pointer: object) -> list[str]:
        return [service.url]

    supplied = enabled_policy(payload.symmetric_key, payload.external_group_id)
    ready = await check_invite(
        payload, client=client, resolver=resolver,  # type: ignore[arg-type]
        policy_provider=lambda view: supplied,
    )
    assert isinstance(ready, ReadyToCommit)
    assert ready.survivor is not None
    assert ready.survivor.view.cipher_suite == parse_group_info(gi).cipher_suite


async def test_xip_13_poisoning_with_the_lane_attacked_too(
    world: World, client: InviteClient, service: Service
) -> None:
    from invitekit.refresh import RefreshStatus
    sc = scenario(world, client, service)
    await member_refresh(sc)
    slot, key = sc.payload.external_group_id, sc.payload.symmetric_key
    lane_id = LaneSigner(key).lane_id
    for epoch in (2**40, 2**63, 7):
        assert (await client.upload(service.url, slot, keyless_junk(epoch),
                                    kind=SlotKind.OPEN)).ok
        # Keyless on the invite's lane: a signature it can make is not the lane's.
        forged = await client.upload(
            service.url, slot, keyless_junk(epoch), lane_id=lane_id, signature=os.urandom(64)
        )
        assert (forged.ok, forged.http_status) == (False, 403)
    # An invite holder does reach the lane: its head jumps to 2^40.
    assert (await client.upload(service.url, slot, holder_junk(key, 2**40), key=key)).ok
    joined = await library_join(sc, "alice")
    assert isinstance(joined, Joined)
    assert joined.epoch == 2
    world.ordinary_commit("admin")
    assert (await member_refresh(sc)).status is RefreshStatus.DEGRADED  # lane wedged
    assert isinstance(await library_join(sc, "bob"), Joined)


async def test_xip_17_keyless_metadata_tamper_on_lane_and_open_slot(
    world: World, client: InviteClient, service: Service
) -> None:
    sc = scenario(world, client, service)
    await member_refresh(sc)
    slot, key = sc.payload.external_group_id, sc.payload.symmetric_key
    (stored,) = await client.stored_uploads(service.url, slot, SlotKind.LANE,
                                            LaneSigner(key).lane_id)
    blob = parse_blob(stored.body).blob
    variants = [
        EncryptedBlob(blob.nonce, blob.ciphertext, blob.epoch, blob.group_state_hash,
                      blob.expires_at_ns + 10**12),
        EncryptedBlob(blob.nonce, blob.ciphertext, blob.epoch + 1, blob.group_state_hash,
                      blob.expires_at_ns),
        EncryptedBlob(blob.nonce, blob.ciphertext, blob.epoch, os.urandom(32),
                      blob.expires_at_ns),
    ]
    for v in variants:
        body = v.to_bytes()
        assert (await client.upload(service.url, slot, body, kind=SlotKind.OPEN)).ok
        # The captured lane signature covers the original bytes only.
        replay = await client.upload(
            service.url, slot, body, lane_id=stored.lane_id, signature=stored.signature
        )
        assert (replay.ok, replay.http_status) == (False, 403)
        # An invite holder can sign the tampered bytes into the lane (forged epoch: new head).
        await client.upload(service.url, slot, body, key=key)
    ready = await sc.check(options=JoinOptions())
    assert isinstance(ready, ReadyToCommit)
    assert ready.survivor is not None
    assert ready.survivor.candidate.content_hash == hashlib.sha256(stored.body).digest()
    assert ready.survivor.epoch == blob.epoch
    assert all(d.reason is Discard.DECRYPTION_FAILED for d in ready.discarded)
    assert isinstance(await library_join(sc, "alice"), Joined)


async def test_xip_25_flood_recovery_with_the_lane_flooded_too(
    world: World, client: InviteClient, service: Service
) -> None:
    from invitekit.refresh import RefreshMetrics, RefreshStatus
    sc = scenario(world, client, service)
    await member_refresh(sc)
    slot, key = sc.payload.external_group_id, sc.payload.symmetric_key
    view = parse_group_info(world.group_info())
    # Distinct-blob floods copying the genuine pair: keyless on the open slot, an invite
    # holder on the lane (eight copies evict the genuine one), then a lane head jump.
    for _ in range(8):
        assert (await client.upload(service.url, slot, keyless_junk(view.epoch, view.digest),
                                    kind=SlotKind.OPEN)).ok
        assert (await client.upload(service.url, slot,
                                    holder_junk(key, view.epoch, view.digest), key=key)).ok
    assert (await client.upload(service.url, slot, holder_junk(key, view.epoch + 5), key=key)).ok
    evicted = await library_join(sc, "alice")
    assert not isinstance(evicted, Joined)
    assert sc.commits_from("alice") == 0

    async def no_sleep(seconds: float) -> None:
        return None

    fooled = await backstop_refresh(
        client, world.group_info(), world.policy, world.epoch_started_at_ns,
        resolver=sc.resolver, sleep=no_sleep,
    )
    assert {t.action for t in fooled.targets} == {TargetAction.STAND_DOWN}  # copied pair
    metrics = RefreshMetrics()
    healed = await deep_check(
        client, world.group_info(), world.policy, world.epoch_started_at_ns,
        resolver=sc.resolver, metrics=metrics,
    )
    actions = {t.kind: t.action for t in healed.targets}
    assert actions == {SlotKind.LANE: TargetAction.LANE_WEDGED,
                       SlotKind.OPEN: TargetAction.REUPLOADED}
    assert healed.status is RefreshStatus.DEGRADED
    assert metrics.lane_wedged == 1
    assert isinstance(await library_join(sc, "alice"), Joined)
    # A later epoch advance under a fresh flood on both: the committer repopulates the slot.
    for _ in range(8):
        assert (await client.upload(service.url, slot, keyless_junk(99), kind=SlotKind.OPEN)).ok
    world.ordinary_commit("admin")
    assert (await member_refresh(sc)).status is RefreshStatus.DEGRADED
    again = await library_join(sc, "bob")
    assert isinstance(again, Joined)
    assert again.epoch == world.epoch


async def test_a_refresh_that_stored_nothing_is_a_failure(
    world: World, client: InviteClient, service: Service
) -> None:
    from invitekit.refresh import RefreshStatus
    sc = scenario(world, client, service)
    service.kill()
    report = await member_refresh(sc)
    assert report.status is RefreshStatus.NOTHING_STORED
    assert not report.ok
    assert report.to_json()["status"] == "nothing-stored"

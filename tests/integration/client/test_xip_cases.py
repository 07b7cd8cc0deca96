"""XIP-82 "Test cases" that live on the client side, one named test each.

Real rine-mls groups, real ``invitekit-service`` processes (temp SQLite) on 127.0.0.1.
The QR is application-resolved (no pointer; the app's resolver names the services) and the
refresh pointers are opaque names the same resolver maps: the XIP's first-party path.
rine groups carry no app_data_dictionary, so the policy reaches the flow through the
caller's provider (the World's policy at the GroupInfo's epoch) — except where a test says
it uses a ts-mls GroupInfo whose AppData carries the policy itself.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable

from invitekit.blob import EncryptedBlob, parse_blob
from invitekit.client import InviteClient, SlotKind
from invitekit.drivers import backstop_refresh, deep_check, join_invite
from invitekit.join import (
    AllExpired,
    AllUndecryptable,
    Discard,
    Joined,
    JoinOptions,
    NoCandidates,
    PrecommitAborted,
    ReadyToCommit,
    RejectedAfterForks,
)
from invitekit.mls import parse_group_info
from invitekit.payload import InvitePayload
from invitekit.policy import rotate
from invitekit.precommit import PrecommitCode
from invitekit.protocol import ListingBodies
from invitekit.refresh import SkipReason
from tests.support.groupinfos import fixture_key, fixture_slot, policy_gi, seal_gi

from .conftest import ServiceProcess
from .scenario import HOUR_NS, Scenario
from .world import World

OPEN = (SlotKind.OPEN,)


def junk_blob(epoch: int, digest: bytes | None = None, expires_at_ns: int = 0) -> bytes:
    """A keyless attacker's upload: well-formed envelope, random ciphertext."""
    return EncryptedBlob(
        os.urandom(12), os.urandom(256), epoch, digest or os.urandom(32), expires_at_ns
    ).to_bytes()


async def slot_count(
    client: InviteClient, url: str, slot: bytes, kind: SlotKind, key: bytes
) -> int:
    fetched = await client.fetch(url, slot, kind=kind, key=key, max_candidates=64)
    assert fetched.ok, fetched
    return len(fetched.candidates)


async def test_xip_04_stale_group_info(
    world: World, client: InviteClient, service: ServiceProcess
) -> None:
    sc = Scenario.start(world, client, [service])
    await sc.refresh()  # invite produced at epoch 1
    world.ordinary_commit("admin")  # the group advances to epoch 2
    stale = await sc.join("alice")
    assert isinstance(stale, RejectedAfterForks)
    assert stale.attempts == 1
    assert "alice" not in world.members
    assert world.epoch == 2
    await sc.refresh()  # a refreshed blob appears
    joined = await sc.join("alice")
    assert isinstance(joined, Joined)
    assert joined.epoch == 3
    assert world.members["admin"].epoch() == 3


async def test_xip_05_admin_rotation(
    world: World, client: InviteClient, service: ServiceProcess
) -> None:
    sc = Scenario.start(world, client, [service])
    await sc.refresh()
    old_payload = sc.payload
    new_policy = rotate(world.policy)  # fresh key, same slot
    world.change_policy(new_policy)  # the rotation commit advances the epoch
    await sc.refresh()  # the new blob, sealed under the new key (lane of the new key + open)

    # The old key does not decrypt the new blob (same open slot)...
    check = await sc.check(old_payload)
    assert isinstance(check, ReadyToCommit)
    assert check.survivor is not None
    assert check.survivor.epoch == 1  # only the pre-rotation blob opens under the old key
    assert any(d.reason is Discard.DECRYPTION_FAILED and d.epoch == 2 for d in check.discarded)
    # ...and the retained pre-rotation blob is no longer joinable.
    old = await sc.join("old-qr", old_payload)
    assert isinstance(old, RejectedAfterForks)
    assert "old-qr" not in world.members
    new = await sc.join("new-qr")
    assert isinstance(new, Joined)
    assert new.epoch == 3


async def test_xip_06_tampered_blob(
    world: World, client: InviteClient, service: ServiceProcess
) -> None:
    sc = Scenario.start(world, client, [service], kinds=OPEN)
    genuine = seal_gi(world.group_info(), world.policy.symmetric_key or b"")
    flipped = bytearray(genuine.ciphertext)
    flipped[len(flipped) // 2] ^= 0x40
    tampered = EncryptedBlob(
        genuine.nonce, bytes(flipped), genuine.epoch, genuine.group_state_hash
    ).to_bytes()
    up = await client.upload(
        service.url, sc.payload.external_group_id, tampered, kind=SlotKind.OPEN
    )
    assert up.ok
    outcome = await sc.join("alice")
    assert isinstance(outcome, AllUndecryptable)
    assert outcome.count == 1
    assert sc.commits_from("alice") == 0  # aborted before publishing anything


async def test_xip_07_stale_qr_rotation(
    world: World, client: InviteClient, service: ServiceProcess
) -> None:
    sc = Scenario.start(world, client, [service])
    await sc.refresh()
    old_payload = sc.payload
    world.change_policy(rotate(world.policy, new_slot=True))  # new external_group_id
    await sc.refresh()  # lands on the new slot only
    assert sc.payload.external_group_id != old_payload.external_group_id
    # The old slot holds only the pre-rotation blob: the join is rejected and aborts.
    old = await sc.join("old-qr", old_payload)
    assert isinstance(old, RejectedAfterForks)
    assert "old-qr" not in world.members
    # An admin-deleted (empty) old slot: nothing to join from.
    gone = InvitePayload(os.urandom(16), old_payload.symmetric_key)
    assert isinstance(await sc.join("old-qr", gone), NoCandidates)
    assert isinstance(await sc.join("new-qr"), Joined)


async def test_xip_07_stale_qr_detected_pre_commit_from_group_info_policy(
    client: InviteClient, start_service: Callable[..., ServiceProcess]
) -> None:
    """ts-mls GroupInfos whose AppData carries the rotated policy: abort before any commit.

    The QR is the one printed before the rotation (fixture key and slot); a member who kept
    the old key re-wrapped the post-rotation GroupInfo under it, so the blob decrypts and
    only the pre-commit policy check can tell the joiner the invite was replaced.
    """
    qr = InvitePayload(fixture_slot(), fixture_key())
    published: list[object] = []

    async def commit(survivor: object) -> object:
        published.append(survivor)
        raise AssertionError("must not commit")

    for variant, id_matches in (("rotated-key", True), ("rotated-slot", False)):
        svc = start_service(variant)
        body = seal_gi(policy_gi(variant), qr.symmetric_key).to_bytes()
        assert (await client.upload(svc.url, qr.external_group_id, body, kind=SlotKind.OPEN)).ok

        async def resolver(pointer: object, url: str = svc.url) -> list[str]:
            return [url]

        outcome = await join_invite(qr, commit, client=client, resolver=resolver)  # type: ignore[arg-type]
        assert isinstance(outcome, PrecommitAborted)  # detected pre-commit, by definition
        assert outcome.code is PrecommitCode.STALE_QR
        assert not outcome.key_matches
        assert outcome.group_id_matches is id_matches
    assert published == []


async def test_xip_07_stale_qr_race_skips_refresh(
    world: World, client: InviteClient, service: ServiceProcess
) -> None:
    """Joined just before a slot rotation: stay in the group, upload nothing (step 9)."""
    sc = Scenario.start(world, client, [service])
    await sc.refresh()
    slot = sc.payload.external_group_id
    key = sc.payload.symmetric_key
    before = await slot_count(client, service.url, slot, SlotKind.LANE, key)
    outcome = await sc.join(
        "alice", after_publish=lambda: world.change_policy(rotate(world.policy, new_slot=True))
    )
    assert isinstance(outcome, Joined)
    assert outcome.refresh_skipped is SkipReason.STALE_QR
    assert outcome.refresh == ()
    assert "alice" in world.members
    assert await slot_count(client, service.url, slot, SlotKind.LANE, key) == before


async def test_xip_08_expired_blob(
    world: World, client: InviteClient, service: ServiceProcess
) -> None:
    sc = Scenario.start(world, client, [service], expires_at_ns=time.time_ns() + HOUR_NS)
    await sc.refresh()
    # The service still serves it; the joiner's clock says it is past expires_at_ns.
    later: Callable[[], int] = lambda: time.time_ns() + 2 * HOUR_NS  # noqa: E731
    outcome = await sc.join("alice", clock=later)
    assert isinstance(outcome, AllExpired)
    assert outcome.count >= 1
    assert sc.commits_from("alice") == 0
    assert isinstance(await sc.join("alice"), Joined)


async def test_xip_13_slot_poisoning_by_non_key_holder(
    world: World, client: InviteClient, service: ServiceProcess
) -> None:
    sc = Scenario.start(world, client, [service])
    await sc.refresh()
    slot = sc.payload.external_group_id
    for epoch in (2**40, 2**63, 7):
        up = await client.upload(service.url, slot, junk_blob(epoch), kind=SlotKind.OPEN)
        assert up.ok, up
    # Keyless writers cannot sign the invite's lane: their own key names another lane.
    rogue = await client.upload(service.url, slot, junk_blob(2**40), key=os.urandom(32))
    assert rogue.ok  # accepted... into a lane no joiner reads
    outcome = await sc.join("alice")
    assert isinstance(outcome, Joined)
    assert outcome.epoch == 2
    assert outcome.attempts == 1
    assert sum(d.reason is Discard.DECRYPTION_FAILED for d in outcome.discarded) == 3


async def test_xip_14_versioned_slot_selection(
    world: World, client: InviteClient, service: ServiceProcess
) -> None:
    sc = Scenario.start(world, client, [service], kinds=OPEN)
    key = world.policy.symmetric_key or b""
    slot = sc.payload.external_group_id
    states = [world.group_info()]
    for _ in range(3):
        world.ordinary_commit("admin")
        states.append(world.group_info())
    for index in (2, 0, 3, 1):  # arrival order differs from epoch order
        body = seal_gi(states[index], key).to_bytes()
        assert (await client.upload(service.url, slot, body, kind=SlotKind.OPEN)).ok
    ready = await sc.check()
    assert isinstance(ready, ReadyToCommit)
    assert ready.survivor is not None
    assert ready.survivor.epoch == world.epoch == 4
    joined = await sc.join("alice")
    assert isinstance(joined, Joined)
    assert joined.epoch == 5
    assert joined.attempts == 1


async def test_xip_15_forged_metadata_by_key_holder(
    world: World, client: InviteClient, service: ServiceProcess
) -> None:
    sc = Scenario.start(world, client, [service])
    await sc.refresh()
    key = world.policy.symmetric_key or b""
    slot = sc.payload.external_group_id
    gi = world.group_info()
    forged_epoch = seal_gi(gi, key, epoch=world.epoch + 5).to_bytes()
    # All-zero digest: sorts before the genuine one at the same epoch, so it is tried first.
    forged_digest = seal_gi(gi, key, digest=bytes(32)).to_bytes()
    assert (await client.upload(service.url, slot, forged_epoch, kind=SlotKind.OPEN)).ok
    assert (await client.upload(service.url, slot, forged_digest, kind=SlotKind.OPEN)).ok
    # A key-holder can also sign the lane: the forged higher epoch becomes its head.
    assert (await client.upload(service.url, slot, forged_epoch, key=key)).ok
    outcome = await sc.join("alice")
    assert isinstance(outcome, Joined)
    assert outcome.epoch == 2
    assert outcome.attempts == 1
    mismatched = [d for d in outcome.discarded if d.reason is Discard.METADATA_MISMATCH]
    assert len(mismatched) == 2  # forged epoch (lane+open: same bytes, merged) and digest


async def test_xip_17_keyless_metadata_tamper(
    world: World, client: InviteClient, service: ServiceProcess
) -> None:
    sc = Scenario.start(world, client, [service], kinds=OPEN, expire_in_ns=HOUR_NS)
    slot = sc.payload.external_group_id
    await sc.refresh()
    captured = (await client.fetch(service.url, slot, kind=SlotKind.OPEN)).candidates[0]
    blob = parse_blob(captured.raw).blob
    variants = [
        EncryptedBlob(
            blob.nonce,
            blob.ciphertext,
            blob.epoch,
            blob.group_state_hash,
            blob.expires_at_ns + 30 * HOUR_NS,
        ),  # extended expiry
        EncryptedBlob(
            blob.nonce, blob.ciphertext, blob.epoch + 1, blob.group_state_hash, blob.expires_at_ns
        ),  # forged epoch
        EncryptedBlob(
            blob.nonce, blob.ciphertext, blob.epoch, os.urandom(32), blob.expires_at_ns
        ),  # forged digest
    ]
    for v in variants:
        assert (await client.upload(service.url, slot, v.to_bytes(), kind=SlotKind.OPEN)).ok
    ready = await sc.check()
    assert isinstance(ready, ReadyToCommit)
    assert ready.survivor is not None
    assert ready.survivor.candidate.content_hash == captured.content_hash
    # Bodies by content address: only the variants ranked ahead of the genuine blob are
    # fetched (and fail the AEAD); the ones behind it are never read.
    genuine_key = (-blob.epoch, blob.group_state_hash, captured.content_hash)
    ahead = [
        v for v in variants
        if (-v.epoch, v.group_state_hash, hashlib.sha256(v.to_bytes()).digest()) < genuine_key
    ]
    assert [d.reason for d in ready.discarded] == [Discard.DECRYPTION_FAILED] * len(ahead)
    # With every body inline (the listing form older services send), all are triaged.
    client.listing_bodies = ListingBodies.INLINE
    ready = await sc.check()
    assert isinstance(ready, ReadyToCommit)
    assert ready.survivor is not None
    assert ready.survivor.candidate.content_hash == captured.content_hash
    assert sum(d.reason is Discard.DECRYPTION_FAILED for d in ready.discarded) == 3


async def test_xip_21_zombie_join_avoidance(
    world: World, client: InviteClient, service: ServiceProcess
) -> None:
    ten_min = 600 * 10**9
    sc = Scenario.start(world, client, [service], expire_in_ns=ten_min)
    await sc.refresh()  # effective expiry = epoch start + expire_in_ns (no campaign end)
    blob = parse_blob(
        (
            await client.fetch(
                service.url, sc.payload.external_group_id, key=sc.payload.symmetric_key
            )
        )
        .candidates[0]
        .raw
    ).blob
    assert blob.expires_at_ns == world.epoch_started_at_ns + ten_min
    stale_clock: Callable[[], int] = lambda: world.epoch_started_at_ns + ten_min + 1  # noqa: E731
    outcome = await sc.join("alice", clock=stale_clock)
    assert isinstance(outcome, AllExpired)
    assert sc.commits_from("alice") == 0  # nothing published: no zombie join
    # The clock-skew margin discards a blob that is about to cross its bound.
    margin = JoinOptions(expiry_margin_ns=ten_min)
    assert isinstance(await sc.join("alice", options=margin), AllExpired)


async def test_xip_23_member_driven_refresh(
    world: World, client: InviteClient, start_service: Callable[..., ServiceProcess]
) -> None:
    a, b = start_service("a"), start_service("b")
    sc = Scenario.start(world, client, [a, b], kinds=(SlotKind.LANE,))
    await sc.refresh()
    assert isinstance(await sc.join("alice"), Joined)
    world.ordinary_commit("admin")  # e.g. a rename: the admin commits, then goes offline
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    random_unit = iter([0.25] * 100).__next__
    report = await backstop_refresh(  # alice, a non-admin member, on her slow timer
        client,
        world.group_info("alice"),
        world.policy,
        world.epoch_started_at_ns,
        resolver=sc.resolver,
        random_unit=random_unit,
        sleep=sleep,
    )
    # Both kinds of both services (the scanned copies were lane-only).
    assert [t.action for t in report.targets] == ["uploaded"] * 4
    assert sleeps
    assert sleeps[0] == 0.25 * 10.0
    joined = await sc.join("bob")
    assert isinstance(joined, Joined)
    assert joined.epoch == world.epoch


async def test_xip_24_check_before_write(
    world: World, client: InviteClient, service: ServiceProcess
) -> None:
    sc = Scenario.start(world, client, [service], kinds=(SlotKind.LANE,))
    await sc.refresh()
    assert isinstance(await sc.join("alice"), Joined)
    assert isinstance(await sc.join("bob"), Joined)
    world.ordinary_commit("admin")  # alice and bob both merge the same commit
    slot, key = sc.payload.external_group_id, sc.payload.symmetric_key

    async def no_sleep(seconds: float) -> None:
        return None

    fast = await backstop_refresh(
        client,
        world.group_info("alice"),
        world.policy,
        world.epoch_started_at_ns,
        resolver=sc.resolver,
        sleep=no_sleep,
    )
    assert [t.action for t in fast.targets] == ["uploaded", "uploaded"]  # lane and open
    count = await slot_count(client, service.url, slot, SlotKind.LANE, key)
    slow = await backstop_refresh(
        client,
        world.group_info("bob"),
        world.policy,
        world.epoch_started_at_ns,
        resolver=sc.resolver,
        sleep=no_sleep,
    )
    assert [t.action for t in slow.targets] == ["stand-down", "stand-down"]
    assert slow.uploads == ()
    assert await slot_count(client, service.url, slot, SlotKind.LANE, key) == count


async def test_xip_25_flood_recovery_via_refresh(
    world: World, client: InviteClient, service: ServiceProcess
) -> None:
    sc = Scenario.start(world, client, [service], kinds=OPEN)  # the XIP's FIFO slot (N = 8)
    await sc.refresh()
    slot = sc.payload.external_group_id
    view = parse_group_info(world.group_info())
    # A distinct-blob flood that even copies the genuine (epoch, digest) pair.
    for _ in range(8):
        body = junk_blob(view.epoch, view.digest)
        assert (await client.upload(service.url, slot, body, kind=SlotKind.OPEN)).ok
    evicted = await sc.join("alice")
    assert isinstance(evicted, AllUndecryptable)
    assert sc.commits_from("alice") == 0

    async def no_sleep(seconds: float) -> None:
        return None

    # The cheap backstop is fooled by the copied pair (liveness signal, not validity)...
    fooled = await backstop_refresh(
        client,
        world.group_info(),
        world.policy,
        world.epoch_started_at_ns,
        resolver=sc.resolver,
        kinds=OPEN,
        sleep=no_sleep,
    )
    assert [t.action for t in fooled.targets] == ["stand-down"]
    # ...the rare deep check is not: it validates and re-uploads.
    healed = await deep_check(
        client,
        world.group_info(),
        world.policy,
        world.epoch_started_at_ns,
        resolver=sc.resolver,
        kinds=OPEN,
    )
    assert [t.action for t in healed.targets] == ["reuploaded"]
    assert isinstance(await sc.join("alice"), Joined)
    # A later epoch advance: the committer role repopulates the slot on its own.
    for _ in range(8):
        assert (await client.upload(service.url, slot, junk_blob(99), kind=SlotKind.OPEN)).ok
    world.ordinary_commit("admin")
    await sc.refresh("admin")
    again = await sc.join("bob")
    assert isinstance(again, Joined)
    assert again.epoch == world.epoch

"""Issue 8, service side: whole-blob identity on lanes, reads cut by arrival, no jump gate
that can lock genuine uploads out, and a default body limit sized for XMTP's suites.

Every genuine blob here is a real sealed GroupInfo (``fixtures/rine``); every attack is
what a keyless writer or an invite holder can send to a real ``invitekit-service``.
"""

from __future__ import annotations

import os
import time

import pytest
from invitekit_service.cli import load_settings

from invitekit.blob import EncryptedBlob, open_blob, seal
from invitekit.mls import parse_group_info

from .support import REPO, U64_MAX, Api, Invite, unb64

RINE = REPO / "fixtures" / "rine"


def genuine(inv: Invite, name: str = "rine-classic-epochs-e2") -> tuple[bytes, int, bytes]:
    """A real GroupInfo sealed under the invite key at its true (epoch, digest)."""
    gi = (RINE / f"{name}.bin").read_bytes()
    view = parse_group_info(gi)
    body = seal(gi, inv.key, epoch=view.epoch, group_state_hash=view.digest).to_bytes()
    return body, view.epoch, view.digest


def keyless_junk(epoch: int, digest: bytes | None = None) -> bytes:
    """Well-formed envelope, random ciphertext: what a writer without the key can send."""
    return EncryptedBlob(
        os.urandom(12), os.urandom(300), epoch, digest or os.urandom(32), 0
    ).to_bytes()


def opens(inv: Invite, item: dict[str, object]) -> bool:
    try:
        open_blob(unb64(str(item["blob"])), inv.key, time.time_ns())
    except Exception:
        return False
    return True


async def test_issue8_case2_lane_metadata_copy_never_answers_for_the_genuine_blob(
    api: Api,
) -> None:
    """Junk sealed under the key at the genuine pair first; the genuine blob is still stored."""
    inv = Invite()
    body, epoch, digest = genuine(inv)
    junk = seal(b"not a group info", inv.key, epoch=epoch, group_state_hash=digest).to_bytes()
    assert (await api.upload_lane(inv, junk)).status == 201
    real = await api.upload_lane(inv, body)
    assert real.status == 201  # was 200 "idempotent" and not stored
    assert real.json["outcome"] == "created"
    listing = (await api.get(inv.lane_path + "/blobs")).json
    assert {unb64(i["blob"]) for i in listing["items"]} == {junk, body}
    # Only a byte-identical re-upload is idempotent, and it names the stored copy.
    again = await api.upload_lane(inv, body)
    assert again.status == 200
    assert again.json["outcome"] == "idempotent"
    assert again.json["sha256"] == real.json["sha256"]


async def test_issue8_case3_reads_cut_by_arrival_not_by_claimed_epoch(
    service_factory, session
) -> None:
    svc = service_factory("--no-rate-limits-enabled", "--open-retention", "32")
    api = Api(svc.base_url, session)
    inv = Invite()
    body, epoch, _ = genuine(inv)
    for _ in range(16):
        assert (await api.upload_open(inv, keyless_junk(U64_MAX))).status == 201
    assert (await api.upload_open(inv, body)).status == 201  # the most recent arrival
    one = (await api.get(inv.open_path + "/blobs", params={"limit": "1"})).json
    assert [unb64(i["blob"]) for i in one["items"]] == [body]  # was a forged U64_MAX
    assert one["items"][0]["arrival"] == 0
    # The whole window: ordered by claimed epoch, each item with its arrival rank.
    full = (await api.get(inv.open_path + "/blobs")).json
    assert full["count"] == 17
    assert [i["epoch"] for i in full["items"]] == [U64_MAX] * 16 + [epoch]
    assert sorted(i["arrival"] for i in full["items"]) == list(range(17))
    assert next(i for i in full["items"] if opens(inv, i))["arrival"] == 0


async def test_issue8_case4_low_epoch_squat_cannot_lock_genuine_uploads_out(
    service_factory, session
) -> None:
    # The gate cannot be configured any more (it could only refuse genuine uploads).
    for flag in ("--open-max-epoch-jump", "--lane-max-epoch-jump"):
        with pytest.raises(SystemExit):
            load_settings([flag, "1000"])
    svc = service_factory("--no-rate-limits-enabled")
    api = Api(svc.base_url, session)
    inv = Invite()
    squatter = Invite(slot=inv.slot)
    for _ in range(8):
        assert (await api.upload_open(squatter, keyless_junk(0))).status == 201
    assert (await api.upload_open(inv, inv.blob(5000))).status == 201
    # On a lane (default settings) a group that advanced more than 2^20 epochs between two
    # lane writes is not locked out either (was 422 epoch-jump for ever).
    assert (await api.upload_lane(inv, inv.blob(5))).status == 201
    assert (await api.upload_lane(inv, inv.blob(5 + (1 << 20) + 1))).status == 201


async def test_issue8_case8_largest_xmtp_group_info_uploads_with_default_settings(
    service_factory, session
) -> None:
    svc = service_factory("--no-rate-limits-enabled")  # default max_body_bytes
    api = Api(svc.base_url, session)
    for name in ("rine-xwing-large", "rine-classic-large"):
        inv = Invite()
        body, _, _ = genuine(inv, name)
        r = await api.upload_open(inv, body)
        assert r.status == 201, (name, len(body))  # X-Wing: 1.40 MB, was 413
        assert (await api.upload_lane(inv, body)).status in (200, 201)
    # Room to spare: the limit is at least twice the largest of them.
    largest = max(len(genuine(inv, n)[0]) for n in ("rine-xwing-large", "rine-classic-large"))
    assert largest > 1_400_000
    padded = seal(os.urandom(2 * largest), inv.key, epoch=1, group_state_hash=os.urandom(32))
    assert (await api.upload_open(inv, padded.to_bytes())).status == 201


@pytest.mark.parametrize("limit", [1, 4])
async def test_issue8_lane_reads_keep_the_newest_copies(api: Api, limit: int) -> None:
    inv = Invite()
    bodies = [inv.blob(e) for e in (1, 2, 3, 3, 3)]
    for b in bodies:
        assert (await api.upload_lane(inv, b)).status == 201
    items = (await api.get(inv.lane_path + "/blobs", params={"limit": str(limit)})).json["items"]
    assert {unb64(i["blob"]) for i in items} == set(bodies[-limit:])

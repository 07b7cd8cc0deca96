"""The keyless wedge: a writer without the invite key tries to brick the slot with a
u64::MAX epoch. Lanes refuse it (no valid signature); the open slot stores it but never
evicts by epoch, so genuine uploads and fetches keep working."""

from __future__ import annotations

import os
import time

from invitekit.blob import open_blob
from invitekit.errors import DecryptionFailed

from .support import U64_MAX, Api, Invite, b64


async def _joiner_selects(api: Api, path: str, key: bytes) -> int | None:
    """Validate-and-select as a joiner: highest epoch among candidates that decrypt."""
    listing = (await api.get(path + "/blobs")).json
    from .support import unb64

    best = None
    for item in listing["items"]:
        try:
            open_blob(unb64(item["blob"]), key, time.time_ns())
        except DecryptionFailed:
            continue
        best = item["epoch"] if best is None else max(best, item["epoch"])
    return best


async def test_keyless_wedge_on_lane_is_refused(api: Api) -> None:
    inv = Invite()
    attacker = Invite(slot=inv.slot)  # knows the slot id (and the lane id), not the key
    assert (await api.upload_lane(inv, inv.blob(4))).status == 201
    junk = attacker.blob(U64_MAX)
    unsigned = await api.post(inv.lane_path + "/blobs", junk)
    assert unsigned.status == 401
    forged = await api.post(
        inv.lane_path + "/blobs",
        junk,
        headers={"Invitekit-Signature": b64(attacker.signer.sign(inv.slot, junk))},
    )
    assert forged.status == 403
    random_sig = await api.post(
        inv.lane_path + "/blobs", junk, headers={"Invitekit-Signature": b64(os.urandom(64))}
    )
    assert random_sig.status == 403
    # The attacker's own lane is a different lane: invisible to joiners of this invite.
    assert (await api.upload_lane(attacker, junk)).status == 201
    # Genuine uploads and fetches keep working.
    assert (await api.upload_lane(inv, inv.blob(5))).status == 201
    head = await api.get(inv.lane_path + "/head")
    assert head.headers["Invitekit-Epoch"] == "5"
    open_blob(head.body, inv.key, time.time_ns())
    assert await _joiner_selects(api, inv.lane_path, inv.key) == 5


async def test_keyless_wedge_on_open_slot_is_harmless(api: Api) -> None:
    inv = Invite()
    attacker = Invite(slot=inv.slot)
    assert (await api.upload_open(inv, inv.blob(4))).status == 201
    assert (await api.upload_open(attacker, attacker.blob(U64_MAX))).status == 201
    # A lower genuine epoch is still accepted after the forged maximum (no epoch ordering),
    # and nothing genuine was evicted.
    assert (await api.upload_open(inv, inv.blob(5))).status == 201
    epochs = [i["epoch"] for i in (await api.get(inv.open_path + "/blobs")).json["items"]]
    assert epochs == [U64_MAX, 5, 4]
    assert await _joiner_selects(api, inv.open_path, inv.key) == 5
    exists = await api.get(
        inv.open_path + "/presence",
        params={
            "epoch": "5",
            "group_state_hash": b64(__import__("hashlib").sha256(b"5").digest()),
        },
    )
    assert exists.json["present"] is True

"""Keyed lanes over HTTP against a real invitekit-service process (every reply is checked
against spec/openapi.yaml by the Api helper)."""

from __future__ import annotations

import os

import aiohttp

from .support import Api, Invite, ServiceProcess, b64, digest_for, unb64


async def test_first_and_higher_uploads_are_created(api: Api) -> None:
    inv = Invite()
    first = inv.blob(1)
    r = await api.upload_lane(inv, first)
    assert r.status == 201
    assert r.json["outcome"] == "created"
    assert r.json["head"] == {"epoch": 1, "group_state_hash": b64(digest_for(1))}
    assert r.headers["Location"] == r.json["location"]
    assert r.headers["Location"].endswith("/blobs/" + r.json["sha256"])
    r2 = await api.upload_lane(inv, inv.blob(2))
    assert r2.status == 201
    assert r2.json["head"]["epoch"] == 2


async def test_equal_epoch_equal_hash_is_idempotent_only_for_the_same_bytes(api: Api) -> None:
    inv = Invite()
    original = inv.blob(7)
    created = await api.upload_lane(inv, original)
    assert created.status == 201
    again = await api.upload_lane(inv, original)
    assert again.status == 200
    assert again.json["outcome"] == "idempotent"
    resealed = inv.blob(7)  # same epoch and state, fresh nonce: other bytes
    assert resealed != original
    r = await api.upload_lane(inv, resealed)
    assert r.status == 201
    assert r.json["outcome"] == "created"
    assert r.json["sha256"] != created.json["sha256"]
    assert r.json["head"]["epoch"] == 7  # the head did not move
    listing = await api.get(inv.lane_path + "/blobs")
    assert listing.json["count"] == 2  # both copies are retained


async def test_fork_and_stale_are_409_with_head(api: Api) -> None:
    inv = Invite()
    assert (await api.upload_lane(inv, inv.blob(5))).status == 201
    fork = await api.upload_lane(inv, inv.blob(5, "other-branch"))
    assert fork.status == 409
    assert fork.problem_type == "fork"
    assert fork.json["head"] == {"epoch": 5, "group_state_hash": b64(digest_for(5))}
    stale = await api.upload_lane(inv, inv.blob(4))
    assert stale.status == 409
    assert stale.problem_type == "stale"
    assert stale.json["head"]["epoch"] == 5
    listing = await api.get(inv.lane_path + "/blobs")
    assert [i["epoch"] for i in listing.json["items"]] == [5]


async def test_no_epoch_jump_gate(api: Api) -> None:
    inv = Invite()
    assert (await api.upload_lane(inv, inv.blob(10))).status == 201
    assert (await api.upload_lane(inv, inv.blob(10 + (1 << 40)))).status == 201


async def test_missing_and_bad_signatures_store_nothing(api: Api) -> None:
    inv = Invite()
    body = inv.blob(3)
    missing = await api.post(inv.lane_path + "/blobs", body)
    assert missing.status == 401
    assert missing.problem_type == "missing-signature"
    assert "WWW-Authenticate" in missing.headers
    other = Invite(slot=inv.slot)
    cases = {
        "other key": other.signer.sign(inv.slot, body),
        "other slot": inv.signer.sign(os.urandom(16), body),
        "other body": inv.signer.sign(inv.slot, inv.blob(3)),
        "truncated": inv.signer.sign(inv.slot, body)[:63],
    }
    for name, sig in cases.items():
        r = await api.post(
            inv.lane_path + "/blobs", body, headers={"Invitekit-Signature": b64(sig)}
        )
        assert r.status == 403, name
        assert r.problem_type == "bad-signature"
    for junk in ("not base64!", "=", b64(b"\x00" * 64) + "=="):
        r = await api.post(inv.lane_path + "/blobs", body, headers={"Invitekit-Signature": junk})
        assert r.status == 403
    head = await api.get(inv.lane_path + "/head")
    assert head.status == 404
    listing = await api.get(inv.lane_path + "/blobs")
    assert listing.json["count"] == 0


async def test_history_keeps_last_n_in_candidate_order(api: Api) -> None:
    inv = Invite()  # default lane_history = 8
    for epoch in range(1, 12):
        assert (await api.upload_lane(inv, inv.blob(epoch))).status == 201
    listing = await api.get(inv.lane_path + "/blobs")
    assert [i["epoch"] for i in listing.json["items"]] == list(range(11, 3, -1))
    limited = await api.get(inv.lane_path + "/blobs", params={"limit": "3"})
    assert [i["epoch"] for i in limited.json["items"]] == [11, 10, 9]
    bad = await api.get(inv.lane_path + "/blobs", params={"limit": "0"})
    assert bad.status == 400


async def test_signature_is_served_and_upload_can_be_mirrored(
    api: Api, service_factory, session: aiohttp.ClientSession
) -> None:
    inv = Invite()
    body = inv.blob(9)
    sig = inv.sign(body)["Invitekit-Signature"]
    assert (await api.upload_lane(inv, body)).status == 201
    head = await api.get(inv.lane_path + "/head")
    assert head.body == body
    assert head.headers["Invitekit-Signature"] == sig
    item = (await api.get(inv.lane_path + "/blobs")).json["items"][0]
    assert item["signature"] == sig
    assert unb64(item["blob"]) == body
    # A third party (no key) mirrors the upload verbatim to another service.
    mirror: ServiceProcess = service_factory("--no-rate-limits-enabled", "--no-access-log")
    other = Api(mirror.base_url, session)
    r = await other.post(
        inv.lane_path + "/blobs",
        unb64(item["blob"]),
        headers={"Invitekit-Signature": item["signature"]},
    )
    assert r.status == 201
    assert (await other.get(inv.lane_path + "/head")).body == body


async def test_lanes_are_independent_per_key(api: Api) -> None:
    a = Invite()
    b = Invite(slot=a.slot)  # same slot id, rotated key -> a new lane
    assert (await api.upload_lane(a, a.blob(50))).status == 201
    assert (await api.upload_lane(b, b.blob(1))).status == 201
    assert (await api.get(b.lane_path + "/head")).headers["Invitekit-Epoch"] == "1"
    assert (await api.get(a.lane_path + "/head")).headers["Invitekit-Epoch"] == "50"


async def test_content_addressed_put(api: Api) -> None:
    inv = Invite()
    body = inv.blob(2)
    sha = __import__("hashlib").sha256(body).hexdigest()
    r = await api.call("PUT", f"{inv.lane_path}/blobs/{sha}", body=body, headers=inv.sign(body))
    assert r.status == 201
    again = await api.call("PUT", f"{inv.lane_path}/blobs/{sha}", body=body, headers=inv.sign(body))
    assert again.status == 200
    wrong = await api.call(
        "PUT", f"{inv.lane_path}/blobs/{'0' * 64}", body=body, headers=inv.sign(body)
    )
    assert wrong.status == 400
    assert wrong.problem_type == "content-address-mismatch"
    unsigned = await api.call("PUT", f"{inv.lane_path}/blobs/{sha}", body=body)
    assert unsigned.status == 401

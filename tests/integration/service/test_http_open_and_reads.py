"""Open slots, read routes, caching headers and input handling over HTTP (real process)."""

from __future__ import annotations

import hashlib
import os
import time

from invitekit.blob import parse_blob
from invitekit.wire import Dialect

from .support import Api, Invite, b64, digest_for, unb64


async def test_open_slot_is_fifo_not_by_epoch(api: Api) -> None:
    inv = Invite()  # default open_retention = 8
    uploads = [inv.blob(e) for e in (900, 1, 2, 3, 4, 5, 6, 7)]
    for body in uploads:
        assert (await api.upload_open(inv, body)).status == 201
    # The ninth arrival (low epoch) evicts the *oldest arrival* (epoch 900), not the lowest epoch.
    assert (await api.upload_open(inv, inv.blob(0))).status == 201
    epochs = [i["epoch"] for i in (await api.get(inv.open_path + "/blobs")).json["items"]]
    assert epochs == [7, 6, 5, 4, 3, 2, 1, 0]


async def test_open_slot_coalesces_only_identical_blobs(api: Api) -> None:
    inv = Invite()
    body = inv.blob(3)
    first = await api.upload_open(inv, body)
    assert first.status == 201
    same = await api.upload_open(inv, body)
    assert same.status == 200
    assert same.json["outcome"] == "coalesced"
    # Same five fields in the legacy dialect: still the same blob.
    legacy = parse_blob(body).blob.to_bytes(Dialect.LEGACY)
    assert legacy != body
    coalesced = await api.upload_open(inv, legacy)
    assert coalesced.status == 200
    assert coalesced.json["sha256"] == first.json["sha256"]
    # Same metadata, different nonce/ciphertext: a distinct entry.
    distinct = await api.upload_open(inv, inv.blob(3))
    assert distinct.status == 201
    items = (await api.get(inv.open_path + "/blobs")).json["items"]
    assert len(items) == 2


async def test_open_slot_keeps_forks_in_candidate_order(api: Api) -> None:
    inv = Invite()
    states = ["c", "a", "b"]
    for s in states:
        assert (await api.upload_open(inv, inv.blob(4, s))).status == 201
    assert (await api.upload_open(inv, inv.blob(2))).status == 201
    items = (await api.get(inv.open_path + "/blobs")).json["items"]
    expected = sorted(digest_for(s) for s in states)
    assert [unb64(i["group_state_hash"]) for i in items[:3]] == expected
    assert [i["epoch"] for i in items] == [4, 4, 4, 2]
    assert all(i["signature"] is None for i in items)


async def test_head_etag_and_cache_headers(api: Api) -> None:
    inv = Invite()
    for epoch in (1, 2):
        await api.upload_lane(inv, inv.blob(epoch))
        await api.upload_open(inv, inv.blob(epoch))
    for path in (inv.lane_path, inv.open_path):
        head = await api.get(path + "/head")
        assert head.status == 200
        assert head.headers["Content-Type"] == "application/octet-stream"
        etag = head.headers["ETag"]
        assert etag == f'"{hashlib.sha256(head.body).hexdigest()}"'
        cc = head.headers["Cache-Control"]
        assert "max-age=" in cc
        assert "stale-while-revalidate=" in cc
        assert "public" in cc
        assert head.headers["Invitekit-Epoch"] == "2"
        assert unb64(head.headers["Invitekit-Group-State-Hash"]) == digest_for(2)
        assert parse_blob(head.body).blob.epoch == 2
        for inm in (etag, f"W/{etag}", f'"{"0" * 64}", {etag}', "*"):
            nm = await api.get(path + "/head", headers={"If-None-Match": inm})
            assert nm.status == 304
            assert nm.body == b""
            assert nm.headers["ETag"] == etag
        miss = await api.get(path + "/head", headers={"If-None-Match": f'"{"0" * 64}"'})
        assert miss.status == 200
        # The head follows writes immediately (the cache is invalidated on commit).
    await api.upload_lane(inv, inv.blob(3))
    assert (await api.get(inv.lane_path + "/head")).headers["Invitekit-Epoch"] == "3"


async def test_content_addressed_reads_are_immutable(api: Api) -> None:
    inv = Invite()
    body = inv.blob(1)
    sha = (await api.upload_open(inv, body)).json["sha256"]
    r = await api.get(f"{inv.open_path}/blobs/{sha}")
    assert r.status == 200
    assert r.body == body
    assert "immutable" in r.headers["Cache-Control"]
    assert r.headers["ETag"] == f'"{sha}"'
    head = await api.call("HEAD", f"{inv.open_path}/blobs/{sha}")
    assert head.status == 200
    assert head.body == b""
    assert head.headers["Content-Length"] == str(len(body))
    missing = await api.call("HEAD", f"{inv.open_path}/blobs/{'a' * 64}")
    assert missing.status == 404
    assert missing.body == b""
    nm = await api.get(f"{inv.open_path}/blobs/{sha}", headers={"If-None-Match": f'"{sha}"'})
    assert nm.status == 304
    bad = await api.get(f"{inv.open_path}/blobs/XYZ")
    assert bad.status == 400


async def test_expiring_blob_max_age_is_bounded(api: Api) -> None:
    inv = Invite()
    body = inv.blob(1, expires_at_ns=time.time_ns() + 120 * 10**9)
    sha = (await api.upload_open(inv, body)).json["sha256"]
    r = await api.get(f"{inv.open_path}/blobs/{sha}")
    max_age = int(r.headers["Cache-Control"].split("max-age=")[1].split(",")[0])
    assert 100 <= max_age <= 120


async def test_lookup_and_presence(api: Api) -> None:
    inv = Invite()
    for s in ("x", "y"):
        await api.upload_open(inv, inv.blob(8, s))
    await api.upload_open(inv, inv.blob(7))
    params = {"epoch": "8", "group_state_hash": b64(digest_for("y"))}
    lookup = await api.get(inv.open_path + "/blobs", params=params)
    assert lookup.json["count"] == 1
    assert lookup.json["items"][0]["group_state_hash"] == params["group_state_hash"]
    presence = await api.get(inv.open_path + "/presence", params=params)
    assert presence.json["present"] is True
    assert presence.json["count"] == 1
    assert set(presence.json["items"][0]) == {"sha256", "nonce"}  # never the ciphertext
    absent = await api.get(
        inv.open_path + "/presence",
        params={"epoch": "9", "group_state_hash": params["group_state_hash"]},
    )
    assert absent.json == {"present": False, "count": 0, "items": []}
    for bad in (
        {"epoch": "8"},
        {"epoch": "x", "group_state_hash": params["group_state_hash"]},
        {"epoch": "8", "group_state_hash": "abc"},
        {"epoch": str(1 << 64), "group_state_hash": params["group_state_hash"]},
    ):
        r = await api.get(inv.open_path + "/presence", params=bad)
        assert r.status == 400
        assert r.problem_type == "invalid-query"
    lane = Invite()
    await api.upload_lane(lane, lane.blob(3))
    lp = await api.get(
        lane.lane_path + "/presence", params={"epoch": "3", "group_state_hash": b64(digest_for(3))}
    )
    assert lp.json["present"] is True


async def test_empty_slot_reads(api: Api) -> None:
    inv = Invite()
    assert (await api.get(inv.open_path + "/head")).status == 404
    assert (await api.get(inv.lane_path + "/head")).problem_type == "not-found"
    listing = await api.get(inv.lane_path + "/blobs")
    assert listing.json["count"] == 0
    assert listing.json["lane"] == b64(inv.signer.lane_id)


async def test_uploads_must_be_blobs(api: Api) -> None:
    inv = Invite()
    good = parse_blob(inv.blob(1)).blob
    from invitekit.proto import external_invite_legacy_pb2 as legacy_pb

    def raw(**fields: object) -> bytes:
        v1 = legacy_pb.EncryptedGroupInfoBlobV1(
            nonce=fields.get("nonce", good.nonce),
            ciphertext=fields.get("ciphertext", good.ciphertext),
            epoch=1,
            group_state_hash=fields.get("digest", good.group_state_hash),
        )
        return legacy_pb.EncryptedGroupInfoBlob(v1=v1).SerializeToString()

    cases = {
        b"hello, file host": None,
        b"": None,
        raw(nonce=b"\x00" * 11): "invalid-nonce-length",
        raw(ciphertext=b"\x00" * 15): "ciphertext-too-short",
        raw(digest=b"\x00" * 48): "invalid-digest-length",  # 48 not allowed by default
        raw(digest=b""): "missing-group-state-hash",
    }
    for body, code in cases.items():
        for r in (await api.upload_open(inv, body), await api.upload_lane(inv, body)):
            assert r.status == 400, body[:20]
            assert r.problem_type == "invalid-blob"
            if code:
                assert r.json["code"] == code
    assert (await api.get(inv.open_path + "/blobs")).json["count"] == 0


async def test_expired_on_arrival_is_refused(api: Api) -> None:
    inv = Invite()
    r = await api.upload_open(inv, inv.blob(1, expires_at_ns=time.time_ns() - 1))
    assert r.status == 422
    assert r.problem_type == "expired"


async def test_body_limit_is_413(api: Api) -> None:
    inv = Invite()  # the shared server runs with --max-body-bytes 65536
    big = inv.blob(1, plaintext=os.urandom(70_000))
    r = await api.upload_open(inv, big)
    assert r.status == 413
    assert r.problem_type == "payload-too-large"
    r = await api.upload_lane(inv, big)
    assert r.status == 413


async def test_slot_and_lane_id_rules(api: Api) -> None:
    body = Invite().blob(1)
    for slot, ok in (
        (b"abcd", True),
        (b"\x01" * 255, True),
        (b"abc", False),
        (b"\x01" * 256, False),
    ):
        r = await api.post(f"/v1/slots/{b64(slot)}/open/blobs", body)
        assert (r.status in (200, 201)) is ok, (len(slot), r.status)
        if not ok:
            assert r.problem_type == "invalid-slot-id"
    for text in (
        "YWJjZA==",
        "YWJjZA%3D%3D",
        "YW+jZA",
        "YWJjZB",
    ):  # padded, wrong alphabet, non-canonical
        r = await api.get(f"/v1/slots/{text}/open/head")
        assert r.status == 400, text
    inv = Invite()
    r = await api.get(f"/v1/slots/{b64(inv.slot)}/lanes/{b64(b'x' * 31)}/head")
    assert r.problem_type == "invalid-lane-id"


async def test_routing_errors_are_problems(api: Api) -> None:
    for path in ("/nowhere", "/no%0Awhere"):  # a newline in the path as well
        r = await api.call("GET", path)
        assert r.status == 404
        assert r.problem_type == "not-found"
    inv = Invite()
    r = await api.call("DELETE", inv.open_path + "/blobs", validate=False)  # not in the spec
    assert r.status == 405
    assert r.problem_type == "method-not-allowed"
    assert "POST" in r.headers["Allow"]
    r = await api.call("PATCH", "/healthz", validate=False)
    assert r.status == 405
    assert set(r.headers["Allow"].split(",")) == {"GET", "HEAD"}
    assert (await api.get(inv.open_path + "/head")).status == 404  # an empty slot
    # Latency is labelled with the route template, and "unmatched" when none matched.
    metrics = (await api.call("GET", "/metrics")).body.decode()
    count = "invitekit_request_duration_seconds_count"
    assert f'{count}{{method="GET",route="unmatched"}} ' in metrics
    assert f'{count}{{method="DELETE",route="unmatched"}} ' in metrics
    assert f'{count}{{method="GET",route="/v1/slots/{{slot}}/open/head"}} ' in metrics


async def test_health_ready_metrics_openapi(api: Api) -> None:
    assert (await api.get("/healthz")).json == {"status": "ok"}
    assert (await api.get("/readyz")).json == {"status": "ready"}
    inv = Invite()
    await api.upload_open(inv, inv.blob(1))
    await api.get(inv.open_path + "/head")
    metrics = (await api.call("GET", "/metrics")).body.decode()
    assert 'invitekit_uploads_total{kind="open",outcome="created"}' in metrics
    assert "invitekit_request_duration_seconds_bucket" in metrics
    assert 'invitekit_fetches_total{kind="open",route="head",status="200"}' in metrics
    assert "invitekit_upload_bytes_total" in metrics
    doc = (await api.get("/openapi.json")).json
    import yaml

    from .support import OPENAPI_PATH

    assert doc == yaml.safe_load(OPENAPI_PATH.read_text())


async def test_uploads_of_another_media_type_are_refused_and_store_nothing(api: Api) -> None:
    """Issue 11: a `Content-Type: text/plain` upload was stored. Only the blob media type
    (or none, which HTTP reads as octet-stream) is an upload; anything else is a 415
    problem, on both slot kinds, and nothing is stored."""
    inv = Invite()
    body = inv.blob(5)
    for media_type in ("text/plain", "application/json", "multipart/form-data; boundary=x"):
        headers = {"Content-Type": media_type}
        opened = await api.post(inv.open_path + "/blobs", body, headers=headers)
        assert (opened.status, opened.problem_type) == (415, "unsupported-media-type")
        assert opened.content_type == "application/problem+json"
        signed = {**headers, **inv.sign(body)}
        laned = await api.post(inv.lane_path + "/blobs", body, headers=signed)
        assert (laned.status, laned.problem_type) == (415, "unsupported-media-type")
    assert (await api.get(inv.open_path + "/head")).status == 404
    assert (await api.get(inv.lane_path + "/head")).status == 404
    # the same bytes as the blob media type are stored
    assert (await api.upload_open(inv, body)).status == 201

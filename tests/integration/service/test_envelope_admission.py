"""The service admits, stores and serves HPKE-sealed blobs under the same slot rules as v1.

Real ``invitekit-service`` process on loopback (the module's shared service), real sealed
GroupInfos (``fixtures/rine``); every reply is checked against spec/openapi.yaml.
"""

from __future__ import annotations

import hashlib
import time

import pytest

from invitekit.envelope import Envelope, open_envelope, parse_envelope, seal_envelope
from invitekit.mls import parse_group_info
from invitekit.proto import invitekit_extensions_pb2 as ext_pb
from invitekit.protocol import HeadRef

from .support import REPO, Api, Invite

RINE = REPO / "fixtures" / "rine"
HPKE = [Envelope.HPKE_X25519, Envelope.HPKE_MLKEM768_X25519]


def sealed(
    inv: Invite, envelope: Envelope, name: str = "rine-classic-epochs-e2", **meta: object
) -> bytes:
    gi = (RINE / f"{name}.bin").read_bytes()
    view = parse_group_info(gi)
    fields: dict[str, object] = {"epoch": view.epoch, "group_state_hash": view.digest}
    fields.update(meta)
    return seal_envelope(gi, inv.key, envelope=envelope, **fields).to_bytes()  # type: ignore[arg-type]


@pytest.mark.parametrize("envelope", HPKE)
async def test_lane_rules_apply_to_hpke_blobs(api: Api, envelope: Envelope) -> None:
    inv = Invite()
    e2 = sealed(inv, envelope)
    created = await api.upload_lane(inv, e2)
    assert created.status == 201, created.body
    assert created.json["epoch"] == 2
    assert created.json["sha256"] == hashlib.sha256(e2).hexdigest()
    again = await api.upload_lane(inv, e2)
    assert (again.status, again.json["outcome"]) == (200, "idempotent")
    fork = sealed(inv, envelope, group_state_hash=bytes(32))
    assert (await api.upload_lane(inv, fork)).problem_type == "fork"
    e3 = sealed(inv, envelope, "rine-classic-epochs-e3")
    assert (await api.upload_lane(inv, e3)).status == 201
    assert (await api.upload_lane(inv, e2)).problem_type == "stale"
    head = await api.get(inv.lane_path + "/head")
    assert head.status == 200
    assert head.body == e3  # served verbatim
    assert head.headers["Invitekit-Epoch"] == "3"
    assert parse_envelope(head.body).envelope is envelope
    assert open_envelope(head.body, inv.key, time.time_ns()) == (
        RINE / "rine-classic-epochs-e3.bin").read_bytes()


@pytest.mark.parametrize("envelope", HPKE)
async def test_open_slot_coalesces_identical_hpke_blobs_only(api: Api, envelope: Envelope) -> None:
    inv = Invite()
    body = sealed(inv, envelope)
    first = await api.upload_open(inv, body)
    assert first.status == 201
    again = await api.upload_open(inv, body)
    assert (again.status, again.json["outcome"]) == (200, "coalesced")
    # Same metadata, other envelope or other encapsulation: its own entry.
    for other in (sealed(inv, Envelope.V1), sealed(inv, envelope)):
        assert (await api.upload_open(inv, other)).json["outcome"] == "created"
    by_address = await api.get(f"{inv.open_path}/blobs/{first.json['sha256']}")
    assert by_address.body == body
    view = parse_group_info((RINE / "rine-classic-epochs-e2.bin").read_bytes())
    presence = await api.get(
        inv.open_path + "/presence", params=HeadRef(2, view.digest).to_query()
    )
    assert presence.json["count"] == 3
    assert {item["nonce"] for item in presence.json["items"]} >= {""}  # HPKE has no nonce


async def test_hpke_uploads_get_the_same_shape_checks(api: Api) -> None:
    inv = Invite()
    short = ext_pb.BlobEnvelope()  # a writer can send anything: build it from the schema
    short.hpke_x25519.sealed = b"\x01" * 20
    short.hpke_x25519.epoch = 1
    short.hpke_x25519.group_state_hash.digest = bytes(32)
    reply = await api.upload_open(inv, short.SerializeToString())
    assert reply.status == 400
    assert (reply.problem_type, reply.json["code"]) == ("invalid-blob", "ciphertext-too-short")
    wide = sealed(inv, Envelope.HPKE_X25519, group_state_hash=bytes(48))
    reply = await api.upload_open(inv, wide)  # the service pins 32-byte digests by default
    assert (reply.problem_type, reply.json["code"]) == ("invalid-blob", "invalid-digest-length")
    unknown = b"\xba\x3e\x00"  # field 1003, an envelope nobody defined
    reply = await api.upload_open(inv, unknown)
    assert (reply.problem_type, reply.json["code"]) == ("invalid-blob", "unsupported-version")
    expired = sealed(inv, Envelope.HPKE_MLKEM768_X25519, expires_at_ns=1)
    assert (await api.upload_open(inv, expired)).problem_type == "expired"

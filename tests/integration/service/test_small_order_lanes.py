"""Issue 12, small-order lane ids: a keyless writer must not "sign" for a lane named by a
small-order point with R = identity, S = 0 (a cofactorless check accepts that for every
message). The forged values are computed here from the curve's definition, not taken from
invitekit.lane."""

from __future__ import annotations

import hashlib
import os

import aiohttp
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from invitekit import lane

from .support import Api, Invite, ServiceProcess, b64

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
#: The neutral element (x, y) = (0, 1): y = 1 little-endian, sign bit 0.
IDENTITY = (1).to_bytes(32, "little")
#: The point (0, -1) of order 2: y = p - 1.
ORDER_TWO = (P - 1).to_bytes(32, "little")
#: R = identity, S = 0: [S]B = R + [k]A holds for any message when [k]A is the identity.
FORGED_SIGNATURE = IDENTITY + bytes(32)


def _openssl_accepts(public: bytes, signature: bytes, message: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


@pytest.mark.parametrize("lane_id", [IDENTITY], ids=["identity"])
def test_the_forgery_is_real_for_a_cofactorless_verifier(lane_id: bytes) -> None:
    """The attack is not hypothetical: the backend's plain check accepts it."""
    message = lane.upload_message(os.urandom(16), lane_id, os.urandom(32))
    assert _openssl_accepts(lane_id, FORGED_SIGNATURE, message)


@pytest.mark.parametrize("lane_id", [IDENTITY, ORDER_TWO], ids=["identity", "order-2"])
def test_strict_verification_refuses_small_order_lanes(lane_id: bytes) -> None:
    slot, digest = os.urandom(16), os.urandom(32)
    assert not lane.is_valid_lane_id(lane_id)
    assert not lane.verify_upload_digest(lane_id, slot, digest, FORGED_SIGNATURE)


def test_strict_verification_refuses_small_order_r_and_unreduced_s() -> None:
    key, slot, body = os.urandom(32), os.urandom(16), b"blob bytes"
    lane_id, signature = lane.sign_upload(key, slot, body)
    assert lane.verify_upload(lane_id, slot, body, signature)
    s = int.from_bytes(signature[32:], "little")
    unreduced = signature[:32] + (s + L).to_bytes(32, "little")
    assert not lane.verify_upload(lane_id, slot, body, unreduced)
    assert not lane.verify_upload(lane_id, slot, body, IDENTITY + signature[32:])
    assert not lane.verify_upload(lane_id, slot, body, ORDER_TWO + signature[32:])


def test_lane_ids_must_be_canonical_points() -> None:
    honest = lane.lane_id_for(os.urandom(32))
    assert lane.is_valid_lane_id(honest)
    # y >= p: a non-canonical spelling of y - p.
    assert not lane.is_valid_lane_id((P + 1).to_bytes(32, "little"))
    # x = 0 with the sign bit set: a non-canonical spelling of the identity.
    assert not lane.is_valid_lane_id((1 | 1 << 255).to_bytes(32, "little"))
    # y = 2 is not on the curve (x^2 = 3 / (4d + 1) is not a square mod p).
    assert not lane.is_valid_lane_id((2).to_bytes(32, "little"))
    assert not lane.is_valid_lane_id(honest[:31])


@pytest.fixture(scope="module")
def lane_service(service_factory) -> ServiceProcess:  # type: ignore[no-untyped-def]
    return service_factory("--no-rate-limits-enabled", "--no-access-log")


@pytest.mark.parametrize("lane_id", [IDENTITY, ORDER_TWO], ids=["identity", "order-2"])
async def test_service_refuses_forged_small_order_uploads(
    lane_service: ServiceProcess, session: aiohttp.ClientSession, lane_id: bytes
) -> None:
    api = Api(lane_service.base_url, session)
    invite = Invite()
    body = invite.blob(7)
    path = f"/v1/slots/{b64(invite.slot)}/lanes/{b64(lane_id)}"
    reply = await api.post(
        path + "/blobs", body, headers={"Invitekit-Signature": b64(FORGED_SIGNATURE)}
    )
    assert reply.status == 403, reply.body
    assert reply.problem_type == "bad-signature"
    sha = hashlib.sha256(body).hexdigest()
    assert (await api.get(f"{path}/blobs/{sha}")).status == 404
    assert (await api.get(path + "/head")).status == 404
    # The honest lane of the same slot still works.
    assert (await api.upload_lane(invite, body)).status == 201

"""Keyed-lane write proofs (invitekit extension to the XIP-82 service contract; sans-IO).

A keyed lane is a slot the service orders by epoch. Only holders of the invite's 32-byte
symmetric key may write it, and the service never sees that key. Instead:

* ``seed = HKDF-SHA256(ikm=key, salt=b"", info=LANE_KDF_INFO, L=32)`` is an Ed25519 private
  key seed; the lane id is its 32-byte public key. The derivation is one-way, so the lane id
  (which appears in URLs) reveals nothing about the AEAD key, and the same invite key always
  names the same lane (a key rotation is a new lane).
* Each upload is signed: ``Ed25519.sign(seed, upload_message(slot_id, lane_id, sha256(body)))``.
  The message is a fixed label followed by three length-prefixed fields (u16 big-endian
  lengths), so distinct ``(slot id, lane id, digest)`` triples never encode to the same bytes.

Verification is strict (:func:`verify_upload_digest`): the lane id and the signature's ``R``
must be canonical encodings of Ed25519 points outside the small-order subgroup and ``S``
must be reduced (``S < L``) before the signature equation is checked at all. Without that, a
keyless writer could name a small-order lane (the identity, or ``(0, -1)``) and "sign" with
``R = identity, S = 0``, which a cofactorless check accepts for every message.

Invariants: every function here is pure (no I/O, no clock); keys and seeds are never
included in reprs or error strings; verification never raises on hostile input — it
returns ``False``.
"""

from __future__ import annotations

import hashlib
import struct
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from .errors import InvalidLaneField
from .payload import validate_symmetric_key

#: HKDF ``info`` that turns an invite key into a lane signing seed. Never reused elsewhere.
LANE_KDF_INFO: Final = b"invitekit v1 keyed-lane Ed25519 seed"
#: First bytes of every signed upload message.
UPLOAD_SIGNATURE_LABEL: Final = b"invitekit v1 keyed-lane upload"
LANE_ID_LENGTH: Final = 32
SIGNATURE_LENGTH: Final = 64
DIGEST_LENGTH: Final = 32
#: Slot ids (external_group_id) the service accepts: 4..255 bytes.
MIN_SLOT_ID_LENGTH: Final = 4
MAX_SLOT_ID_LENGTH: Final = 255

_U16: Final = struct.Struct(">H")

# Edwards25519 (RFC 8032, section 5.1): -x^2 + y^2 = 1 + d x^2 y^2 over GF(p).
_P: Final = 2**255 - 19
_D: Final = (-121665 * pow(121666, _P - 2, _P)) % _P
_SQRT_M1: Final = pow(2, (_P - 1) // 4, _P)
#: Order of the prime-order subgroup; a canonical signature scalar S is below it.
GROUP_ORDER: Final = 2**252 + 27742317777372353535851937790883648493
_IDENTITY: Final = (0, 1)


def _field(value: bytes) -> bytes:
    return _U16.pack(len(value)) + value


def _decode_point(encoded: bytes) -> tuple[int, int] | None:
    """The affine point of a canonical 32-byte encoding (RFC 8032 5.1.3), or ``None``.

    Non-canonical encodings (``y >= p``, or ``x = 0`` with the sign bit set) are refused.
    """
    if len(encoded) != 32:
        return None
    value = int.from_bytes(encoded, "little")
    sign = value >> 255
    y = value & ((1 << 255) - 1)
    if y >= _P:
        return None
    u = (y * y - 1) % _P
    v = (_D * y * y + 1) % _P
    x2 = u * pow(v, _P - 2, _P) % _P
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P != 0:
        x = x * _SQRT_M1 % _P
        if (x * x - x2) % _P != 0:
            return None
    if x == 0 and sign:
        return None
    if x & 1 != sign:
        x = _P - x
    return x, y


def _add(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    (x1, y1), (x2, y2) = a, b
    t = _D * x1 * x2 * y1 * y2 % _P
    x3 = (x1 * y2 + y1 * x2) * pow(1 + t, _P - 2, _P) % _P
    y3 = (y1 * y2 + x1 * x2) * pow(1 - t, _P - 2, _P) % _P
    return x3, y3


def is_strong_point(encoded: bytes) -> bool:
    """True iff ``encoded`` is the canonical encoding of a point of order above 8.

    A point has small order exactly when eight times it is the identity (the cofactor is 8).
    """
    point = _decode_point(encoded)
    if point is None:
        return False
    for _ in range(3):
        point = _add(point, point)
    return point != _IDENTITY


def is_valid_lane_id(lane_id: bytes) -> bool:
    """True iff ``lane_id`` can name a lane: a canonical, non-small-order Ed25519 key."""
    return len(lane_id) == LANE_ID_LENGTH and is_strong_point(bytes(lane_id))


def upload_message(slot_id: bytes, lane_id: bytes, body_sha256: bytes) -> bytes:
    """The exact bytes signed for an upload: label ‖ lp(slot) ‖ lp(lane) ‖ lp(sha256(body)).

    ``lp(x)`` is ``len(x)`` as u16 big-endian followed by ``x``. Raises
    :class:`~invitekit.errors.InvalidLaneField` (a ``ValueError``) for field lengths outside
    the contract (slot 4..255, lane 32, digest 32 bytes).
    """
    if not MIN_SLOT_ID_LENGTH <= len(slot_id) <= MAX_SLOT_ID_LENGTH:
        raise InvalidLaneField("slot id must be 4..255 bytes")
    if len(lane_id) != LANE_ID_LENGTH:
        raise InvalidLaneField("lane id must be 32 bytes")
    if len(body_sha256) != DIGEST_LENGTH:
        raise InvalidLaneField("body digest must be 32 bytes")
    return (
        _field(UPLOAD_SIGNATURE_LABEL)
        + _field(bytes(slot_id))
        + _field(bytes(lane_id))
        + _field(bytes(body_sha256))
    )


def derive_lane_seed(symmetric_key: bytes) -> bytes:
    """The 32-byte Ed25519 seed for the invite key's lane (HKDF-SHA256, see module doc)."""
    validate_symmetric_key(symmetric_key)
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=LANE_KDF_INFO)
    return hkdf.derive(bytes(symmetric_key))


class LaneSigner:
    """The write capability for one lane, derived from an invite's symmetric key.

    Build it once per invite; :attr:`lane_id` is public, the seed is not (never printed).
    """

    __slots__ = ("_private", "lane_id")

    def __init__(self, symmetric_key: bytes) -> None:
        self._private = Ed25519PrivateKey.from_private_bytes(derive_lane_seed(symmetric_key))
        self.lane_id: bytes = self._private.public_key().public_bytes(
            Encoding.Raw, PublicFormat.Raw
        )

    def __repr__(self) -> str:
        return f"LaneSigner(lane_id={self.lane_id.hex()[:16]}…)"

    def sign_digest(self, slot_id: bytes, body_sha256: bytes) -> bytes:
        """Signature over an upload whose body hashes to ``body_sha256``."""
        return self._private.sign(upload_message(slot_id, self.lane_id, body_sha256))

    def sign(self, slot_id: bytes, body: bytes) -> bytes:
        """Signature over an upload of ``body`` (the exact bytes sent) to ``slot_id``."""
        return self.sign_digest(slot_id, hashlib.sha256(body).digest())


def lane_id_for(symmetric_key: bytes) -> bytes:
    """The public lane id (Ed25519 public key) an invite key names."""
    return LaneSigner(symmetric_key).lane_id


def sign_upload(symmetric_key: bytes, slot_id: bytes, body: bytes) -> tuple[bytes, bytes]:
    """``(lane_id, signature)`` for uploading ``body`` to ``slot_id`` with an invite key."""
    signer = LaneSigner(symmetric_key)
    return signer.lane_id, signer.sign(slot_id, body)


def verify_upload_digest(
    lane_id: bytes, slot_id: bytes, body_sha256: bytes, signature: bytes
) -> bool:
    """True iff ``signature`` is the lane key's signature over this upload. Never raises.

    Strict: the lane id and ``R`` are canonical non-small-order points and ``S < L``
    (see the module doc) before the signature equation is checked.
    """
    if len(signature) != SIGNATURE_LENGTH or not is_valid_lane_id(lane_id):
        return False
    if int.from_bytes(signature[32:], "little") >= GROUP_ORDER:
        return False
    if not is_strong_point(bytes(signature[:32])):
        return False
    try:
        message = upload_message(slot_id, lane_id, body_sha256)
        Ed25519PublicKey.from_public_bytes(bytes(lane_id)).verify(bytes(signature), message)
    except (InvalidSignature, ValueError):
        return False
    return True


def verify_upload(lane_id: bytes, slot_id: bytes, body: bytes, signature: bytes) -> bool:
    """True iff ``signature`` authorises writing exactly ``body`` to ``(slot_id, lane_id)``."""
    return verify_upload_digest(lane_id, slot_id, hashlib.sha256(body).digest(), signature)


__all__ = [
    "DIGEST_LENGTH",
    "GROUP_ORDER",
    "LANE_ID_LENGTH",
    "LANE_KDF_INFO",
    "MAX_SLOT_ID_LENGTH",
    "MIN_SLOT_ID_LENGTH",
    "SIGNATURE_LENGTH",
    "UPLOAD_SIGNATURE_LABEL",
    "LaneSigner",
    "derive_lane_seed",
    "is_strong_point",
    "is_valid_lane_id",
    "lane_id_for",
    "sign_upload",
    "upload_message",
    "verify_upload",
    "verify_upload_digest",
]

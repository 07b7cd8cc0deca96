"""invitekit's HPKE extension envelope for sealed GroupInfo — NOT part of XIP-82.

XIP-82 readers cannot open these blobs: the variants sit at field numbers ≥ 1000 of a
``BlobEnvelope`` that is otherwise wire-identical to ``EncryptedGroupInfoBlob``, so an XIP reader
sees an unknown version and fails closed. Use the XIP's v1 (:mod:`invitekit.blob`) for interop.
This module is the variants' codec; :mod:`invitekit.envelope` owns the versions and is the one
seal / open dispatch every reader and writer goes through.

Invariants:

* The recipient key pair is derived from the invite's 32-byte key with HKDF-SHA256 (no salt),
  ``info = "XMTP_EXTERNAL_INVITE/hpke-keypair/" + variant``: 32 bytes → X25519 private key for
  ``hpke_x25519``; 96 bytes → 64-byte ML-KEM-768 seed ‖ 32-byte X25519 key for
  ``hpke_mlkem768_x25519``. Anyone holding the invite key can seal and open, exactly like v1;
  the hybrid variant adds a post-quantum KEM.
* HPKE base mode, KDF HKDF-SHA256, AEAD ChaCha20-Poly1305 in both variants. The HPKE ``info``
  is ``"XMTP_EXTERNAL_INVITE" ‖ v1-style AAD`` (epoch u64 BE ‖ expires_at_ns u64 BE ‖ digest),
  so the metadata is bound exactly as v1 binds it: changing any field fails the open.
* Opening checks version, digest, expiry, then decryption — the v1 order.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hpke
from cryptography.hazmat.primitives.asymmetric import mlkem, x25519
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from . import wire
from .blob import build_aad, check_digest, expired_at
from .errors import (
    BlobExpired,
    CiphertextTooShort,
    DecryptionFailed,
    InvalidEnvelopeRequest,
    MalformedMessage,
    UnsupportedVersion,
)
from .expiry import U64_MAX
from .payload import validate_symmetric_key
from .proto import invitekit_extensions_pb2 as ext_pb
from .wire import Dialect

HPKE_LABEL = b"XMTP_EXTERNAL_INVITE"
_KEYPAIR_LABEL = HPKE_LABEL + b"/hpke-keypair/"
_MLKEM_SEED = 64
_X25519_KEY = 32
#: Smallest possible sealed field: the X25519 encapsulation (32) plus the AEAD tag (16).
_MIN_SEALED = 48


class HpkeVariant(enum.StrEnum):
    """Extension variants; each fixes KEM, KDF and AEAD (no in-message algorithm tags)."""

    X25519 = "hpke_x25519"
    MLKEM768_X25519 = "hpke_mlkem768_x25519"


_KEMS = {
    HpkeVariant.X25519: hpke.KEM.X25519,
    HpkeVariant.MLKEM768_X25519: hpke.KEM.MLKEM768_X25519,
}

PrivateKey = x25519.X25519PrivateKey | hpke.MLKEM768X25519PrivateKey
PublicKey = x25519.X25519PublicKey | hpke.MLKEM768X25519PublicKey


def _suite(variant: HpkeVariant) -> hpke.Suite:
    return hpke.Suite(_KEMS[variant], hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)


def derive_private_key(invite_key: bytes, variant: HpkeVariant) -> PrivateKey:
    """The recipient private key every holder of ``invite_key`` derives for ``variant``."""
    validate_symmetric_key(invite_key)
    length = _X25519_KEY if variant is HpkeVariant.X25519 else _MLKEM_SEED + _X25519_KEY
    okm = HKDF(
        algorithm=hashes.SHA256(), length=length, salt=None,
        info=_KEYPAIR_LABEL + variant.value.encode(),
    ).derive(invite_key)
    if variant is HpkeVariant.X25519:
        return x25519.X25519PrivateKey.from_private_bytes(okm)
    return hpke.MLKEM768X25519PrivateKey(
        mlkem.MLKEM768PrivateKey.from_seed_bytes(okm[:_MLKEM_SEED]),
        x25519.X25519PrivateKey.from_private_bytes(okm[_MLKEM_SEED:]),
    )


class HpkeKey:
    """An invite key with its derived HPKE key pairs, each derived on first use and kept.

    The HPKE counterpart of :class:`invitekit.blob.BlobKey`: build one per invite when sealing
    or opening more than one blob. Never printed.
    """

    __slots__ = ("_keys", "_public", "material")

    def __init__(self, material: bytes) -> None:
        validate_symmetric_key(material)
        self.material = bytes(material)
        self._keys: dict[HpkeVariant, PrivateKey] = {}
        self._public: dict[HpkeVariant, PublicKey] = {}

    def __repr__(self) -> str:
        return "HpkeKey(<redacted>)"

    def private_key(self, variant: HpkeVariant) -> PrivateKey:
        """The recipient private key for ``variant`` (derived once)."""
        key = self._keys.get(variant)
        if key is None:
            key = self._keys[variant] = derive_private_key(self.material, variant)
        return key

    def public_key(self, variant: HpkeVariant) -> PublicKey:
        """The recipient public key for ``variant`` (computed once)."""
        key = self._public.get(variant)
        if key is None:
            key = self._public[variant] = self.private_key(variant).public_key()
        return key

    def encrypt(self, variant: HpkeVariant, plaintext: bytes, info: bytes) -> bytes:
        """Single-shot base-mode seal to the derived public key: ``enc ‖ ciphertext ‖ tag``."""
        public_key = self.public_key(variant)
        return _suite(variant).encrypt(plaintext, public_key, info=info)

    def decrypt(self, variant: HpkeVariant, sealed: bytes, info: bytes) -> bytes:
        """Plaintext, or :class:`DecryptionFailed` when the open fails."""
        try:
            return _suite(variant).decrypt(sealed, self.private_key(variant), info=info)
        except (InvalidTag, ValueError):
            raise DecryptionFailed(
                "HPKE open failed (wrong key, or tampered data or metadata)"
            ) from None


def _as_hpke_key(key: bytes | HpkeKey) -> HpkeKey:
    return key if isinstance(key, HpkeKey) else HpkeKey(key)


def hpke_info(epoch: int, expires_at_ns: int, digest: bytes) -> bytes:
    """HPKE ``info``: the label followed by the v1 AAD."""
    return HPKE_LABEL + build_aad(epoch, expires_at_ns, digest)


@dataclass(frozen=True)
class HpkeBlob:
    """A structurally valid extension blob."""

    variant: HpkeVariant
    sealed: bytes = field(repr=False)
    epoch: int
    group_state_hash: bytes
    expires_at_ns: int = 0

    def __post_init__(self) -> None:
        check_digest(self.group_state_hash)
        if len(self.sealed) < _MIN_SEALED:
            raise CiphertextTooShort("sealed field is shorter than an encapsulation plus tag")
        if not (0 <= self.epoch <= U64_MAX and 0 <= self.expires_at_ns <= U64_MAX):
            raise InvalidEnvelopeRequest("epoch and expires_at_ns must fit in uint64")

    @property
    def info(self) -> bytes:
        """The HPKE ``info`` this blob's ``sealed`` field is bound to."""
        return hpke_info(self.epoch, self.expires_at_ns, self.group_state_hash)

    def is_expired(self, now_ns: int) -> bool:
        """True when ``expires_at_ns`` is set and ``now_ns`` has reached it."""
        return expired_at(self.expires_at_ns, now_ns)

    def to_bytes(self, dialect: Dialect = Dialect.TYPED) -> bytes:
        """Serialize as a ``BlobEnvelope`` carrying this variant (typed layout only)."""
        if dialect is not Dialect.TYPED:
            raise InvalidEnvelopeRequest("the HPKE extension has only the typed layout")
        envelope = ext_pb.BlobEnvelope()
        body = getattr(envelope, self.variant.value)
        body.sealed = self.sealed
        body.epoch = self.epoch
        body.group_state_hash.digest = self.group_state_hash
        body.expires_at_ns = self.expires_at_ns
        return envelope.SerializeToString()


def parse_hpke_blob(
    data: bytes, *, digest_length: int | None = None, max_bytes: int | None = None
) -> HpkeBlob:
    """Decode an extension blob; a v1 (XIP) blob or anything else is unsupported here.

    ``digest_length`` pins the group's hash length when known (else 32, 48 or 64).
    """
    if max_bytes is not None and len(data) > max_bytes:
        raise MalformedMessage(f"blob larger than {max_bytes} bytes")
    envelope = wire.decode(ext_pb.BlobEnvelope, data, what="extension blob")
    which = envelope.WhichOneof("version")
    if wire.has_unknown_fields(envelope) or which not in {v.value for v in HpkeVariant}:
        raise UnsupportedVersion("not an invitekit HPKE extension blob")
    body = getattr(envelope, which)
    check_digest(body.group_state_hash.digest, digest_length)
    return HpkeBlob(HpkeVariant(which), body.sealed, body.epoch, body.group_state_hash.digest,
                    body.expires_at_ns)


def seal_hpke(
    plaintext: bytes,
    invite_key: bytes | HpkeKey,
    *,
    epoch: int,
    group_state_hash: bytes,
    expires_at_ns: int = 0,
    variant: HpkeVariant = HpkeVariant.MLKEM768_X25519,
) -> HpkeBlob:
    """Seal ``plaintext`` to the key pair derived from ``invite_key`` (fresh encapsulation)."""
    if not (0 <= epoch <= U64_MAX and 0 <= expires_at_ns <= U64_MAX):
        raise InvalidEnvelopeRequest("epoch and expires_at_ns must fit in uint64")
    check_digest(group_state_hash)
    key = _as_hpke_key(invite_key)
    sealed = key.encrypt(variant, plaintext, hpke_info(epoch, expires_at_ns, group_state_hash))
    return HpkeBlob(variant, sealed, epoch, group_state_hash, expires_at_ns)


def open_hpke(blob: HpkeBlob | bytes, invite_key: bytes | HpkeKey, now_ns: int) -> bytes:
    """The plaintext of an extension blob, checking expiry before decryption."""
    if not isinstance(blob, HpkeBlob):
        blob = parse_hpke_blob(blob)
    key = _as_hpke_key(invite_key)
    if blob.is_expired(now_ns):
        raise BlobExpired("blob expired before now_ns")
    return key.decrypt(blob.variant, blob.sealed, blob.info)


__all__ = [
    "HPKE_LABEL",
    "HpkeBlob",
    "HpkeKey",
    "HpkeVariant",
    "derive_private_key",
    "hpke_info",
    "open_hpke",
    "parse_hpke_blob",
    "seal_hpke",
]

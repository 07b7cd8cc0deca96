"""EncryptedGroupInfoBlob v1: ChaCha20-Poly1305 over a GroupInfo, metadata bound as AAD.

* ``nonce``: 12 bytes, fresh from the CSPRNG on every seal (never a counter).
* ``ciphertext``: ciphertext ‖ 16-byte Poly1305 tag.
* AAD (:func:`build_aad`): ``epoch`` (u64 BE) ‖ ``expires_at_ns`` (u64 BE) ‖ digest — no label,
  no length prefix; 48 bytes for SHA-256 suites.

:func:`open_blob` checks, in this order: version, nonce length, digest presence and length,
ciphertext length, expiry, AEAD. It is pure: the caller passes ``now_ns``.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field
from functools import cached_property

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from . import wire
from .errors import (
    BlobExpired,
    CiphertextTooShort,
    DecryptionFailed,
    InvalidDigestLength,
    InvalidEnvelopeRequest,
    InvalidNonceLength,
    MalformedMessage,
    MissingGroupStateHash,
    UnsupportedVersion,
)
from .expiry import U64_MAX
from .payload import validate_symmetric_key
from .proto import external_invite_legacy_pb2 as legacy_pb
from .proto import external_invite_pb2 as pb
from .sources import RandomBytes, os_random_bytes
from .wire import Dialect, Reading

NONCE_LENGTH = 12
TAG_LENGTH = 16
_AAD_PREFIX = struct.Struct(">QQ")


class BlobKey:
    """A validated 32-byte invite key with its AEAD context, reusable across many blobs.

    Build one per invite when sealing or opening more than one blob (a joiner trying a whole
    candidate set): it validates the key once and keeps the cipher context. Never printed.
    """

    __slots__ = ("_aead", "material")

    def __init__(self, material: bytes) -> None:
        validate_symmetric_key(material)
        self.material = bytes(material)
        self._aead = ChaCha20Poly1305(self.material)

    def __repr__(self) -> str:
        return "BlobKey(<redacted>)"

    def encrypt(self, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
        """ChaCha20-Poly1305 ciphertext ‖ tag."""
        return self._aead.encrypt(nonce, plaintext, aad)

    def decrypt(self, nonce: bytes, ciphertext: bytes, aad: bytes) -> bytes:
        """Plaintext, or :class:`DecryptionFailed` when authentication fails."""
        try:
            return self._aead.decrypt(nonce, ciphertext, aad)
        except InvalidTag:
            raise DecryptionFailed(
                "AEAD authentication failed (wrong key, or tampered ciphertext or metadata)"
            ) from None


def _as_blob_key(key: bytes | BlobKey) -> BlobKey:
    """``key`` as a :class:`BlobKey` (validated)."""
    return key if isinstance(key, BlobKey) else BlobKey(key)


def build_aad(epoch: int, expires_at_ns: int, digest: bytes) -> bytes:
    """The v1 associated data: ``epoch ‖ expires_at_ns`` (u64 big-endian each) ‖ ``digest``."""
    return _AAD_PREFIX.pack(epoch, expires_at_ns) + digest


def expired_at(expires_at_ns: int, now_ns: int) -> bool:
    """The blob expiry rule, every envelope: ``expires_at_ns`` is set and ``now_ns`` reached it."""
    return expires_at_ns != 0 and now_ns >= expires_at_ns


def check_digest(digest: bytes, digest_length: int | None = None) -> None:
    """Raise unless ``digest`` is present and of ``digest_length`` (None: 32, 48 or 64)."""
    if not digest:
        raise MissingGroupStateHash("blob carries no group_state_hash digest")
    allowed = wire.DIGEST_LENGTHS if digest_length is None else frozenset({digest_length})
    if len(digest) not in allowed:
        raise InvalidDigestLength(
            f"group_state_hash is {len(digest)} bytes; expected one of {sorted(allowed)}"
        )


@dataclass(frozen=True, slots=True)
class EncryptedBlob:
    """A structurally valid EncryptedGroupInfoBlob v1 (nothing about the key is known yet)."""

    nonce: bytes
    ciphertext: bytes = field(repr=False)
    epoch: int
    group_state_hash: bytes
    expires_at_ns: int = 0

    def __post_init__(self) -> None:
        if len(self.nonce) != NONCE_LENGTH:
            raise InvalidNonceLength(f"nonce must be {NONCE_LENGTH} bytes, got {len(self.nonce)}")
        if len(self.group_state_hash) not in wire.DIGEST_LENGTHS:
            check_digest(self.group_state_hash, None)
        if len(self.ciphertext) < TAG_LENGTH:
            raise CiphertextTooShort("ciphertext is shorter than the 16-byte AEAD tag")
        if not (0 <= self.epoch <= U64_MAX and 0 <= self.expires_at_ns <= U64_MAX):
            raise InvalidEnvelopeRequest("epoch and expires_at_ns must fit in uint64")

    @property
    def aad(self) -> bytes:
        """The associated data this blob's ciphertext is bound to."""
        return build_aad(self.epoch, self.expires_at_ns, self.group_state_hash)

    def is_expired(self, now_ns: int) -> bool:
        """True when ``expires_at_ns`` is set and ``now_ns`` has reached it."""
        return expired_at(self.expires_at_ns, now_ns)

    def to_bytes(self, dialect: Dialect = Dialect.TYPED) -> bytes:
        """Serialize as EncryptedGroupInfoBlob{v1}; typed unless legacy is asked for."""
        if dialect is Dialect.LEGACY:
            legacy = legacy_pb.EncryptedGroupInfoBlobV1(
                nonce=self.nonce,
                ciphertext=self.ciphertext,
                epoch=self.epoch,
                group_state_hash=self.group_state_hash,
                expires_at_ns=self.expires_at_ns,
            )
            return legacy_pb.EncryptedGroupInfoBlob(v1=legacy).SerializeToString()
        message = pb.EncryptedGroupInfoBlob()
        v1 = message.v1  # set fields in place: no submessage copies
        v1.nonce = self.nonce
        v1.ciphertext = self.ciphertext
        v1.epoch = self.epoch
        v1.group_state_hash.digest = self.group_state_hash
        v1.expires_at_ns = self.expires_at_ns
        return message.SerializeToString()


@dataclass(frozen=True)
class ParsedBlob:
    """A blob, the dialect it was read in, and the exact bytes it was read from."""

    blob: EncryptedBlob
    dialect: Dialect
    raw: bytes = field(repr=False)

    @cached_property
    def content_sha256(self) -> bytes:
        """SHA-256 of the exact bytes read: the blob's content address."""
        return hashlib.sha256(self.raw).digest()


def parse_blob(
    data: bytes,
    *,
    digest_length: int | None = None,
    max_bytes: int | None = None,
    reading: Reading = Reading.DUAL,
) -> ParsedBlob:
    """Decode a blob in either dialect; checks version, nonce, digest, ciphertext length.

    ``digest_length`` pins the group's hash length when known; otherwise any RFC 9420 hash
    length (32/48/64) is accepted. ``max_bytes`` bounds the input. ``reading=TYPED_ONLY``
    reads the typed dialect only (see :mod:`invitekit.wire`).
    """
    if max_bytes is not None and len(data) > max_bytes:
        raise MalformedMessage(f"blob larger than {max_bytes} bytes")
    raw = wire.decode(legacy_pb.EncryptedGroupInfoBlob, data, what="blob")
    if wire.has_unknown_fields(raw) or raw.WhichOneof("version") != "v1":
        raise UnsupportedVersion("blob version is not one this reader supports")
    v1 = raw.v1
    if len(v1.nonce) != NONCE_LENGTH:
        raise InvalidNonceLength(f"nonce must be {NONCE_LENGTH} bytes, got {len(v1.nonce)}")
    digest = v1.group_state_hash
    dialect = wire.digest_field_dialect(digest, reading)
    if dialect is Dialect.TYPED and digest:
        # Field 4 is the only one whose type differs between dialects: read it as a message.
        try:
            digest = wire.decode(pb.GroupStateHash, digest, what="group_state_hash").digest
        except MalformedMessage:
            raise InvalidDigestLength(
                "group_state_hash is neither a GroupStateHash message nor a 32/48/64-byte digest"
            ) from None
    check_digest(digest, digest_length)
    blob = EncryptedBlob(v1.nonce, v1.ciphertext, v1.epoch, digest, v1.expires_at_ns)
    return ParsedBlob(blob, dialect, data)


def seal(
    plaintext: bytes,
    key: bytes | BlobKey,
    *,
    epoch: int,
    group_state_hash: bytes,
    expires_at_ns: int = 0,
    random_bytes: RandomBytes = os_random_bytes,
) -> EncryptedBlob:
    """Encrypt ``plaintext`` under ``key`` with a fresh nonce and the v1 AAD.

    ``random_bytes`` draws the nonce: the OS CSPRNG, or a known-answer test's source.
    """
    blob_key = _as_blob_key(key)
    if not (0 <= epoch <= U64_MAX and 0 <= expires_at_ns <= U64_MAX):
        raise InvalidEnvelopeRequest("epoch and expires_at_ns must fit in uint64")
    check_digest(group_state_hash, None)
    nonce = random_bytes(NONCE_LENGTH)
    if len(nonce) != NONCE_LENGTH:
        raise InvalidNonceLength("nonce source returned the wrong number of bytes")
    aad = build_aad(epoch, expires_at_ns, group_state_hash)
    ciphertext = blob_key.encrypt(nonce, plaintext, aad)
    return EncryptedBlob(nonce, ciphertext, epoch, group_state_hash, expires_at_ns)


def open_blob(
    blob: EncryptedBlob | bytes,
    key: bytes | BlobKey,
    now_ns: int,
    *,
    digest_length: int | None = None,
) -> bytes:
    """Return the plaintext of a blob (object or serialized bytes in either dialect).

    Raises, in check order: UnsupportedVersion / MalformedMessage, InvalidNonceLength,
    MissingGroupStateHash / InvalidDigestLength, CiphertextTooShort, BlobExpired,
    DecryptionFailed.
    """
    if not isinstance(blob, EncryptedBlob):
        blob = parse_blob(blob, digest_length=digest_length).blob
    elif digest_length is not None:
        check_digest(blob.group_state_hash, digest_length)
    blob_key = _as_blob_key(key)
    if blob.is_expired(now_ns):
        raise BlobExpired("blob expired before now_ns")
    return blob_key.decrypt(blob.nonce, blob.ciphertext, blob.aad)


__all__ = [
    "NONCE_LENGTH",
    "TAG_LENGTH",
    "BlobKey",
    "EncryptedBlob",
    "ParsedBlob",
    "build_aad",
    "check_digest",
    "expired_at",
    "open_blob",
    "parse_blob",
    "seal",
]

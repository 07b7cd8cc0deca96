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
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

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
from .wire import Dialect

NONCE_LENGTH = 12
TAG_LENGTH = 16
_AAD_PREFIX = struct.Struct(">QQ")

NonceSource = Callable[[int], bytes]


def build_aad(epoch: int, expires_at_ns: int, digest: bytes) -> bytes:
    """The v1 associated data: ``epoch ‖ expires_at_ns`` (u64 big-endian each) ‖ ``digest``."""
    return _AAD_PREFIX.pack(epoch, expires_at_ns) + digest


def _check_digest(digest: bytes, digest_length: int | None) -> None:
    if not digest:
        raise MissingGroupStateHash("blob carries no group_state_hash digest")
    allowed = wire.DIGEST_LENGTHS if digest_length is None else frozenset({digest_length})
    if len(digest) not in allowed:
        raise InvalidDigestLength(
            f"group_state_hash is {len(digest)} bytes; expected one of {sorted(allowed)}"
        )


@dataclass(frozen=True)
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
        _check_digest(self.group_state_hash, None)
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
        return self.expires_at_ns != 0 and now_ns >= self.expires_at_ns

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
        v1 = pb.EncryptedGroupInfoBlobV1(
            nonce=self.nonce,
            ciphertext=self.ciphertext,
            epoch=self.epoch,
            group_state_hash=pb.GroupStateHash(digest=self.group_state_hash),
            expires_at_ns=self.expires_at_ns,
        )
        return pb.EncryptedGroupInfoBlob(v1=v1).SerializeToString()


@dataclass(frozen=True)
class ParsedBlob:
    """A blob, the dialect it was read in, and the SHA-256 of the exact bytes read."""

    blob: EncryptedBlob
    dialect: Dialect
    content_sha256: bytes


def parse_blob(
    data: bytes, *, digest_length: int | None = None, max_bytes: int | None = None
) -> ParsedBlob:
    """Decode a blob in either dialect; checks version, nonce, digest, ciphertext length.

    ``digest_length`` pins the group's hash length when known; otherwise any RFC 9420 hash
    length (32/48/64) is accepted. ``max_bytes`` bounds the input.
    """
    if max_bytes is not None and len(data) > max_bytes:
        raise MalformedMessage(f"blob larger than {max_bytes} bytes")
    raw = wire.decode(legacy_pb.EncryptedGroupInfoBlob, data, what="blob")
    if wire.has_unknown_fields(raw) or raw.WhichOneof("version") != "v1":
        raise UnsupportedVersion("blob version is not one this reader supports")
    v1 = raw.v1
    if len(v1.nonce) != NONCE_LENGTH:
        raise InvalidNonceLength(f"nonce must be {NONCE_LENGTH} bytes, got {len(v1.nonce)}")
    dialect = wire.digest_field_dialect(v1.group_state_hash)
    digest = v1.group_state_hash
    if dialect is Dialect.TYPED and digest:
        # The legacy parse succeeded, so a typed failure can only come from field 4.
        try:
            typed = wire.decode(pb.EncryptedGroupInfoBlob, data, what="blob")
            digest = typed.v1.group_state_hash.digest
        except MalformedMessage:
            raise InvalidDigestLength(
                "group_state_hash is neither a GroupStateHash message nor a 32/48/64-byte digest"
            ) from None
    _check_digest(digest, digest_length)
    blob = EncryptedBlob(
        nonce=v1.nonce,
        ciphertext=v1.ciphertext,
        epoch=v1.epoch,
        group_state_hash=digest,
        expires_at_ns=v1.expires_at_ns,
    )
    return ParsedBlob(blob, dialect, hashlib.sha256(data).digest())


def seal(
    plaintext: bytes,
    key: bytes,
    *,
    epoch: int,
    group_state_hash: bytes,
    expires_at_ns: int = 0,
    nonce_source: NonceSource = os.urandom,
) -> EncryptedBlob:
    """Encrypt ``plaintext`` under ``key`` with a fresh nonce and the v1 AAD.

    ``nonce_source`` exists for known-answer tests; production code keeps the CSPRNG.
    """
    validate_symmetric_key(key)
    if not (0 <= epoch <= U64_MAX and 0 <= expires_at_ns <= U64_MAX):
        raise InvalidEnvelopeRequest("epoch and expires_at_ns must fit in uint64")
    _check_digest(group_state_hash, None)
    nonce = nonce_source(NONCE_LENGTH)
    if len(nonce) != NONCE_LENGTH:
        raise InvalidNonceLength("nonce source returned the wrong number of bytes")
    ciphertext = ChaCha20Poly1305(key).encrypt(
        nonce, plaintext, build_aad(epoch, expires_at_ns, group_state_hash)
    )
    return EncryptedBlob(nonce, ciphertext, epoch, group_state_hash, expires_at_ns)


def open_blob(
    blob: EncryptedBlob | bytes,
    key: bytes,
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
        _check_digest(blob.group_state_hash, digest_length)
    validate_symmetric_key(key)
    if blob.is_expired(now_ns):
        raise BlobExpired("blob expired before now_ns")
    try:
        return ChaCha20Poly1305(key).decrypt(blob.nonce, blob.ciphertext, blob.aad)
    except InvalidTag:
        raise DecryptionFailed(
            "AEAD authentication failed (wrong key, or tampered ciphertext or metadata)"
        ) from None

"""Blob envelopes: the one owner of blob versions, with the one seal and one open dispatch.

* ``v1`` (the default): ``EncryptedGroupInfoBlob.v1``, field 1; codec :mod:`invitekit.blob`;
  every XIP-82 reader opens it.
* ``hpke-x25519``: ``BlobEnvelope.hpke_x25519``, field 1001; codec :mod:`invitekit.hpke_blob`;
  invitekit only.
* ``hpke-mlkem768-x25519``: ``BlobEnvelope.hpke_mlkem768_x25519``, field 1002; same codec;
  invitekit only.

Every envelope carries the same metadata — ``epoch``, ``group_state_hash``, ``expires_at_ns``
— bound to its ciphertext (v1: the AEAD's associated data; HPKE: the ``info``), so the
service's slot rules, the join's order and the expiry rule treat all of them alike. Other
XIP-82 readers see the HPKE variants as an unknown version and fail closed: choose ``v1``
whenever a reader other than invitekit may fetch the invite.

* :func:`parse_envelope` routes on the top-level field: bytes that are exactly one HPKE
  variant field (1001 or 1002, once) go to the HPKE codec; everything else goes to the v1
  codec, so a v1 blob reads exactly as :func:`invitekit.blob.parse_blob` reads it, and
  anything that is not one known version fails exactly as the XIP's reader does
  (``unsupported-version`` or ``malformed-message``) — two version fields included.
* :func:`seal_envelope` and :func:`open_envelope` (and :class:`EnvelopeKey`, which keeps
  one invite's cipher contexts and derived key pairs across many blobs) are the seal and
  open every reader and writer in invitekit uses. Opening checks, in order: version and
  shape, the pinned digest length, expiry, then decryption.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass, field
from functools import cached_property

from .blob import BlobKey, EncryptedBlob, check_digest, parse_blob
from .blob import seal as seal_v1
from .errors import BlobExpired
from .hpke_blob import HpkeBlob, HpkeKey, HpkeVariant, parse_hpke_blob, seal_hpke
from .payload import validate_symmetric_key
from .proto import invitekit_extensions_pb2 as ext_pb
from .sources import RandomBytes, os_random_bytes
from .wire import Dialect, Reading


class Envelope(enum.StrEnum):
    """A blob version, by the name the CLI and the documents use."""

    V1 = "v1"
    HPKE_X25519 = "hpke-x25519"
    HPKE_MLKEM768_X25519 = "hpke-mlkem768-x25519"

    @property
    def xip(self) -> bool:
        """True for the XIP's own version (readable by every XIP-82 reader)."""
        return self is Envelope.V1


_VARIANT = {
    Envelope.HPKE_X25519: HpkeVariant.X25519,
    Envelope.HPKE_MLKEM768_X25519: HpkeVariant.MLKEM768_X25519,
}
_ENVELOPE = {variant: envelope for envelope, variant in _VARIANT.items()}
#: Top-level field number → HPKE variant, from the schema (1001, 1002).
_HPKE_FIELDS = {
    ext_pb.BlobEnvelope.DESCRIPTOR.fields_by_name[variant.value].number: variant
    for variant in HpkeVariant
}

#: A structurally valid blob of any envelope.
SealedBlob = EncryptedBlob | HpkeBlob


def envelope_of(blob: SealedBlob) -> Envelope:
    """The envelope ``blob`` is sealed in."""
    return Envelope.V1 if isinstance(blob, EncryptedBlob) else _ENVELOPE[blob.variant]


@dataclass(frozen=True)
class ParsedEnvelope:
    """A blob of any envelope, the dialect it was read in, and the exact bytes read.

    HPKE blobs exist only in the typed layout (``dialect`` is always ``TYPED`` for them).
    """

    blob: SealedBlob
    dialect: Dialect
    raw: bytes = field(repr=False)

    @property
    def envelope(self) -> Envelope:
        """Which envelope the bytes carry."""
        return envelope_of(self.blob)

    @cached_property
    def content_sha256(self) -> bytes:
        """SHA-256 of the exact bytes read: the blob's content address."""
        return hashlib.sha256(self.raw).digest()


def _varint(data: bytes, pos: int) -> tuple[int, int] | None:
    value = shift = 0
    while pos < len(data) and shift < 64:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
    return None


def _sole_field(data: bytes) -> int | None:
    """The field number when ``data`` is exactly one length-delimited field, else None.

    Constant work whatever the input (a service runs it on every upload); it only routes
    the bytes, and the chosen codec still decodes and checks them whole.
    """
    tag = _varint(data, 0)
    if tag is None or tag[0] & 7 != 2:
        return None
    length = _varint(data, tag[1])
    if length is None or length[1] + length[0] != len(data):
        return None
    return tag[0] >> 3


def parse_envelope(
    data: bytes,
    *,
    digest_length: int | None = None,
    max_bytes: int | None = None,
    reading: Reading = Reading.DUAL,
) -> ParsedEnvelope:
    """Decode a blob of any envelope (v1 in either dialect, or an HPKE variant).

    ``digest_length`` pins the group's hash length when known; ``max_bytes`` bounds the
    input; ``reading`` applies to v1's dialect detection (HPKE blobs are typed only).
    Raises the codec's typed errors; a blob carrying no known version, or more than one
    version field, is ``unsupported-version``.
    """
    if (max_bytes is None or len(data) <= max_bytes) and _sole_field(data) in _HPKE_FIELDS:
        blob = parse_hpke_blob(data, digest_length=digest_length, max_bytes=max_bytes)
        return ParsedEnvelope(blob, Dialect.TYPED, data)
    parsed = parse_blob(data, digest_length=digest_length, max_bytes=max_bytes, reading=reading)
    return ParsedEnvelope(parsed.blob, parsed.dialect, data)


class EnvelopeKey:
    """One invite key, validated once, with every envelope's cipher context.

    The v1 AEAD context is built at once; each HPKE key pair is derived on first use and
    kept. Build one per invite when sealing or opening more than one blob. Never printed.
    """

    __slots__ = ("_hpke", "_v1", "material")

    def __init__(self, material: bytes) -> None:
        validate_symmetric_key(material)
        self.material = bytes(material)
        self._v1 = BlobKey(self.material)
        self._hpke = HpkeKey(self.material)

    def __repr__(self) -> str:
        return "EnvelopeKey(<redacted>)"

    def decrypt(self, blob: SealedBlob) -> bytes:
        """Decrypt ``blob`` (no expiry check): the one decryption dispatch.

        Raises :class:`~invitekit.errors.DecryptionFailed` under a wrong key or when the
        ciphertext or the metadata bound to it was changed.
        """
        if isinstance(blob, EncryptedBlob):
            return self._v1.decrypt(blob.nonce, blob.ciphertext, blob.aad)
        return self._hpke.decrypt(blob.variant, blob.sealed, blob.info)

    def seal(
        self,
        plaintext: bytes,
        envelope: Envelope,
        *,
        epoch: int,
        group_state_hash: bytes,
        expires_at_ns: int = 0,
        random_bytes: RandomBytes = os_random_bytes,
    ) -> SealedBlob:
        """Seal ``plaintext`` in ``envelope``: the one seal dispatch."""
        if envelope is Envelope.V1:
            return seal_v1(
                plaintext, self._v1, epoch=epoch, group_state_hash=group_state_hash,
                expires_at_ns=expires_at_ns, random_bytes=random_bytes,
            )
        return seal_hpke(
            plaintext, self._hpke, epoch=epoch, group_state_hash=group_state_hash,
            expires_at_ns=expires_at_ns, variant=_VARIANT[envelope],
        )


def _as_key(key: bytes | EnvelopeKey) -> EnvelopeKey:
    return key if isinstance(key, EnvelopeKey) else EnvelopeKey(key)


def seal_envelope(
    plaintext: bytes,
    key: bytes | EnvelopeKey,
    *,
    envelope: Envelope = Envelope.V1,
    epoch: int,
    group_state_hash: bytes,
    expires_at_ns: int = 0,
    random_bytes: RandomBytes = os_random_bytes,
) -> SealedBlob:
    """Seal ``plaintext`` under the invite key in ``envelope`` (v1 unless asked otherwise).

    ``random_bytes`` draws v1's nonce; HPKE draws its ephemeral key inside the HPKE
    library from the OS CSPRNG.
    """
    return _as_key(key).seal(
        plaintext, envelope, epoch=epoch, group_state_hash=group_state_hash,
        expires_at_ns=expires_at_ns, random_bytes=random_bytes,
    )


def open_envelope(
    blob: SealedBlob | bytes,
    key: bytes | EnvelopeKey,
    now_ns: int,
    *,
    digest_length: int | None = None,
) -> bytes:
    """The plaintext of a blob of any envelope (object, or serialized bytes).

    Raises, in check order: the parse errors of :func:`parse_envelope`,
    ``invalid-digest-length`` against a pinned ``digest_length``, :class:`BlobExpired`,
    then :class:`~invitekit.errors.DecryptionFailed`.
    """
    if isinstance(blob, bytes | bytearray | memoryview):
        blob = parse_envelope(bytes(blob), digest_length=digest_length).blob
    elif digest_length is not None:
        check_digest(blob.group_state_hash, digest_length)
    envelope_key = _as_key(key)
    if blob.is_expired(now_ns):
        raise BlobExpired("blob expired before now_ns")
    return envelope_key.decrypt(blob)


__all__ = [
    "Envelope",
    "EnvelopeKey",
    "ParsedEnvelope",
    "SealedBlob",
    "envelope_of",
    "open_envelope",
    "parse_envelope",
    "seal_envelope",
]

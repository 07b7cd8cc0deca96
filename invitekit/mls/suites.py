"""Cipher suites invitekit can verify: hash, signature scheme, KEM public-key length.

Table (RFC 9420 §17.1 / the IANA "MLS Cipher Suites" registry, plus two X-Wing suites):

* 0x0001, 0x0003: SHA-256, Ed25519 (X25519 KEM, 32-byte keys)
* 0x0002: SHA-256, ECDSA P-256 (P-256 KEM, 65-byte uncompressed keys)
* 0x0004, 0x0006: SHA-512, Ed448 (X448 KEM, 56-byte keys)
* 0x0005: SHA-512, ECDSA P-521 (133-byte keys)
* 0x0007: SHA-384, ECDSA P-384 (97-byte keys)
* 0x004D: OpenMLS/libxmtp X-Wing suite (SHA-256, Ed25519, 1216-byte keys)
* 0xF057: rine's X-Wing suite (``rine_mls.CIPHER_SUITE_XWING``; SHA-256, Ed25519)

Signatures follow RFC 9420 §5.1: ``SignWithLabel(key, label, content)`` signs the TLS
encoding of ``SignContent{opaque label<V> = "MLS 1.0 " + label; opaque content<V>}``;
EdDSA signatures are raw (RFC 8032), ECDSA signatures DER-encoded, ECDSA public keys
uncompressed SEC1 points, and the ECDSA digest is the suite's hash.

Batches (:func:`first_invalid_signature`, the leaf signatures of a whole tree) are split over
a few threads: OpenSSL's verify runs without the GIL in ``cryptography``, so a 1,001-leaf
tree checks in about half the time on two cores. The result does not depend on the split:
the failure reported is always the first failing item in batch order.
"""

from __future__ import annotations

import enum
import hashlib
import itertools
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519

from .errors import InvalidSigner, MlsError, SignatureInvalid, UnsupportedCipherSuite
from .tls import encode_varint

LABEL_PREFIX = b"MLS 1.0 "


class SignatureScheme(enum.Enum):
    """Signature algorithms of the supported suites."""

    ED25519 = "ed25519"
    ED448 = "ed448"
    ECDSA_P256 = "ecdsa_secp256r1_sha256"
    ECDSA_P384 = "ecdsa_secp384r1_sha384"
    ECDSA_P521 = "ecdsa_secp521r1_sha512"


@dataclass(frozen=True, slots=True)
class CipherSuite:
    """What invitekit needs of a suite: its hash, signature scheme and KEM key length."""

    suite_id: int
    name: str
    hash_name: str
    signature: SignatureScheme
    kem_public_key_length: int

    @property
    def hash_length(self) -> int:
        """Output length of the suite's hash (32, 48 or 64)."""
        return hashlib.new(self.hash_name).digest_size

    def hash(self, data: bytes) -> bytes:
        """The suite's hash of ``data``."""
        return hashlib.new(self.hash_name, data).digest()

    @property
    def hasher(self) -> Callable[[bytes], bytes]:
        """A fast one-shot hash function for this suite."""
        constructor = getattr(hashlib, self.hash_name)
        return lambda data: constructor(data).digest()  # type: ignore[no-any-return,unused-ignore]


_SUITES = (
    CipherSuite(
        0x0001,
        "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519",
        "sha256",
        SignatureScheme.ED25519,
        32,
    ),
    CipherSuite(
        0x0002, "MLS_128_DHKEMP256_AES128GCM_SHA256_P256", "sha256", SignatureScheme.ECDSA_P256, 65
    ),
    CipherSuite(
        0x0003,
        "MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519",
        "sha256",
        SignatureScheme.ED25519,
        32,
    ),
    CipherSuite(
        0x0004, "MLS_256_DHKEMX448_AES256GCM_SHA512_Ed448", "sha512", SignatureScheme.ED448, 56
    ),
    CipherSuite(
        0x0005, "MLS_256_DHKEMP521_AES256GCM_SHA512_P521", "sha512", SignatureScheme.ECDSA_P521, 133
    ),
    CipherSuite(
        0x0006,
        "MLS_256_DHKEMX448_CHACHA20POLY1305_SHA512_Ed448",
        "sha512",
        SignatureScheme.ED448,
        56,
    ),
    CipherSuite(
        0x0007, "MLS_256_DHKEMP384_AES256GCM_SHA384_P384", "sha384", SignatureScheme.ECDSA_P384, 97
    ),
    CipherSuite(
        0x004D,
        "MLS_256_XWING_CHACHA20POLY1305_SHA256_Ed25519",
        "sha256",
        SignatureScheme.ED25519,
        1216,
    ),
    CipherSuite(0xF057, "RINE_XWING_SHA256_Ed25519", "sha256", SignatureScheme.ED25519, 1216),
)
SUITES: dict[int, CipherSuite] = {s.suite_id: s for s in _SUITES}


def suite(suite_id: int) -> CipherSuite:
    """Look up a supported suite or raise :class:`UnsupportedCipherSuite`."""
    found = SUITES.get(suite_id)
    if found is None:
        raise UnsupportedCipherSuite(f"cipher suite 0x{suite_id:04x} is not supported")
    return found


def sign_content(label: str, content: bytes) -> bytes:
    """TLS encoding of ``SignContent{"MLS 1.0 " + label, content}`` (RFC 9420 §5.1.2)."""
    full = LABEL_PREFIX + label.encode("ascii")
    return encode_varint(len(full)) + full + encode_varint(len(content)) + content


_CURVES: dict[SignatureScheme, tuple[ec.EllipticCurve, hashes.HashAlgorithm]] = {
    SignatureScheme.ECDSA_P256: (ec.SECP256R1(), hashes.SHA256()),
    SignatureScheme.ECDSA_P384: (ec.SECP384R1(), hashes.SHA384()),
    SignatureScheme.ECDSA_P521: (ec.SECP521R1(), hashes.SHA512()),
}


def verify_with_label(
    cs: CipherSuite, public_key: bytes, label: str, content: bytes, signature: bytes
) -> None:
    """RFC 9420 VerifyWithLabel; raises :class:`SignatureInvalid` or :class:`InvalidSigner`."""
    failure = _check(cs, public_key, label, content, signature)
    if failure is not None:
        raise failure


#: One signature to check: ``(public_key, content, signature)``.
Signed = tuple[bytes, bytes, bytes]
#: Batches at least this long are split over threads (below it, the hand-off costs more).
PARALLEL_MIN = 64
_MAX_THREADS = 4
_pool_lock = threading.Lock()
_pools: dict[int, ThreadPoolExecutor] = {}  # by owner pid: a child after fork builds its own


def first_invalid_signature(
    cs: CipherSuite, label: str, items: Sequence[Signed], *, threads: int | None = None
) -> tuple[int, MlsError] | None:
    """VerifyWithLabel over every item: ``None`` when all verify, else the position of the
    first failing item in ``items`` order and its error (never raised here).

    ``threads``: ``None`` splits a batch of :data:`PARALLEL_MIN` or more over up to four
    threads (by CPU count); ``1`` checks everything on the calling thread.
    """
    threads = _thread_count(len(items)) if threads is None else max(1, threads)
    if threads < 2:
        return _first_failure(cs, label, items, 0)
    bounds = [len(items) * i // threads for i in range(threads + 1)]
    pool = _executor()
    futures = [
        pool.submit(_first_failure, cs, label, items[lo:hi], lo)
        for lo, hi in itertools.pairwise(bounds[1:])
    ]
    mine = _first_failure(cs, label, items[: bounds[1]], 0)
    found = [mine, *(f.result() for f in futures)]  # chunks in order: first hit is earliest
    return next((f for f in found if f is not None), None)


def _cpus() -> int:
    return min(_MAX_THREADS, os.cpu_count() or 1)


def _thread_count(n: int) -> int:
    """Threads for a batch of ``n`` (the caller's included): at least 32 items each."""
    return 1 if n < PARALLEL_MIN else max(1, min(_cpus(), n // (PARALLEL_MIN // 2)))


def _executor() -> ThreadPoolExecutor:
    """The process's verification pool: one thread fewer than the CPUs used (the caller
    checks one share itself); a child after ``fork`` builds its own."""
    with _pool_lock:
        pool = _pools.get(os.getpid())
        if pool is None:
            _pools.clear()
            pool = _pools[os.getpid()] = ThreadPoolExecutor(max(1, _cpus() - 1), "invitekit-verify")
        return pool


def _first_failure(
    cs: CipherSuite, label: str, items: Sequence[Signed], offset: int
) -> tuple[int, MlsError] | None:
    for i, (key, content, signature) in enumerate(items):
        failure = _check(cs, key, label, content, signature)
        if failure is not None:
            return offset + i, failure
    return None


def _check(
    cs: CipherSuite, public_key: bytes, label: str, content: bytes, signature: bytes
) -> MlsError | None:
    message = sign_content(label, content)
    scheme = cs.signature
    try:
        if scheme is SignatureScheme.ED25519:
            ed25519.Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
        elif scheme is SignatureScheme.ED448:
            ed448.Ed448PublicKey.from_public_bytes(public_key).verify(signature, message)
        else:
            curve, digest = _CURVES[scheme]
            key = ec.EllipticCurvePublicKey.from_encoded_point(curve, public_key)
            key.verify(signature, message, ec.ECDSA(digest))
    except InvalidSignature:
        return SignatureInvalid(f"{label} signature does not verify")
    except ValueError:
        return InvalidSigner(f"signature key is not a valid {scheme.value} public key")
    return None


__all__ = [
    "LABEL_PREFIX",
    "PARALLEL_MIN",
    "SUITES",
    "CipherSuite",
    "SignatureScheme",
    "Signed",
    "first_invalid_signature",
    "sign_content",
    "suite",
    "verify_with_label",
]

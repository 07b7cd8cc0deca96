"""Typed errors for every way invitekit refuses input.

Each class carries a stable ``code`` (used by the CLI's JSON output and the service's
problem types). Messages describe *what* was wrong, never the secret bytes involved: no
key, payload, ciphertext or full slot id ever appears in an error string.
"""

from __future__ import annotations


class InviteKitError(Exception):
    """Base of every error invitekit raises on purpose."""

    code = "invitekit-error"


# --- wire format ---------------------------------------------------------------------


class WireFormatError(InviteKitError):
    """Bytes that do not decode to a valid XIP-82 message."""

    code = "wire-format"


class MalformedMessage(WireFormatError):
    """The protobuf bytes do not parse, or parse to something structurally wrong."""

    code = "malformed-message"


class UnsupportedVersion(WireFormatError):
    """The versioned envelope carries no variant this reader knows (fail closed)."""

    code = "unsupported-version"


class EmptyServicePointer(WireFormatError):
    """A service pointer is present but has no location set."""

    code = "empty-service-pointer"


class InvalidServiceUrl(WireFormatError):
    """A service pointer's https_url is not an absolute https URL."""

    code = "invalid-service-url"


class InvalidExternalGroupId(WireFormatError):
    """external_group_id is missing or shorter than 4 bytes."""

    code = "invalid-external-group-id"


class MissingSymmetricKey(WireFormatError):
    """No symmetric key where one is required (or an empty key submessage)."""

    code = "missing-symmetric-key"


class InvalidSymmetricKeyLength(WireFormatError):
    """Symmetric key material is not exactly 32 bytes."""

    code = "invalid-symmetric-key-length"


class InvalidNonceLength(WireFormatError):
    """A blob nonce is not exactly 12 bytes."""

    code = "invalid-nonce-length"


class MissingGroupStateHash(WireFormatError):
    """A blob carries no group_state_hash (or an empty digest)."""

    code = "missing-group-state-hash"


class InvalidDigestLength(WireFormatError):
    """A group_state_hash digest does not have the ciphersuite's hash length."""

    code = "invalid-digest-length"


class CiphertextTooShort(WireFormatError):
    """A blob ciphertext is shorter than the 16-byte AEAD tag."""

    code = "ciphertext-too-short"


# --- policy --------------------------------------------------------------------------


class PolicyError(InviteKitError):
    """An EXTERNAL_COMMIT_POLICY value that breaks a lifecycle invariant."""

    code = "policy"


class EnabledWithoutInvite(PolicyError):
    """allow_external_commit is on but the key or the slot id is absent."""

    code = "enabled-without-invite"


class DisabledWithInviteFields(PolicyError):
    """allow_external_commit is off yet a per-invite field is present."""

    code = "disabled-with-invite-fields"


class PolicyNotEnabled(PolicyError):
    """An operation that needs an active invite was given a revoked policy."""

    code = "policy-not-enabled"


# --- blob ----------------------------------------------------------------------------


class BlobError(InviteKitError):
    """A blob that is well formed but cannot be opened."""

    code = "blob"


class BlobExpired(BlobError):
    """now_ns is at or past the blob's expires_at_ns."""

    code = "blob-expired"


class DecryptionFailed(BlobError):
    """AEAD authentication failed: wrong key, tampered ciphertext or tampered metadata."""

    code = "decryption-failed"


class InvalidEnvelopeRequest(BlobError):
    """A seal request with out-of-range metadata (epoch or expiry outside uint64)."""

    code = "invalid-seal-request"


# --- transport -----------------------------------------------------------------------


class TransportError(InviteKitError):
    """A link, QR or NFC encoding that cannot be produced or parsed."""

    code = "transport"


class InvalidInviteEncoding(TransportError):
    """Text that is none of: invite link, base64url, base32 (compact) or hex."""

    code = "invalid-invite-encoding"


class InvalidLinkBase(TransportError):
    """A link base that is not an absolute https URL without query or fragment."""

    code = "invalid-link-base"

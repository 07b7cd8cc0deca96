"""Typed errors for every way invitekit refuses input: the library's one error contract.

Every class carries a stable ``code`` (the CLI's JSON output and the service's problem
types use it). Messages describe *what* was wrong, never the secret bytes involved: no key,
payload, ciphertext or full slot id ever appears in an error string. No bare ``ValueError``
leaves the public API: the few errors that are also ``ValueError`` (a value out of its
range, an invalid setting) subclass both, so ``except ValueError`` keeps working.

The whole tree (``code`` in brackets)::

    InviteKitError [invitekit-error]
    ├── WireFormatError [wire-format]                 bytes that are not a valid XIP-82 message
    │   ├── MalformedMessage [malformed-message]
    │   ├── UnsupportedVersion [unsupported-version]
    │   ├── EmptyServicePointer [empty-service-pointer]
    │   ├── InvalidServiceUrl [invalid-service-url]
    │   ├── InvalidExternalGroupId [invalid-external-group-id]
    │   ├── MissingSymmetricKey [missing-symmetric-key]
    │   ├── InvalidSymmetricKeyLength [invalid-symmetric-key-length]
    │   ├── InvalidNonceLength [invalid-nonce-length]
    │   ├── MissingGroupStateHash [missing-group-state-hash]
    │   ├── InvalidDigestLength [invalid-digest-length]
    │   ├── CiphertextTooShort [ciphertext-too-short]
    │   └── InvalidLaneField [invalid-lane-field]        (also ValueError)
    ├── ValueOutOfRange [value-out-of-range]          a number outside its field (also ValueError)
    ├── InvalidSetting [invalid-setting]              a knob out of range (also ValueError)
    ├── PolicyError [policy]                          EXTERNAL_COMMIT_POLICY lifecycle
    │   ├── EnabledWithoutInvite [enabled-without-invite]
    │   ├── DisabledWithInviteFields [disabled-with-invite-fields]
    │   └── PolicyNotEnabled [policy-not-enabled]     the one "no active invite" refusal
    ├── BlobError [blob]                              a well-formed blob that cannot be opened
    │   ├── BlobExpired [blob-expired]
    │   ├── DecryptionFailed [decryption-failed]
    │   ├── InvalidEnvelopeRequest [invalid-seal-request]
    │   └── BlobGroupInfoMismatch [blob-group-info-mismatch]
    ├── TransportError [transport]                    link, QR, NFC
    │   ├── InvalidInviteEncoding [invalid-invite-encoding]
    │   ├── InvalidLinkBase [invalid-link-base]
    │   └── UnsupportedQrFormat [unsupported-qr-format]  (also ValueError)
    ├── FlowStateError [flow-state]                   a sans-IO machine fed out of turn
    ├── MlsError [mls]                                RFC 9420 layer: see invitekit.mls.errors
    │   ├── MlsDecodeError [mls-decode] (+ Truncated, TrailingBytes, InvalidVarint,
    │   │     UnknownEnumValue, UnsupportedMessage, LimitExceeded, InvalidStructure,
    │   │     MissingExtension, InvalidAppData)
    │   ├── MlsEncodeError [mls-encode]               (also ValueError)
    │   ├── UnsupportedCipherSuite, SignatureInvalid, InvalidSigner
    │   └── TreeHashMismatch, ParentHashInvalid
    ├── ComponentError [xmtp-component]               XMTP components: invitekit.xmtp_components
    │   ├── MalformedMembership [group-membership-malformed]
    │   ├── MalformedDelta [membership-delta-malformed]
    │   ├── MalformedEntry [membership-entry-malformed]
    │   └── NotAnXmtpCredential [not-an-xmtp-credential]
    ├── ProtocolError [protocol]                      the service protocol: invitekit.protocol
    │   ├── InvalidRequest [invalid-request]          (carries the ProblemCode to answer with)
    │   └── InvalidResponse [invalid-response]
    └── ClientError [client]                          blob-service client: invitekit.client.errors
        ├── InsecureUrl, RedirectRefused, TooManyRedirects, BodyTooLarge, FetchTimeout
        ├── ServiceUnreachable, ServiceError (+ UploadRejected), MalformedResponse, BodyNotFound
        ├── LaneKeyRequired, DuplicateMount, InvalidFetchPolicy (also ValueError)
        └── UnresolvablePointer

Join and refresh *outcomes* (an expired invite, a full invite, a rotated QR) are not errors:
they are typed values returned by :mod:`invitekit.join` and :mod:`invitekit.refresh`; so are
the receive-side validator's verdicts (:mod:`invitekit.commit_validation`).
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


class InvalidLaneField(WireFormatError, ValueError):
    """A keyed-lane write-proof field (slot id, lane id, body digest) of the wrong length."""

    code = "invalid-lane-field"


# --- values and settings ---------------------------------------------------------------


class ValueOutOfRange(InviteKitError, ValueError):
    """A number outside the range of the field that carries it (uint64, uint32)."""

    code = "value-out-of-range"


class InvalidSetting(InviteKitError, ValueError):
    """A caller-supplied knob (backoff, caps, margins) outside its allowed range."""

    code = "invalid-setting"


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


class BlobGroupInfoMismatch(BlobError):
    """A decrypted GroupInfo's epoch or GroupContext digest differs from the blob metadata."""

    code = "blob-group-info-mismatch"


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


class UnsupportedQrFormat(TransportError, ValueError):
    """A QR output file name whose extension is neither ``.png`` nor ``.svg``."""

    code = "unsupported-qr-format"


# --- sans-IO machines ------------------------------------------------------------------


class FlowStateError(InviteKitError):
    """A join or refresh machine was given an event it is not waiting for (a driver bug)."""

    code = "flow-state"


__all__ = [
    "BlobError",
    "BlobExpired",
    "BlobGroupInfoMismatch",
    "CiphertextTooShort",
    "DecryptionFailed",
    "DisabledWithInviteFields",
    "EmptyServicePointer",
    "EnabledWithoutInvite",
    "FlowStateError",
    "InvalidDigestLength",
    "InvalidEnvelopeRequest",
    "InvalidExternalGroupId",
    "InvalidInviteEncoding",
    "InvalidLaneField",
    "InvalidLinkBase",
    "InvalidNonceLength",
    "InvalidServiceUrl",
    "InvalidSetting",
    "InvalidSymmetricKeyLength",
    "InviteKitError",
    "MalformedMessage",
    "MissingGroupStateHash",
    "MissingSymmetricKey",
    "PolicyError",
    "PolicyNotEnabled",
    "TransportError",
    "UnsupportedQrFormat",
    "UnsupportedVersion",
    "ValueOutOfRange",
    "WireFormatError",
]

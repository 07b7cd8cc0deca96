"""Typed errors for MLS GroupInfo decoding and verification.

The RFC 9420 subtree of :class:`invitekit.errors.InviteKitError` (the whole tree is drawn
in :mod:`invitekit.errors`); every class carries a stable ``code``. The hierarchy mirrors
the verification levels: :class:`MlsDecodeError` (level 1, parse), :class:`SignatureInvalid`
(level 2), :class:`TreeHashMismatch` (level 3). Messages name the
structure and offset involved, never key material.
"""

from __future__ import annotations

from ..errors import InviteKitError


class MlsError(InviteKitError):
    """Base of every MLS decoding or verification failure."""

    code = "mls"


# --- level 1: decoding ----------------------------------------------------------------


class MlsDecodeError(MlsError):
    """Bytes that are not a well-formed TLS encoding of the expected MLS structure."""

    code = "mls-decode"


class Truncated(MlsDecodeError):
    """The input ends before a field (or a declared vector length) does."""

    code = "mls-truncated"


class TrailingBytes(MlsDecodeError):
    """Bytes remain after a complete structure (or inside a length-delimited field)."""

    code = "mls-trailing-bytes"


class InvalidVarint(MlsDecodeError):
    """A variable-size length uses the reserved 0b11 prefix or a non-minimal encoding."""

    code = "mls-invalid-varint"


class UnknownEnumValue(MlsDecodeError):
    """An enum value RFC 9420 gives no meaning to where the value decides the layout."""

    code = "mls-unknown-enum"


class UnsupportedMessage(MlsDecodeError):
    """An MLSMessage that is not version mls10, or not of the wire format expected."""

    code = "mls-unsupported-message"


class LimitExceeded(MlsDecodeError):
    """The input breaks a size bound (input bytes, tree nodes, vector items)."""

    code = "mls-limit-exceeded"


class InvalidStructure(MlsDecodeError):
    """Well-formed TLS that breaks an RFC 9420 rule (duplicate extension, blank last node...)."""

    code = "mls-invalid-structure"


class MissingExtension(MlsDecodeError):
    """A required GroupInfo extension (ratchet_tree, external_pub) is absent."""

    code = "mls-missing-extension"


class MlsEncodeError(MlsError, ValueError):
    """A value that cannot be TLS-encoded (a varint beyond 2**30 - 1)."""

    code = "mls-encode"


# --- derived values -------------------------------------------------------------------


class UnsupportedCipherSuite(MlsError):
    """A cipher suite whose hash or signature scheme invitekit does not know."""

    code = "mls-unsupported-cipher-suite"


class InvalidAppData(MlsDecodeError):
    """An app_data_dictionary that is unsorted, has duplicates or trailing bytes."""

    code = "mls-invalid-app-data"


# --- level 2: signature ---------------------------------------------------------------


class SignatureInvalid(MlsError):
    """The GroupInfo signature does not verify under the signer leaf's key."""

    code = "mls-signature-invalid"


class InvalidSigner(MlsError):
    """GroupInfo.signer does not name a non-blank leaf, or its key is malformed."""

    code = "mls-invalid-signer"


# --- level 3: tree --------------------------------------------------------------------


class TreeHashMismatch(MlsError):
    """The tree hash recomputed from the embedded ratchet tree differs from the context's."""

    code = "mls-tree-hash-mismatch"


class ParentHashInvalid(MlsError):
    """A non-blank parent node is not parent-hash valid (RFC 9420 §7.9.2)."""

    code = "mls-parent-hash-invalid"


__all__ = [
    "InvalidAppData",
    "InvalidSigner",
    "InvalidStructure",
    "InvalidVarint",
    "LimitExceeded",
    "MissingExtension",
    "MlsDecodeError",
    "MlsEncodeError",
    "MlsError",
    "ParentHashInvalid",
    "SignatureInvalid",
    "TrailingBytes",
    "TreeHashMismatch",
    "Truncated",
    "UnknownEnumValue",
    "UnsupportedCipherSuite",
    "UnsupportedMessage",
]

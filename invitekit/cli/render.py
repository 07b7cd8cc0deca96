"""JSON views of invite objects for the CLI. Secrets are redacted unless asked for."""

from __future__ import annotations

import hashlib
from typing import Any

from ..blob import ParsedBlob
from ..payload import ParsedPayload
from ..pointer import HttpsPointer, ServicePointer
from ..policy import ParsedPolicy

REDACTED = "<redacted>"


def secret(value: bytes | None, show: bool) -> str | None:
    """Hex of a secret when ``show``; otherwise a marker that says it is there."""
    if value is None:
        return None
    return value.hex() if show else REDACTED


def pointer_view(pointer: ServicePointer | None) -> dict[str, str] | None:
    """``{"https_url": ...}`` or ``{"opaque": hex}``; None when absent."""
    if pointer is None:
        return None
    if isinstance(pointer, HttpsPointer):
        return {"https_url": pointer.url}
    return {"opaque": pointer.data.hex()}


def payload_view(parsed: ParsedPayload, show_secrets: bool) -> dict[str, Any]:
    """The invite payload as JSON-able data."""
    p = parsed.payload
    return {
        "kind": "invite-payload",
        "version": 1,
        "dialect": parsed.dialect.value,
        "service_pointer": pointer_view(p.service_pointer),
        "external_group_id": p.external_group_id.hex(),
        "symmetric_key": secret(p.symmetric_key, show_secrets),
    }


def policy_view(parsed: ParsedPolicy, show_secrets: bool) -> dict[str, Any]:
    """The policy entry as JSON-able data."""
    p = parsed.policy
    return {
        "kind": "external-commit-policy",
        "version": 1 if parsed.recognized else None,
        "dialect": parsed.dialect.value,
        "allow_external_commit": p.allow_external_commit,
        "expires_at_ns": p.expires_at_ns,
        "expire_in_ns": p.expire_in_ns,
        "symmetric_key": secret(p.symmetric_key, show_secrets),
        "external_group_id": p.external_group_id.hex() or None,
        "max_uses": p.max_uses,
        "refresh_pointers": [pointer_view(r) for r in p.refresh_pointers],
    }


def blob_view(parsed: ParsedBlob) -> dict[str, Any]:
    """Blob metadata as JSON-able data (the ciphertext itself is never printed)."""
    b = parsed.blob
    return {
        "kind": "encrypted-group-info-blob",
        "version": 1,
        "dialect": parsed.dialect.value,
        "epoch": b.epoch,
        "group_state_hash": b.group_state_hash.hex(),
        "expires_at_ns": b.expires_at_ns,
        "nonce": b.nonce.hex(),
        "ciphertext_length": len(b.ciphertext),
        "sha256": parsed.content_sha256.hex(),
    }


def short_id(external_group_id: bytes) -> str:
    """A non-reversible 8-hex-digit tag for a slot id, safe for logs."""
    return hashlib.sha256(external_group_id).hexdigest()[:8]

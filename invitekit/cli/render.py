"""What the CLI shows people: JSON views of invite objects (secrets redacted unless asked
for) and the English sentence for every join outcome (the core's outcomes carry data only).
"""

from __future__ import annotations

import hashlib
from typing import Any

from ..blob import ParsedBlob
from ..groupinfo_policy import PolicySource
from ..join import (
    AllExpired,
    AllUndecryptable,
    Joined,
    JoinOutcome,
    NoCandidates,
    NoValidCandidate,
    PrecommitAborted,
    ReadyToCommit,
    RejectedAfterForks,
)
from ..payload import ParsedPayload
from ..pointer import HttpsPointer, ServicePointer
from ..policy import ParsedPolicy
from ..precommit import PrecommitCode
from ..refresh import SkipReason
from ..times import format_duration, format_instant

REDACTED = "<redacted>"


def instant_text(ns: int) -> str:
    """An ``expires_at_ns``-style instant as people read it (0 means none: ``never``)."""
    return format_instant(ns) if ns else "never"


def duration_text(ns: int) -> str:
    """An ``expire_in_ns``-style duration as people read it (0 means none: ``none``)."""
    return format_duration(ns) if ns else "none"


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
        "expires_at": instant_text(p.expires_at_ns),
        "expire_in_ns": p.expire_in_ns,
        "expire_in": duration_text(p.expire_in_ns),
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
        "expires_at": instant_text(b.expires_at_ns),
        "nonce": b.nonce.hex(),
        "ciphertext_length": len(b.ciphertext),
        "sha256": parsed.content_sha256.hex(),
    }


def short_id(external_group_id: bytes) -> str:
    """A non-reversible 8-hex-digit tag for a slot id, safe for logs."""
    return hashlib.sha256(external_group_id).hexdigest()[:8]


_PRECOMMIT_WORDS = {
    PrecommitCode.NO_POLICY: (
        "The group's state carries no invite policy, so external commits are off."
    ),
    PrecommitCode.SWITCH_OFF: "The group's admins have turned this invite off.",
    PrecommitCode.POLICY_EXPIRED: "This invite's campaign has ended.",
    PrecommitCode.STALE_QR: "This invite was replaced by a newer one; ask for the current invite.",
}


def describe_outcome(outcome: JoinOutcome) -> str:
    """One sentence a joining person can read, for every join outcome."""
    match outcome:
        case Joined():
            if outcome.refresh_skipped is SkipReason.STALE_QR:
                return (
                    f"Joined at epoch {outcome.epoch}, but this invite was replaced meanwhile; "
                    "the old invite was not refreshed."
                )
            return (
                f"Joined the group at epoch {outcome.epoch} "
                f"(refreshed {outcome.refreshed} slot copies)."
            )
        case ReadyToCommit():
            epoch = outcome.epoch if outcome.epoch is not None else "?"
            if outcome.policy_source is PolicySource.NONE:
                return (
                    f"Ready to join the group at epoch {epoch}; the GroupInfo carries no "
                    "EXTERNAL_COMMIT_POLICY, so the pre-commit policy check could not run."
                )
            return f"Ready to join the group at epoch {epoch}."
        case PrecommitAborted():
            if outcome.code is PrecommitCode.MAX_USES_EXHAUSTED:
                return f"This invite is full ({outcome.uses} of {outcome.max_uses} places taken)."
            if outcome.code is PrecommitCode.POLICY_EXPIRED and outcome.expires_at_ns:
                return (
                    f"This invite's campaign ended at {format_instant(outcome.expires_at_ns)}."
                )
            return _PRECOMMIT_WORDS[outcome.code]
        case NoCandidates():
            if outcome.fetch_errors:
                return "No invite service could be reached; try again later."
            # Services drop expired copies, so an expired invite and a never-uploaded one
            # look alike to a joiner; expiry is by far the more common cause.
            return (
                "No live copy of the group's state is on the service: the invite has "
                "expired (services drop expired copies) or was never uploaded."
            )
        case AllExpired():
            return "This invite has expired: every copy of the group's state is too old."
        case AllUndecryptable():
            return "This invite no longer opens the group: it was replaced or the slot is junk."
        case NoValidCandidate():
            return "No usable copy of the group's state was found; try again later."
        case RejectedAfterForks():
            return (
                f"The group refused all {outcome.attempts} join attempt(s); its state moved on. "
                "Try again shortly."
            )
    return outcome.kind


def outcome_json(outcome: JoinOutcome) -> dict[str, Any]:
    """The outcome's data plus its ``message`` for people (and readable instants)."""
    data: dict[str, Any] = {}
    for key, value in outcome.to_json().items():
        data[key] = value
        if key.endswith("_at_ns") and isinstance(value, int):
            data[key.removesuffix("_ns")] = instant_text(value)
    return {**data, "message": describe_outcome(outcome)}


__all__ = [
    "REDACTED",
    "blob_view",
    "describe_outcome",
    "duration_text",
    "instant_text",
    "outcome_json",
    "payload_view",
    "pointer_view",
    "policy_view",
    "secret",
    "short_id",
]

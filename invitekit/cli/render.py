"""What the CLI shows people: JSON views of invite objects (secrets redacted unless asked
for) and the English sentence for every join outcome (the core's outcomes carry data only).
"""

from __future__ import annotations

import hashlib
from typing import Any

from ..blob import ParsedBlob
from ..commit_validation import Accepted, Check, Rejected, Verdict
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
from ..refresh.reports import SkipReason
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


#: Each validator check's name (the number is the XIP's; framing and the member rules
#: have names only).
CHECK_NAMES = {
    Check.FRAMING: "RFC 9420 framing",
    Check.SENDER: "sender is new_member_commit",
    Check.EXTERNAL_INIT: "exactly one ExternalInit",
    Check.ADDS_SAME_INBOX: "the joiner and its Adds are one XMTP inbox",
    Check.NOT_ALREADY_MEMBER: "joiner is not already a member",
    Check.APP_DATA_UPDATE: "only the joiner's own membership insert",
    Check.FORBIDDEN_PROPOSALS: "no forbidden proposal",
    Check.SWITCH_ON: "external commits switched on",
    Check.CAMPAIGN_EXPIRY: "invite campaign not ended",
    Check.STALENESS: "GroupInfo not stale",
    Check.ADMITTED_VIA: "entry tagged with the active slot id",
    Check.MAX_USES: "max_uses not reached",
    Check.POLICY_LIFECYCLE: "EXTERNAL_COMMIT_POLICY lifecycle invariants",
    Check.MEMBER_TAG: "no member changes an admission tag",
}


def short_inbox(inbox_id: bytes) -> str:
    """An inbox id shortened for people: its first 8 hex digits and an ellipsis."""
    return inbox_id.hex()[:8] + "…"


def check_label(check: Check) -> str:
    """A check by number and name (``check 5 (only the joiner's own membership insert)``);
    the unnumbered ones by name (``framing check (RFC 9420 framing)``)."""
    if check.value.isdigit():
        return f"check {check.value} ({CHECK_NAMES[check]})"
    return f"{check.value} check ({CHECK_NAMES[check]})"


def describe_verdict(verdict: Verdict) -> str:
    """One line for a validator verdict: which rules ran and what they decided."""
    if isinstance(verdict, Rejected):
        inbox = f" [inbox {short_inbox(verdict.inbox_id)}]" if verdict.inbox_id else ""
        return (
            f"rejected: {check_label(verdict.check)}: {verdict.code.value}: "
            f"{verdict.detail}{inbox}"
        )
    if verdict.sender == "member":
        return (
            "accepted: member commit; rules run: "
            f"{check_label(Check.FRAMING)}, "
            f"{check_label(Check.POLICY_LIFECYCLE)} on "
            f"{_count(verdict.policy_writes, 'policy write')}, "
            f"{check_label(Check.MEMBER_TAG)} on "
            f"{_count(verdict.membership_updates, 'GROUP_MEMBERSHIP update')}; "
            "checks 1-11 are for external commits only; the membership and confirmation "
            "tags stay with your MLS stack"
        )
    return _describe_external(verdict)


def _describe_external(verdict: Accepted) -> str:
    joiner = f"inbox {short_inbox(verdict.joiner_inbox_id)}" if verdict.joiner_inbox_id else "?"
    return (
        f"accepted: new_member_commit commit from {joiner} "
        f"(+{_count(verdict.added_installations, 'added installation')}); "
        "passed the framing check and checks 1-11; the confirmation tag, the ExternalInit "
        "and the UpdatePath stay with your MLS stack"
    )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def describe_plain_commit(verdict: Verdict) -> str:
    """The demo's note on a plain RFC 9420 external commit (what rine-mls builds)."""
    return (
        "a plain RFC 9420 external commit, not the XIP's atomic shape (rine-mls has no XMTP "
        "credentials and cannot add the joiner's AppDataUpdate); the demo's simulated "
        "delivery service takes it, but an XMTP member running invitekit's XIP-82 validator "
        f"would not: {describe_verdict(verdict)}"
    )


def describe_pieces(proposal: bytes) -> str:
    """The demo's note on the joiner's own membership proposal (built by invitekit)."""
    return (
        f"invitekit built the joiner's own GROUP_MEMBERSHIP AppDataUpdate the XIP's commit "
        f"carries ({len(proposal)} bytes: {proposal[:8].hex()}…); an XMTP client appends "
        "it to the external commit"
    )


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
    "CHECK_NAMES",
    "REDACTED",
    "blob_view",
    "check_label",
    "describe_outcome",
    "describe_pieces",
    "describe_plain_commit",
    "describe_verdict",
    "duration_text",
    "instant_text",
    "outcome_json",
    "payload_view",
    "pointer_view",
    "policy_view",
    "secret",
    "short_id",
    "short_inbox",
]

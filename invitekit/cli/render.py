"""What the CLI shows people: JSON views of invite objects (secrets redacted unless asked
for), the English sentence for every join outcome (the core's outcomes carry data only) and
every other sentence a command prints: its report lines, the message of its one-line errors
(the codes stay with the commands), its warnings and the demo's narration.
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
from ..mirror import SlotMirrorReport
from ..payload import ParsedPayload
from ..pointer import HttpsPointer, ServicePointer
from ..policy import ParsedPolicy
from ..precommit import PrecommitCode
from ..refresh.reports import RefreshReport, SkipReason
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


# --- report lines ----------------------------------------------------------------------


def outcome_line(outcome: JoinOutcome) -> str:
    """``join-check``: the outcome's kind and its sentence."""
    return f"{outcome.kind}: {describe_outcome(outcome)}"


def refresh_lines(report: RefreshReport) -> list[str]:
    """``upload``/``refresh``: the pass's status, then one indented line per target."""
    lines = [f"{report.role} refresh at epoch {report.epoch}: {report.status}"]
    for target in report.targets:
        outcomes = ", ".join(f"{u['kind']}={u['outcome']}" for u in target.to_json()["uploads"])
        note = target.error or (str(target.skipped) if target.skipped else "")
        extra = f" ({outcomes})" if outcomes else (f" ({note})" if note else "")
        where = f"{target.service} {target.kind}" if target.kind else target.service
        lines.append(f"  {where}: {target.action}{extra}")
    return lines


def candidate_line(row: dict[str, Any]) -> str:
    """``fetch``: one candidate blob (a row of the command's JSON) on one line."""
    state = "opens" if row.get("opens") else row.get("error", "does not open")
    if row.get("expired"):
        state += ", expired"
    envelope = row.get("envelope", "?")
    return (
        f"{row['sha256'][:16]}  {envelope}  epoch={row.get('epoch', '?')}  "
        f"{row['size']} B  expires={row.get('expires_at', '?')}  {state}"
    )


#: ``fetch`` found nothing.
NO_CANDIDATES = "no candidates (an expired or never-uploaded invite looks like this)"
#: ``mirror`` with no lane named copies the open slot only.
OPEN_SLOT_ONLY = "lanes: none named, open slot only (--lane or --invite adds lanes)"


def mirror_line(report: SlotMirrorReport) -> str:
    """``mirror``: one slot, its read and accepted copies (or its error)."""
    copied = sum(1 for u in report.results if u.ok)
    status = report.error or f"{report.read} read, {copied}/{len(report.results)} accepted"
    return f"{report.slot_id.hex()}: {status}"


def policy_mismatch(differs: list[str]) -> str:
    """The ``policy-mismatch`` warning: which fields of the GroupInfo's policy differ."""
    return (
        "the GroupInfo carries a different EXTERNAL_COMMIT_POLICY "
        f"({', '.join(differs)}); joiners check the GroupInfo's policy"
    )


# --- one-line error messages (``error: <code>: <message>``; the codes stay with the
# commands) --------------------------------------------------------------------------------

KIND_CHOICES = "--kind must be 'lane' or 'open'"
LEVEL_CHOICES = "--level must be parse, signature, tree or parent-hashes"
ROLE_CHOICES = "--role must be committer, backstop or deep"
GROUP_INFO_NEEDS_POLICY = "--group-info needs --policy"
GROUP_INFO_NEEDS_EPOCH_START = (
    "--group-info needs --epoch-start-ns (nanoseconds, an RFC 3339 instant or 'now')"
)
UPLOAD_NEEDS_INPUT = "give --blob, or --group-info with --policy"
BLOB_NEEDS_KEY = "--blob needs --invite or --policy (slot id and key)"
NO_UPLOAD_TARGET = "no target: give --service (the invite/policy names none)"
LANE_LENGTH = "--lane must be 32 bytes of hex"
MIRROR_NEEDS_SLOTS = "give at least one --slot-id or --invite"
LANE_KIND_NEEDS_LANES = (
    "--kind lane needs the lanes named (--lane or --invite): the service has no lane listing"
)
NOTHING_TO_COPY = "the source holds nothing for these slots"
POLICY_OR_KEYS_NOT_BOTH = "give either --policy or --key/--slot-id, not both"
POLICY_OR_KEYS = "give --policy, or both --key and --slot-id"
SERVICE_OR_OPAQUE = "give at most one of --service and --opaque"
NFC_NEEDS_LINK = "--nfc needs --link-base (the record carries the link)"
ONE_STDIN = "only one input can come from stdin"
DEMO_MEMBERS_RANGE = "--members must be between 1 and 50"
DEMO_NEEDS_MLS = "the demo needs rine-mls: pip install 'invitekit[mls]'"
DEMO_NEEDS_SERVICE = "give --service, or pip install 'invitekit[service]'"


def not_hex(flag: str) -> str:
    """An option value that is not hex (``mirror``'s ``--slot-id``/``--lane``,
    ``membership-update``'s ``--inbox-id``/``--slot-id``)."""
    return f"{flag} must be hex"


def unknown_type(kind: str, choices: list[str]) -> str:
    """``inspect --type`` names no inspector."""
    return f"unknown type {kind!r}; choose from {', '.join(choices)}"


def unrecognized_input(errors: list[str]) -> str:
    """``inspect``: no inspector read the input (each one's error code)."""
    return "input is none of the known kinds (" + "; ".join(errors) + ")"


def legacy_not_in(envelope: object) -> str:
    """``seal --legacy`` with an envelope that has no legacy dialect."""
    return f"--legacy is a v1 dialect; the {envelope} envelope has none"


# --- the demo's narration (``invitekit demo``: one sentence per step) -----------------------

#: What the demo simulates, said in its output.
DEMO_SIMULATED = (
    "simulated: rine-mls cannot carry app_data_dictionary in the GroupContext, so the "
    "policy lives beside the group and reaches joiners through the join flow's "
    "policy_provider; the delivery service is an in-memory ordered log"
)
DEMO_IN_PROCESS_SERVICE = "an in-process blob service (temporary SQLite)"
DEMO_OFFLINE = "every member goes offline"
DEMO_ORDINARY_COMMIT_REFUSED = "the delivery service refused an ordinary commit"


def demo_service_at(url: str) -> str:
    """Where the demo's blobs go when ``--service`` names a running service."""
    return f"the blob service at {url}"


def demo_founded(members: int, epoch: int) -> str:
    """Step: the group is founded."""
    return f"admin creates an MLS group (rine-mls) with {members} members at epoch {epoch}"


def demo_enabled(fingerprint: str) -> str:
    """Step: the invite is turned on (and what is simulated)."""
    return (
        f"admin turns the invite on: EXTERNAL_COMMIT_POLICY enabled, expire_in 1h, "
        f"slot fingerprint {fingerprint} ({DEMO_SIMULATED})"
    )


def demo_first_upload_refused(report: object) -> str:
    """The demo stops: the first upload was refused (``report``: its JSON)."""
    return "the first upload was refused: " + str(report)


def demo_sealed(epoch: int, where: str, uploaded: int) -> str:
    """Step: the first GroupInfo is sealed and uploaded to ``where``."""
    return (
        f"admin seals the GroupInfo of epoch {epoch} and uploads it to {where} "
        f"({uploaded} copies: keyed lane and open slot)"
    )


def demo_minted(qr_version: int, qr_path: object) -> str:
    """Step: the link and QR code are minted."""
    return (
        f"admin mints the invite: a link and a QR code (version {qr_version}) "
        f"written to {qr_path}"
    )


def demo_scanned(outcome: JoinOutcome) -> str:
    """Step: the first stranger checks the invite."""
    return f"a stranger, dana, scans the QR: {describe_outcome(outcome)}"


def demo_pieces(name: str, proposal: bytes) -> str:
    """Step: the joiner's own membership proposal."""
    return f"{name}'s commit pieces: {describe_pieces(proposal)}"


def demo_joined_offline(outcome: JoinOutcome) -> str:
    """Step: the first stranger joins with no member online."""
    return (
        "dana joins by a plain RFC 9420 external commit (rine-mls) with no member "
        f"online: {describe_outcome(outcome)}"
    )


def demo_commit_verdict(name: str, verdict: Verdict) -> str:
    """Step: the validator's verdict on a joiner's plain RFC 9420 commit."""
    return f"{name}'s commit, honestly: {describe_plain_commit(verdict)}"


def demo_caught_up(epochs: dict[str, int]) -> str:
    """Step: the members apply the join."""
    return f"the members come back online and apply dana's commit: epochs {epochs}"


def demo_committer_refreshed(committer: str, epoch: int, uploaded: int) -> str:
    """Step: an ordinary commit, and the committer's refresh."""
    return (
        f"{committer} adds erin (an ordinary commit, epoch {epoch}) and, as committer, "
        f"refreshes the slot: {uploaded} copies uploaded"
    )


def demo_backstop(actions: list[str]) -> str:
    """Step: a backstop member checks the slot."""
    return f"admin, a backstop member, checks the slot and stands down: {actions}"


def demo_second_joined(outcome: JoinOutcome) -> str:
    """Step: the second stranger joins after the epoch change."""
    return f"a second stranger, frank, joins after the epoch change: {describe_outcome(outcome)}"


def demo_epochs_disagree(epochs: dict[str, int]) -> str:
    """The demo stops: the members ended on different epochs."""
    return f"members disagree on the epoch: {epochs}"


def demo_converged(epoch: int, members: list[str]) -> str:
    """Step: everyone is on one epoch."""
    return f"everyone is at epoch {epoch}: {len(members)} members ({', '.join(members)})"


# --- messages of the errors the CLI raises itself ---------------------------------------

NOT_HPKE_BLOB = "not an invitekit HPKE extension blob"
NOT_POLICY_V1 = "not a version-1 policy entry"
NO_FILE_TOO_LONG = "no such file, and too long for invite text"
NO_FILE_NOT_SHOWN = "no such file, and not invite text (not shown: it may hold a key)"
NOT_UTF8 = "input is not UTF-8 text"


def no_such_file(path: str) -> str:
    """A path that does not exist."""
    return f"no such file: {path}"


def not_encoded_as(encoding: str) -> str:
    """Input that is not text in the ``--input-encoding`` given."""
    return f"input is not {encoding} text"


def is_not_regular(path: str, kind: str) -> str:
    """``kind``: what the path is instead (:data:`DIRECTORY`, :data:`FIFO` …)."""
    return f"{path} is {kind}"


def not_regular_file(path: str) -> str:
    """A path that is not a regular file (nor a known other kind)."""
    return f"{path} is not a regular file"


#: What a path that is not a regular file is, as ``is_not_regular`` says it.
DIRECTORY = "a directory"
FIFO = "a FIFO (named pipe); pipe it into - (standard input) instead"
CHAR_DEVICE = "a character device"
BLOCK_DEVICE = "a block device"
SOCKET = "a socket"


def too_large(where: str, label: str, cap: int) -> str:
    """An input above its cap (``label``: what it is, ``cap`` in bytes)."""
    return f"{where} is larger than any {label} ({cap:,} bytes at most)"


def blob_expired(what: str, ago: str, at: str, expires_at_ns: int) -> str:
    """A blob that would be (or is) expired: when, and what to check."""
    return (
        f"{what} expired {ago} ago (at {at}, expires_at_ns "
        f"{expires_at_ns}); check --epoch-start-ns and the policy's expire_in/expires_at"
    )


def needs_service(opaque: bool) -> str:
    """An invite whose service pointer this command cannot resolve (opaque, or none)."""
    what = "an opaque service pointer" if opaque else "no service pointer"
    return f"the invite carries {what}; give --service"


__all__ = [
    "BLOB_NEEDS_KEY",
    "BLOCK_DEVICE",
    "CHAR_DEVICE",
    "CHECK_NAMES",
    "DEMO_IN_PROCESS_SERVICE",
    "DEMO_MEMBERS_RANGE",
    "DEMO_NEEDS_MLS",
    "DEMO_NEEDS_SERVICE",
    "DEMO_OFFLINE",
    "DEMO_ORDINARY_COMMIT_REFUSED",
    "DEMO_SIMULATED",
    "DIRECTORY",
    "FIFO",
    "GROUP_INFO_NEEDS_EPOCH_START",
    "GROUP_INFO_NEEDS_POLICY",
    "KIND_CHOICES",
    "LANE_KIND_NEEDS_LANES",
    "LANE_LENGTH",
    "LEVEL_CHOICES",
    "MIRROR_NEEDS_SLOTS",
    "NFC_NEEDS_LINK",
    "NOTHING_TO_COPY",
    "NOT_HPKE_BLOB",
    "NOT_POLICY_V1",
    "NOT_UTF8",
    "NO_CANDIDATES",
    "NO_FILE_NOT_SHOWN",
    "NO_FILE_TOO_LONG",
    "NO_UPLOAD_TARGET",
    "ONE_STDIN",
    "OPEN_SLOT_ONLY",
    "POLICY_OR_KEYS",
    "POLICY_OR_KEYS_NOT_BOTH",
    "REDACTED",
    "ROLE_CHOICES",
    "SERVICE_OR_OPAQUE",
    "SOCKET",
    "UPLOAD_NEEDS_INPUT",
    "blob_expired",
    "blob_view",
    "candidate_line",
    "check_label",
    "demo_backstop",
    "demo_caught_up",
    "demo_commit_verdict",
    "demo_committer_refreshed",
    "demo_converged",
    "demo_enabled",
    "demo_epochs_disagree",
    "demo_first_upload_refused",
    "demo_founded",
    "demo_joined_offline",
    "demo_minted",
    "demo_pieces",
    "demo_scanned",
    "demo_sealed",
    "demo_second_joined",
    "demo_service_at",
    "describe_outcome",
    "describe_pieces",
    "describe_plain_commit",
    "describe_verdict",
    "duration_text",
    "instant_text",
    "is_not_regular",
    "legacy_not_in",
    "mirror_line",
    "needs_service",
    "no_such_file",
    "not_encoded_as",
    "not_hex",
    "not_regular_file",
    "outcome_json",
    "outcome_line",
    "payload_view",
    "pointer_view",
    "policy_mismatch",
    "policy_view",
    "refresh_lines",
    "secret",
    "short_id",
    "short_inbox",
    "too_large",
    "unknown_type",
    "unrecognized_input",
]

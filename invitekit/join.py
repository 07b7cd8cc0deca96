"""XIP-82 join side, sans-IO: triage, validate-and-select, pre-commit check, typed outcomes.

Everything here is a pure function (or a deterministic state machine) over bytes and a
``now_ns`` the caller passes in; fetching and committing live in :mod:`invitekit.flows`.

How the XIP's join steps map onto this module:

* step 2 bounds — :func:`triage` caps the candidate count and the per-blob size;
* step 3 — :func:`triage` runs the cheap checks on every candidate (version and shape,
  expiry, AEAD under one :class:`~invitekit.blob.BlobKey`), then :class:`Selection` runs
  the expensive ones (GroupInfo parse, signature / tree-hash levels, epoch and digest
  consistency, via :func:`invitekit.mls.sealing.open_and_verify`) lazily, in selection
  order;
* step 4 — :meth:`Selection.exhausted` turns "no survivor" into a typed outcome;
* step 5 — the order is (epoch desc, digest asc, content hash asc). Because a survivor's
  claimed epoch and digest are checked against the GroupInfo, validating lazily in claimed
  order selects exactly what validating everything and then sorting would;
  :meth:`Selection.reject` falls through to the next survivor, lower epochs included;
* step 6 — :func:`precommit_decision`; step 9 — :func:`stale_qr`.

Invariants: no candidate is ever returned unless it decrypted under the payload's key, its
GroupInfo verified to the requested level and its epoch and digest matched the blob's
metadata; a rejected GroupInfo (by plaintext hash) is never offered again.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .blob import BlobKey, EncryptedBlob, parse_blob
from .errors import (
    BlobExpired,
    DecryptionFailed,
    InviteKitError,
    UnsupportedVersion,
)
from .mls import DEFAULT_OPTIONS, GroupInfoView, ParseOptions, VerifyLevel, external_commit_policy
from .mls.errors import BlobGroupInfoMismatch, MlsError
from .mls.sealing import OpenedGroupInfo, open_and_verify
from .payload import InvitePayload
from .policy import ExternalCommitPolicy, count_uses

#: Candidates processed per join (the XIP recommends at least the service's retention N).
DEFAULT_MAX_CANDIDATES = 16
#: Per-blob size bound: far above a 10,000-member GroupInfo, far below a phone's memory.
DEFAULT_MAX_BLOB_BYTES = 8 * 1024 * 1024

#: Reads the GROUP_MEMBERSHIP ``admitted_via_external_group_id`` tags of a GroupInfo's
#: members (XMTP AppData that invitekit does not decode; None for Welcome-added members).
MembershipTags = Callable[[GroupInfoView], Iterable[bytes | None]]
#: Supplies the EXTERNAL_COMMIT_POLICY for a GroupInfo that carries no app_data_dictionary.
PolicyProvider = Callable[[GroupInfoView], ExternalCommitPolicy | None]


# --- candidates ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Candidate:
    """One fetched blob, addressed by the SHA-256 of its exact bytes.

    ``sources`` names every service the same bytes came from (mirrors merge here).
    """

    raw: bytes = field(repr=False)
    content_hash: bytes
    sources: tuple[str, ...] = ()

    @classmethod
    def of(cls, raw: bytes, source: str | None = None) -> Candidate:
        """A candidate for ``raw`` fetched from ``source``."""
        data = bytes(raw)
        return cls(data, hashlib.sha256(data).digest(), (source,) if source else ())


def merge_candidates(sets: Iterable[Iterable[Candidate]]) -> list[Candidate]:
    """Merge candidate sets from several services, de-duplicated by content hash.

    First-seen order is kept; a duplicate only adds its sources to the first copy.
    """
    merged: dict[bytes, Candidate] = {}
    for candidates in sets:
        for cand in candidates:
            seen = merged.get(cand.content_hash)
            if seen is None:
                merged[cand.content_hash] = cand
            else:
                extra = tuple(s for s in cand.sources if s not in seen.sources)
                if extra:
                    merged[cand.content_hash] = Candidate(
                        seen.raw, seen.content_hash, seen.sources + extra
                    )
    return list(merged.values())


class Discard(enum.StrEnum):
    """Why a candidate was set aside (the first failing check wins)."""

    OVER_CAP = "over-candidate-cap"
    TOO_LARGE = "too-large"
    MALFORMED = "malformed"
    UNSUPPORTED_VERSION = "unsupported-version"
    EXPIRED = "expired"
    DECRYPTION_FAILED = "decryption-failed"
    GROUP_INFO_INVALID = "group-info-invalid"
    METADATA_MISMATCH = "metadata-mismatch"
    DUPLICATE_STATE = "duplicate-of-rejected"
    COMMIT_REJECTED = "commit-rejected"


@dataclass(frozen=True, slots=True)
class Discarded:
    """A candidate that will not be joined from, and why (``code``: the error's code)."""

    content_hash: bytes
    reason: Discard
    code: str
    epoch: int | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON-friendly form (the hash in hex)."""
        return {
            "content_sha256": self.content_hash.hex(),
            "reason": str(self.reason),
            "code": self.code,
            "epoch": self.epoch,
        }


@dataclass(frozen=True, slots=True)
class Triaged:
    """A candidate that passed version, shape, expiry and AEAD checks.

    ``plaintext_hash`` (SHA-256 of the decrypted bytes) lets a rejected GroupInfo be
    skipped without re-validating every re-sealed copy of it.
    """

    candidate: Candidate
    blob: EncryptedBlob
    plaintext_hash: bytes

    @property
    def order_key(self) -> tuple[int, bytes, bytes]:
        """XIP step 5 order: epoch descending, digest ascending, then content hash."""
        return (-self.blob.epoch, self.blob.group_state_hash, self.candidate.content_hash)


@dataclass(frozen=True)
class Triage:
    """Result of the cheap checks: survivors in selection order, plus every discard."""

    ordered: tuple[Triaged, ...]
    discarded: tuple[Discarded, ...]
    seen: int

    @property
    def empty(self) -> bool:
        """True when there was no candidate at all."""
        return self.seen == 0


def triage(
    candidates: Sequence[Candidate],
    payload: InvitePayload,
    now_ns: int,
    *,
    key: BlobKey | None = None,
    max_candidates: int = DEFAULT_MAX_CANDIDATES,
    max_blob_bytes: int = DEFAULT_MAX_BLOB_BYTES,
) -> Triage:
    """XIP step 3.1–3.3 on every candidate, with the step-2 caps.

    Candidates beyond ``max_candidates`` are discarded unread (``OVER_CAP``). One
    :class:`BlobKey` serves the whole set. ``now_ns`` is the joiner's clock (callers who
    want a skew margin pass ``now + margin``).
    """
    blob_key = key if key is not None else BlobKey(payload.symmetric_key)
    survivors: list[Triaged] = []
    discarded: list[Discarded] = []
    unique = merge_candidates([candidates])
    for index, cand in enumerate(unique):
        if index >= max_candidates:
            discarded.append(Discarded(cand.content_hash, Discard.OVER_CAP, "over-candidate-cap"))
            continue
        if len(cand.raw) > max_blob_bytes:
            discarded.append(Discarded(cand.content_hash, Discard.TOO_LARGE, "too-large"))
            continue
        try:
            blob = parse_blob(cand.raw).blob
        except UnsupportedVersion as exc:
            discarded.append(Discarded(cand.content_hash, Discard.UNSUPPORTED_VERSION, exc.code))
            continue
        except InviteKitError as exc:
            discarded.append(Discarded(cand.content_hash, Discard.MALFORMED, exc.code))
            continue
        if blob.is_expired(now_ns):
            discarded.append(
                Discarded(cand.content_hash, Discard.EXPIRED, BlobExpired.code, blob.epoch)
            )
            continue
        try:
            plaintext = blob_key.decrypt(blob.nonce, blob.ciphertext, blob.aad)
        except DecryptionFailed as exc:
            discarded.append(
                Discarded(cand.content_hash, Discard.DECRYPTION_FAILED, exc.code, blob.epoch)
            )
            continue
        survivors.append(Triaged(cand, blob, hashlib.sha256(plaintext).digest()))
    survivors.sort(key=lambda t: t.order_key)
    return Triage(tuple(survivors), tuple(discarded), len(unique))


# --- selection -------------------------------------------------------------------------


@dataclass(frozen=True)
class Survivor:
    """A fully validated candidate: what a joiner may build its external commit from."""

    candidate: Candidate
    opened: OpenedGroupInfo
    plaintext_hash: bytes

    @property
    def epoch(self) -> int:
        """The GroupInfo's (and the blob's) epoch."""
        return self.opened.view.epoch

    @property
    def digest(self) -> bytes:
        """The GroupContext digest (the blob's group_state_hash in strict mode)."""
        return self.opened.view.digest

    @property
    def view(self) -> GroupInfoView:
        """The decoded GroupInfo."""
        return self.opened.view

    @property
    def group_info(self) -> bytes:
        """The MLSMessage(GroupInfo) bytes to hand to an MLS client."""
        return self.opened.group_info_bytes



class Selection:
    """Lazy validate-and-select over a :class:`Triage` (XIP steps 3.4–3.5 and 5).

    Call :meth:`next` for the best remaining survivor; :meth:`reject` it when the commit
    built from it is rejected, then call :meth:`next` again. Deterministic: the same
    inputs always yield the same sequence.
    """

    def __init__(
        self,
        payload: InvitePayload,
        triaged: Triage,
        now_ns: int,
        *,
        level: VerifyLevel = VerifyLevel.TREE,
        accept_epoch_authenticator_digest: bool = False,
        options: ParseOptions = DEFAULT_OPTIONS,
    ) -> None:
        self._payload = payload
        self._triage = triaged
        self._now_ns = now_ns
        self._level = level
        self._compat = accept_epoch_authenticator_digest
        self._options = options
        self._position = 0
        self._rejected_states: set[bytes] = set()
        self._current: Survivor | None = None
        self.discarded: list[Discarded] = list(triaged.discarded)
        self.attempts = 0

    def next(self) -> Survivor | None:
        """The next valid candidate in selection order, or None when exhausted."""
        if self._current is not None:
            return self._current
        while self._position < len(self._triage.ordered):
            item = self._triage.ordered[self._position]
            self._position += 1
            if item.plaintext_hash in self._rejected_states:
                self.discarded.append(
                    Discarded(
                        item.candidate.content_hash,
                        Discard.DUPLICATE_STATE,
                        "duplicate-of-rejected",
                        item.blob.epoch,
                    )
                )
                continue
            survivor = self._validate(item)
            if survivor is None:
                continue
            self._current = survivor
            return survivor
        return None

    def reject(self, survivor: Survivor, code: str = "commit-rejected") -> None:
        """Record that the commit built from ``survivor`` was rejected; fall through."""
        self.attempts += 1
        self._rejected_states.add(survivor.plaintext_hash)
        self.discarded.append(
            Discarded(
                survivor.candidate.content_hash, Discard.COMMIT_REJECTED, code, survivor.epoch
            )
        )
        if self._current is survivor:
            self._current = None

    def abandon(self) -> None:
        """Forget the current survivor without counting an attempt (pre-commit abort)."""
        self._current = None

    def _validate(self, item: Triaged) -> Survivor | None:
        digest = item.candidate.content_hash
        try:
            opened = open_and_verify(
                item.blob,
                self._payload,
                self._now_ns,
                level=self._level,
                accept_epoch_authenticator_digest=self._compat,
                options=self._options,
            )
        except BlobGroupInfoMismatch as exc:
            self.discarded.append(
                Discarded(digest, Discard.METADATA_MISMATCH, exc.code, item.blob.epoch)
            )
            return None
        except MlsError as exc:
            self.discarded.append(
                Discarded(digest, Discard.GROUP_INFO_INVALID, exc.code, item.blob.epoch)
            )
            return None
        except BlobExpired as exc:  # pragma: no cover - triage already checked expiry
            self.discarded.append(Discarded(digest, Discard.EXPIRED, exc.code, item.blob.epoch))
            return None
        except InviteKitError as exc:
            self.discarded.append(Discarded(digest, Discard.MALFORMED, exc.code, item.blob.epoch))
            return None
        return Survivor(item.candidate, opened, item.plaintext_hash)

    def exhausted(self, fetch_errors: Sequence[str] = ()) -> JoinOutcome:
        """The typed outcome once no survivor remains (XIP step 4, or step 5 exhausted)."""
        return no_survivor_outcome(
            self._triage.seen, self.discarded, self.attempts, tuple(fetch_errors)
        )


def no_survivor_outcome(
    seen: int,
    discarded: Sequence[Discarded],
    attempts: int,
    fetch_errors: tuple[str, ...] = (),
) -> JoinOutcome:
    """Classify an empty selection: no candidates, all expired, all AEAD, forks, mixed."""
    found = tuple(discarded)
    if seen == 0:
        return NoCandidates(fetch_errors=fetch_errors)
    if attempts:
        return RejectedAfterForks(attempts=attempts, discarded=found)
    reasons = {d.reason for d in found if d.reason is not Discard.OVER_CAP}
    if reasons == {Discard.EXPIRED}:
        return AllExpired(count=len(found), discarded=found)
    if reasons == {Discard.DECRYPTION_FAILED}:
        return AllUndecryptable(count=len(found), discarded=found)
    return NoValidCandidate(discarded=found)


# --- policy ----------------------------------------------------------------------------


class PolicySource(enum.StrEnum):
    """Where the pre-commit check's policy came from."""

    GROUP_INFO = "group-info"  # the GroupInfo's app_data_dictionary (XMTP groups)
    PROVIDER = "provider"  # a caller-supplied provider (groups without AppData)
    NONE = "none"  # no policy known: the pre-commit check cannot run


@dataclass(frozen=True)
class PolicyRead:
    """A policy and where it came from (``policy`` is None only for ``NONE``)."""

    policy: ExternalCommitPolicy | None
    source: PolicySource


def read_policy(view: GroupInfoView, provider: PolicyProvider | None = None) -> PolicyRead:
    """The EXTERNAL_COMMIT_POLICY that governs ``view``.

    A GroupInfo with an app_data_dictionary is authoritative: a dictionary without the
    policy component means external commits are off (the default policy). Only a
    GroupInfo with no dictionary at all is handed to ``provider``.
    """
    if view.app_data is not None:
        parsed = external_commit_policy(view.app_data)
        policy = parsed.policy if parsed is not None else ExternalCommitPolicy()
        return PolicyRead(policy, PolicySource.GROUP_INFO)
    if provider is not None:
        provided = provider(view)
        if provided is not None:
            return PolicyRead(provided, PolicySource.PROVIDER)
    return PolicyRead(None, PolicySource.NONE)


@dataclass(frozen=True, slots=True)
class StaleQrCheck:
    """XIP step 6/9 comparison of the QR's coordinates with the group's policy."""

    group_id_matches: bool
    key_matches: bool

    @property
    def ok(self) -> bool:
        """True when both the slot id and the key match."""
        return self.group_id_matches and self.key_matches


def stale_qr(policy: ExternalCommitPolicy, payload: InvitePayload) -> StaleQrCheck:
    """Compare (constant time) the payload's slot id and key with the policy's."""
    return StaleQrCheck(
        hmac.compare_digest(policy.external_group_id, payload.external_group_id),
        hmac.compare_digest(policy.symmetric_key or b"", payload.symmetric_key),
    )


class Precommit(enum.StrEnum):
    """XIP step 6 verdicts, in the order they are checked."""

    OK = "ok"
    REVOKED = "invite-revoked"
    CAMPAIGN_OVER = "campaign-over"
    STALE_QR = "stale-qr"
    MAX_USES = "max-uses-reached"


def precommit_decision(
    policy: ExternalCommitPolicy,
    payload: InvitePayload,
    now_ns: int,
    membership_tags: Iterable[bytes | None] = (),
) -> Precommit:
    """XIP step 6: is a join against ``policy`` predictably doomed or unwanted?

    Checked in order: switch off, campaign end reached (``now_ns >= expires_at_ns``), the
    QR's slot id or key differing from the policy's (the admin rotated), ``max_uses``
    exhausted (tagged GROUP_MEMBERSHIP entries counted as validators count them).
    """
    if not policy.allow_external_commit:
        return Precommit.REVOKED
    if policy.expires_at_ns and now_ns >= policy.expires_at_ns:
        return Precommit.CAMPAIGN_OVER
    if not stale_qr(policy, payload).ok:
        return Precommit.STALE_QR
    if policy.max_uses and count_uses(policy, membership_tags) >= policy.max_uses:
        return Precommit.MAX_USES
    return Precommit.OK


def precommit_outcome(
    verdict: Precommit,
    policy: ExternalCommitPolicy,
    payload: InvitePayload,
    membership_tags: Iterable[bytes | None] = (),
    *,
    epoch: int | None = None,
) -> JoinOutcome | None:
    """The outcome a failed :func:`precommit_decision` verdict maps to (None for OK)."""
    if verdict is Precommit.OK:
        return None
    if verdict is Precommit.REVOKED:
        return InviteRevoked(epoch=epoch)
    if verdict is Precommit.CAMPAIGN_OVER:
        return CampaignOver(expires_at_ns=policy.expires_at_ns, epoch=epoch)
    if verdict is Precommit.STALE_QR:
        check = stale_qr(policy, payload)
        return StaleQr(
            group_id_matches=check.group_id_matches,
            key_matches=check.key_matches,
            detected="pre-commit",
            epoch=epoch,
        )
    return MaxUsesReached(
        max_uses=policy.max_uses, uses=count_uses(policy, membership_tags), epoch=epoch
    )


# --- outcomes --------------------------------------------------------------------------


@dataclass(frozen=True)
class JoinOutcome:
    """Base of every join result. ``kind`` is stable; :meth:`describe` is for people."""

    kind: ClassVar[str] = "outcome"
    ok: ClassVar[bool] = False

    def describe(self) -> str:
        """One sentence a joining person can read."""
        return self.kind

    def details(self) -> dict[str, Any]:
        """Outcome-specific JSON fields."""
        return {}

    def to_json(self) -> dict[str, Any]:
        """``{"outcome", "ok", "message", ...details}``."""
        return {"outcome": self.kind, "ok": self.ok, "message": self.describe(), **self.details()}


def _discards_json(discarded: tuple[Discarded, ...]) -> dict[str, Any]:
    return {"discarded": [d.to_json() for d in discarded]}


@dataclass(frozen=True)
class NoCandidates(JoinOutcome):
    """The slot held nothing (or no service answered: see ``fetch_errors``)."""

    kind: ClassVar[str] = "no-candidates"
    fetch_errors: tuple[str, ...] = ()

    def describe(self) -> str:
        if self.fetch_errors:
            return "No invite service could be reached; try again later."
        return "The invite's slot is empty; the group may not have uploaded it yet."

    def details(self) -> dict[str, Any]:
        return {"fetch_errors": list(self.fetch_errors)}


@dataclass(frozen=True)
class AllExpired(JoinOutcome):
    """Every candidate was past its expiry: the invite or its blobs have aged out."""

    kind: ClassVar[str] = "all-expired"
    count: int = 0
    discarded: tuple[Discarded, ...] = ()

    def describe(self) -> str:
        return "This invite has expired: every copy of the group's state is too old."

    def details(self) -> dict[str, Any]:
        return {"count": self.count, **_discards_json(self.discarded)}


@dataclass(frozen=True)
class AllUndecryptable(JoinOutcome):
    """No candidate decrypts under the invite key (rotated invite, or a poisoned slot)."""

    kind: ClassVar[str] = "all-failed-aead"
    count: int = 0
    discarded: tuple[Discarded, ...] = ()

    def describe(self) -> str:
        return "This invite no longer opens the group: it was replaced or the slot is junk."

    def details(self) -> dict[str, Any]:
        return {"count": self.count, **_discards_json(self.discarded)}


@dataclass(frozen=True)
class NoValidCandidate(JoinOutcome):
    """Candidates existed but every one failed some check (see ``discarded``)."""

    kind: ClassVar[str] = "no-valid-candidate"
    discarded: tuple[Discarded, ...] = ()

    def describe(self) -> str:
        return "No usable copy of the group's state was found; try again later."

    def details(self) -> dict[str, Any]:
        return _discards_json(self.discarded)


@dataclass(frozen=True)
class InviteRevoked(JoinOutcome):
    """The group's policy has external commits switched off."""

    kind: ClassVar[str] = "invite-revoked"
    epoch: int | None = None

    def describe(self) -> str:
        return "The group's admins have turned this invite off."

    def details(self) -> dict[str, Any]:
        return {"epoch": self.epoch}


@dataclass(frozen=True)
class CampaignOver(JoinOutcome):
    """The policy's ``expires_at_ns`` (campaign end) has passed."""

    kind: ClassVar[str] = "campaign-over"
    expires_at_ns: int = 0
    epoch: int | None = None

    def describe(self) -> str:
        return "This invite's campaign has ended."

    def details(self) -> dict[str, Any]:
        return {"expires_at_ns": self.expires_at_ns, "epoch": self.epoch}


@dataclass(frozen=True)
class MaxUsesReached(JoinOutcome):
    """The invite already admitted ``max_uses`` members who are still in the group."""

    kind: ClassVar[str] = "max-uses-reached"
    max_uses: int = 0
    uses: int = 0
    epoch: int | None = None

    def describe(self) -> str:
        return f"This invite is full ({self.uses} of {self.max_uses} places taken)."

    def details(self) -> dict[str, Any]:
        return {"max_uses": self.max_uses, "uses": self.uses, "epoch": self.epoch}


@dataclass(frozen=True)
class StaleQr(JoinOutcome):
    """The QR's slot id or key differs from the group's: the admin rotated the invite."""

    kind: ClassVar[str] = "stale-qr"
    group_id_matches: bool = False
    key_matches: bool = False
    detected: str = "pre-commit"
    epoch: int | None = None

    def describe(self) -> str:
        return "This invite was replaced by a newer one; ask for the current invite."

    def details(self) -> dict[str, Any]:
        return {
            "group_id_matches": self.group_id_matches,
            "key_matches": self.key_matches,
            "detected": self.detected,
            "epoch": self.epoch,
        }


@dataclass(frozen=True)
class RejectedAfterForks(JoinOutcome):
    """Every survivor's commit was rejected (losing forks or stale epochs)."""

    kind: ClassVar[str] = "rejected-after-forks"
    attempts: int = 0
    discarded: tuple[Discarded, ...] = ()

    def describe(self) -> str:
        return (
            f"The group refused all {self.attempts} join attempt(s); its state moved on. "
            "Try again shortly."
        )

    def details(self) -> dict[str, Any]:
        return {"attempts": self.attempts, **_discards_json(self.discarded)}


@dataclass(frozen=True)
class ReadyToCommit(JoinOutcome):
    """``join-check``: a selected, verified GroupInfo that passed the pre-commit check."""

    kind: ClassVar[str] = "ready"
    ok: ClassVar[bool] = True
    survivor: Survivor | None = None
    policy_source: PolicySource = PolicySource.NONE
    discarded: tuple[Discarded, ...] = ()

    def describe(self) -> str:
        epoch = self.survivor.epoch if self.survivor else "?"
        if self.policy_source is PolicySource.NONE:
            return (
                f"Ready to join the group at epoch {epoch}; the GroupInfo carries no "
                "EXTERNAL_COMMIT_POLICY, so the pre-commit policy check could not run."
            )
        return f"Ready to join the group at epoch {epoch}."

    def details(self) -> dict[str, Any]:
        out: dict[str, Any] = {"policy_source": str(self.policy_source)}
        if self.survivor is not None:
            view = self.survivor.view
            out.update(
                epoch=view.epoch,
                group_id=view.group_id.hex(),
                cipher_suite=view.cipher_suite,
                members=len(view.members()) if view.tree is not None else None,
                group_state_hash=self.survivor.digest.hex(),
                content_sha256=self.survivor.candidate.content_hash.hex(),
                sources=list(self.survivor.candidate.sources),
                digest_verified=self.survivor.opened.digest_verified,
                verify_level=self.survivor.opened.level.name.lower(),
            )
        out.update(_discards_json(self.discarded))
        return out

"""Typed join outcomes: data only. ``kind`` is a stable identifier; wording lives in the CLI.

Every path through the join machine ends in exactly one of these. ``ok`` is True for
:class:`Joined` and :class:`ReadyToCommit` (``join-check``'s success) only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from ..groupinfo_policy import PolicySource
from ..needs import UploadOutcome
from ..precommit import PrecommitCode, StaleQrCheck
from ..refresh.reports import SkipReason
from ..selection import Discard, Discarded, Survivor


@dataclass(frozen=True)
class JoinOutcome:
    """Base of every join result; ``kind`` is stable, :meth:`to_json` gives the data."""

    kind: ClassVar[str] = "outcome"
    ok: ClassVar[bool] = False

    def details(self) -> dict[str, Any]:
        """Outcome-specific JSON fields."""
        return {}

    def to_json(self) -> dict[str, Any]:
        """``{"outcome", "ok", ...details}``."""
        return {"outcome": self.kind, "ok": self.ok, **self.details()}


def _discards_json(discarded: tuple[Discarded, ...]) -> dict[str, Any]:
    return {"discarded": [d.to_json() for d in discarded]}


@dataclass(frozen=True)
class NoCandidates(JoinOutcome):
    """The slot held nothing (or no service answered: see ``fetch_errors``)."""

    kind: ClassVar[str] = "no-candidates"
    fetch_errors: tuple[str, ...] = ()

    def details(self) -> dict[str, Any]:
        return {"fetch_errors": list(self.fetch_errors)}


@dataclass(frozen=True)
class AllExpired(JoinOutcome):
    """Every candidate was past its expiry: the invite or its blobs have aged out."""

    kind: ClassVar[str] = "all-expired"
    count: int = 0
    discarded: tuple[Discarded, ...] = ()

    def details(self) -> dict[str, Any]:
        return {"count": self.count, **_discards_json(self.discarded)}


@dataclass(frozen=True)
class AllUndecryptable(JoinOutcome):
    """No candidate decrypts under the invite key (rotated invite, or a poisoned slot)."""

    kind: ClassVar[str] = "all-failed-aead"
    count: int = 0
    discarded: tuple[Discarded, ...] = ()

    def details(self) -> dict[str, Any]:
        return {"count": self.count, **_discards_json(self.discarded)}


@dataclass(frozen=True)
class NoValidCandidate(JoinOutcome):
    """Candidates existed but every one failed some check (see ``discarded``)."""

    kind: ClassVar[str] = "no-valid-candidate"
    discarded: tuple[Discarded, ...] = ()

    def details(self) -> dict[str, Any]:
        return _discards_json(self.discarded)


@dataclass(frozen=True)
class RejectedAfterForks(JoinOutcome):
    """Every survivor's commit was rejected (losing forks or stale epochs)."""

    kind: ClassVar[str] = "rejected-after-forks"
    attempts: int = 0
    discarded: tuple[Discarded, ...] = ()

    def details(self) -> dict[str, Any]:
        return {"attempts": self.attempts, **_discards_json(self.discarded)}


@dataclass(frozen=True)
class PrecommitAborted(JoinOutcome):
    """XIP step 6 aborted the join before anything was published (``code`` says why).

    The data behind each code: ``expires_at_ns`` (POLICY_EXPIRED), ``max_uses`` and
    ``uses`` (MAX_USES_EXHAUSTED; ``uses`` is None when the count could not run),
    ``group_id_matches``/``key_matches`` (STALE_QR), ``policy_source`` (NO_POLICY: none).
    """

    kind: ClassVar[str] = "precommit-aborted"
    code: PrecommitCode = PrecommitCode.SWITCH_OFF
    epoch: int | None = None
    expires_at_ns: int = 0
    max_uses: int = 0
    uses: int | None = 0
    group_id_matches: bool = True
    key_matches: bool = True
    policy_source: PolicySource = PolicySource.GROUP_INFO

    def details(self) -> dict[str, Any]:
        return {
            "code": str(self.code),
            "epoch": self.epoch,
            "expires_at_ns": self.expires_at_ns,
            "max_uses": self.max_uses,
            "uses": self.uses,
            "group_id_matches": self.group_id_matches,
            "key_matches": self.key_matches,
            "policy_source": str(self.policy_source),
        }


@dataclass(frozen=True)
class ReadyToCommit(JoinOutcome):
    """``join-check``: a selected, verified GroupInfo that passed the pre-commit check.

    ``max_uses``/``uses``: the policy's limit and the live count; ``uses`` is None when the
    membership tags could not be read (:attr:`uses_unknown` — the limit was not checked).
    """

    kind: ClassVar[str] = "ready"
    ok: ClassVar[bool] = True
    survivor: Survivor | None = None
    policy_source: PolicySource = PolicySource.NONE
    discarded: tuple[Discarded, ...] = ()
    max_uses: int = 0
    uses: int | None = 0
    #: The joiner's own membership proposal (when the join was told who joins).
    membership_update: bytes | None = None

    @property
    def uses_unknown(self) -> bool:
        """True when a ``max_uses`` limit is set but the uses could not be counted."""
        return self.max_uses != 0 and self.uses is None

    @property
    def epoch(self) -> int | None:
        """The selected GroupInfo's epoch."""
        return self.survivor.epoch if self.survivor is not None else None

    def details(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "policy_source": str(self.policy_source),
            "max_uses": self.max_uses,
            "uses": self.uses,
            "uses_unknown": self.uses_unknown,
            "membership_update": (
                self.membership_update.hex() if self.membership_update is not None else None
            ),
        }
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


@dataclass(frozen=True)
class Joined(JoinOutcome):
    """The external commit merged; ``refresh`` holds the step-10 upload results.

    ``refresh_skipped`` is :attr:`SkipReason.STALE_QR` when the committed state's policy no
    longer matches the QR (XIP step 9: stay in the group, upload nothing) and
    :attr:`SkipReason.NO_POLICY` when no policy is known for the new state.
    """

    kind: ClassVar[str] = "joined"
    ok: ClassVar[bool] = True
    epoch: int = 0
    attempts: int = 1
    refresh: tuple[UploadOutcome, ...] = ()
    refresh_skipped: SkipReason | None = None
    stale_check: StaleQrCheck | None = None
    policy_source: PolicySource = PolicySource.NONE
    discarded: tuple[Discarded, ...] = ()

    @property
    def refreshed(self) -> int:
        """How many refresh uploads were accepted."""
        return sum(1 for r in self.refresh if r.ok)

    @property
    def refresh_failed(self) -> bool:
        """True when the step-10 upload ran and stored nothing anywhere."""
        return self.refresh_skipped is None and self.refreshed == 0

    def details(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "attempts": self.attempts,
            "refresh": [r.to_json() for r in self.refresh],
            "refresh_skipped": str(self.refresh_skipped) if self.refresh_skipped else None,
            "refresh_failed": self.refresh_failed,
            "policy_source": str(self.policy_source),
            **_discards_json(self.discarded),
        }


def no_survivor_outcome(
    seen: int,
    discarded: Sequence[Discarded],
    attempts: int,
    fetch_errors: tuple[str, ...] = (),
) -> JoinOutcome:
    """Classify an empty selection (XIP steps 4 and 5 exhausted).

    No candidates at all; every commit refused; every candidate expired; every candidate
    failed AEAD; otherwise a mix (see ``discarded``). Over-cap discards do not count.
    """
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


__all__ = [
    "AllExpired",
    "AllUndecryptable",
    "JoinOutcome",
    "Joined",
    "NoCandidates",
    "NoValidCandidate",
    "PrecommitAborted",
    "ReadyToCommit",
    "RejectedAfterForks",
    "no_survivor_outcome",
]

"""What the sans-IO join and refresh machines ask their driver for, and what they accept back.

Each :class:`~invitekit.engine.Need` here names the answers it accepts; the engine that
runs a machine over them (:class:`~invitekit.engine.Machine`, ``ask``, ``Finished``) is
:mod:`invitekit.engine`'s, re-exported here for importers of the need vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from .engine import Finished, Machine, Need, Phase, Steps, ask
from .mls import GroupInfoView
from .pointer import OpaquePointer, ServicePointer
from .policy import ExternalCommitPolicy
from .protocol import SlotKind
from .selection import (
    DEFAULT_MAX_BLOB_BYTES,
    BodyWanted,
    Candidate,
    Listed,
    Selection,
    Survivor,
)


class UploadOutcome(Protocol):
    """What a driver reports per upload (the client's ``UploadResult`` satisfies it).

    ``outcome`` is the service's admission outcome or, for a failure, its problem code
    (``stale``, ``fork`` …) or the client error code.
    """

    @property
    def service(self) -> str: ...

    @property
    def kind(self) -> SlotKind: ...

    @property
    def outcome(self) -> str: ...

    @property
    def ok(self) -> bool: ...

    @property
    def retryable(self) -> bool: ...

    def to_json(self) -> dict[str, Any]: ...


# --- results ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CandidatesFetched:
    """Candidates merged across services; ``fetches`` counts the (service, kind) requests."""

    candidates: tuple[Candidate, ...]
    services: tuple[str, ...]
    errors: tuple[str, ...] = ()
    fetches: int = 1
    #: Candidates listed by metadata only (their bodies are fetched by :class:`FetchBody`).
    listed: tuple[Listed, ...] = ()


@dataclass(frozen=True)
class CommitAccepted:
    """The external commit merged.

    ``group_info``: the joiner's re-exported GroupInfo at the new epoch (with ratchet tree
    and external_pub). ``epoch_started_at_ns``: the delivery-service timestamp of the
    commit (the effective expiry's epoch start). ``policy``: the new state's policy, for
    groups whose GroupInfo carries no app_data_dictionary.
    """

    group_info: bytes = field(repr=False)
    epoch_started_at_ns: int
    policy: ExternalCommitPolicy | None = None


@dataclass(frozen=True)
class CommitRejected:
    """The group refused the commit (a losing fork, a stale epoch, a validator check)."""

    reason: str = "commit-rejected"


CommitReport = CommitAccepted | CommitRejected


@dataclass(frozen=True)
class TargetsResolved:
    """Base URLs the opaque pointers resolved to; ``unresolved``: those nobody could resolve."""

    services: tuple[str, ...]
    unresolved: tuple[OpaquePointer, ...] = ()


@dataclass(frozen=True)
class Slept:
    """The requested delay has passed."""


@dataclass(frozen=True)
class Existence:
    """An existence query's answer; ``present`` is None when the query failed (``detail``:
    the failure's error code, when the driver knows it)."""

    present: bool | None
    detail: str = ""


@dataclass(frozen=True)
class SlotFetched:
    """One service's candidates for one slot kind, or the error code why there are none."""

    candidates: tuple[Candidate, ...] = ()
    error: str | None = None
    listed: tuple[Listed, ...] = ()


@dataclass(frozen=True)
class BodyFetched:
    """A listed candidate's body (``raw``), or why no copy of it could be fetched."""

    raw: bytes | None = field(default=None, repr=False)
    error: str = ""


@dataclass(frozen=True)
class Uploaded:
    """One result per (service, kind) the upload went to."""

    results: tuple[UploadOutcome, ...]


# --- needs -----------------------------------------------------------------------------


@dataclass(frozen=True)
class FetchCandidates(Need[CandidatesFetched]):
    """Join step 1–2: resolve ``pointer`` to services, fetch the slot's candidates from each."""

    phase: ClassVar[Phase] = Phase.FETCH
    accepts: ClassVar[tuple[type, ...]] = (CandidatesFetched,)
    pointer: ServicePointer | None
    external_group_id: bytes
    symmetric_key: bytes = field(repr=False)
    kinds: tuple[SlotKind, ...]
    max_candidates: int
    #: Per-blob bound; the driver sizes each listing read from it and ``max_candidates``.
    max_blob_bytes: int = DEFAULT_MAX_BLOB_BYTES


@dataclass(frozen=True)
class CommitRequest:
    """What the application's commit callback gets (join steps 7–8).

    ``survivor``: the selected, verified GroupInfo to build the external commit on.
    ``membership_update``: the ``AppDataUpdate`` proposal (wire bytes, see
    :mod:`invitekit.commit_pieces`) inserting the joiner's own ``GROUP_MEMBERSHIP`` entry
    tagged with the invite's slot id — the piece the XIP's atomic commit must carry beside
    the ``ExternalInit``; None when the machine was not told who the joiner is.
    """

    survivor: Survivor
    membership_update: bytes | None = None

    @property
    def group_info(self) -> bytes:
        """The MLSMessage(GroupInfo) bytes to build the external commit on."""
        return self.survivor.group_info

    @property
    def epoch(self) -> int:
        """The GroupInfo's epoch."""
        return self.survivor.epoch

    @property
    def view(self) -> GroupInfoView:
        """The decoded GroupInfo."""
        return self.survivor.view


@dataclass(frozen=True)
class Commit(Need[CommitReport]):
    """Join steps 7–8: build and publish the external commit from ``survivor``, carrying
    ``membership_update`` when the machine knows the joiner."""

    phase: ClassVar[Phase] = Phase.COMMIT
    accepts: ClassVar[tuple[type, ...]] = (CommitAccepted, CommitRejected)
    survivor: Survivor
    membership_update: bytes | None = None

    @property
    def request(self) -> CommitRequest:
        """What the application's commit callback is handed."""
        return CommitRequest(self.survivor, self.membership_update)


@dataclass(frozen=True)
class ResolveTargets(Need[TargetsResolved]):
    """Resolve opaque refresh pointers to base URLs (the application's resolver)."""

    phase: ClassVar[Phase] = Phase.RESOLVE
    accepts: ClassVar[tuple[type, ...]] = (TargetsResolved,)
    pointers: tuple[OpaquePointer, ...]


@dataclass(frozen=True)
class Wait(Need[Slept]):
    """Sleep ``seconds`` (jitter before a backstop pass, backoff before a retry)."""

    phase: ClassVar[Phase] = Phase.WAIT
    accepts: ClassVar[tuple[type, ...]] = (Slept,)
    seconds: float


@dataclass(frozen=True)
class CheckExists(Need[Existence]):
    """Existence query: does ``service``'s slot hold a blob advertising (epoch, digest)?"""

    phase: ClassVar[Phase] = Phase.CHECK
    accepts: ClassVar[tuple[type, ...]] = (Existence,)
    service: str
    kind: SlotKind
    external_group_id: bytes
    symmetric_key: bytes = field(repr=False)
    epoch: int
    digest: bytes


@dataclass(frozen=True)
class FetchSlot(Need[SlotFetched]):
    """Fetch one service's candidates for one slot kind (the deep check)."""

    phase: ClassVar[Phase] = Phase.FETCH
    accepts: ClassVar[tuple[type, ...]] = (SlotFetched,)
    service: str
    kind: SlotKind
    external_group_id: bytes
    symmetric_key: bytes = field(repr=False)


@dataclass(frozen=True)
class FetchBody(Need[BodyFetched]):
    """Fetch one listed candidate's body by content address (from its first location that
    answers), at most ``max_bytes``; the selection asks in its order, one at a time."""

    phase: ClassVar[Phase] = Phase.FETCH
    accepts: ClassVar[tuple[type, ...]] = (BodyFetched,)
    listed: Listed
    max_bytes: int


def select_next(selection: Selection) -> Steps[Survivor | None]:
    """The selection's next survivor, asking for each body it needs on the way (the one
    loop the join machine and the deep check share)."""
    while isinstance(step := selection.step(), BodyWanted):
        fetched = yield from ask(FetchBody(step.listed, step.max_bytes))
        selection.supply(step, fetched.raw, fetched.error)
    return step


@dataclass(frozen=True)
class Upload(Need[Uploaded]):
    """Upload ``body`` to every (service, kind) pair, all at once."""

    phase: ClassVar[Phase] = Phase.UPLOAD
    accepts: ClassVar[tuple[type, ...]] = (Uploaded,)
    services: tuple[str, ...]
    kinds: tuple[SlotKind, ...]
    external_group_id: bytes
    symmetric_key: bytes = field(repr=False)
    body: bytes = field(repr=False)


__all__ = [
    "BodyFetched",
    "CandidatesFetched",
    "CheckExists",
    "Commit",
    "CommitAccepted",
    "CommitRejected",
    "CommitReport",
    "CommitRequest",
    "Existence",
    "FetchBody",
    "FetchCandidates",
    "FetchSlot",
    "Finished",
    "Machine",
    "Need",
    "Phase",
    "ResolveTargets",
    "Slept",
    "SlotFetched",
    "Steps",
    "TargetsResolved",
    "Upload",
    "UploadOutcome",
    "Uploaded",
    "Wait",
    "ask",
    "select_next",
]

"""Keeping the blob fresh (XIP-82 "Keeping the blob fresh"): the three member roles, sans-IO.

Each role is a :class:`RefreshMachine` (the pattern of :mod:`invitekit.needs`): it asks its
driver for I/O and decides everything else itself. Cheapest and most frequent first:

* :attr:`RefreshRole.COMMITTER` — the member whose commit merged (a joiner, after its own
  external commit) seals its own new GroupInfo once and uploads it to every target at once:
  no jitter, no fetch;
* :attr:`RefreshRole.BACKSTOP` — any other member, on a slow trigger: wait a jittered
  delay, existence-check its own ``(epoch, group_state_hash)`` per target, stand down when
  present, otherwise upload its own blob; at most :attr:`Backoff.attempts` tries per
  target with capped exponential backoff (:class:`Backoff`), so a crowd never storms;
* :attr:`RefreshRole.DEEP_CHECK` — rarely: fetch each target's candidates, validate them
  exactly as a joiner would (:mod:`invitekit.selection`), re-upload when none is valid at
  the member's current pair.

Targets: the caller's first services (a joiner's scanned slot), then every refresh
pointer; opaque pointers are resolved through the driver, and those nobody can resolve are
reported as :attr:`SkipReason.NO_RESOLVER`, never fatal.

Slot kinds: every role writes (and checks) the open slot *and* the keyed lane by default
(:data:`BOTH_KINDS`). The open slot is the XIP's robust path; the lane is a fast path that
any invite holder can wedge by pushing its head past the group's real epoch. A lane that
refuses the member's own current state as ``stale`` or ``fork`` — or, in a deep check,
advertises an epoch above it — is :attr:`TargetAction.LANE_WEDGED` (:func:`lane_wedged`),
counted by :class:`RefreshMetrics`; with the open slot written too, that costs speed only.

A pass that left the member's state nowhere (:attr:`RefreshStatus.NOTHING_STORED`) is a
failure, never "done": see :attr:`RefreshReport.status`.

Invariants: every role needs an active invite (:func:`invitekit.policy.active_invite`);
every blob a member uploads is sealed from that member's *own* GroupInfo (never a peer's
ciphertext), under the policy's key, with the policy's effective expiry, at most once per
pass (the same bytes go to every target).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .envelope import Envelope, SealedBlob, parse_envelope
from .errors import FlowStateError, InvalidSetting, InviteKitError
from .mls import DEFAULT_OPTIONS, ParseOptions, VerifyLevel, parse_group_info
from .needs import (
    CheckExists,
    FetchSlot,
    Machine,
    ResolveTargets,
    Steps,
    Upload,
    UploadOutcome,
    Wait,
    ask,
    select_next,
)
from .payload import InvitePayload
from .pointer import (
    HttpsPointer,
    OpaquePointer,
    ServicePointer,
    dedupe_services,
    pointer_label,
    service_identity,
)
from .policy import ActiveInvite, ExternalCommitPolicy, active_invite
from .protocol import SlotKind
from .sealing import seal_group_info
from .selection import Candidate, Discarded, Listed, Selection, triage, triage_listed
from .sources import RandomBytes, RandomUnit, jitter_unit, os_random_bytes

#: Candidates a deep check validates per (service, kind).
DEEP_CHECK_MAX_CANDIDATES = 64
#: The slot kinds every role writes and checks unless told otherwise.
BOTH_KINDS: tuple[SlotKind, ...] = (SlotKind.LANE, SlotKind.OPEN)
#: Lane refusals of the member's own current state: the head is not a state it can reach.
_WEDGE_REFUSALS = frozenset({"stale", "fork"})


class RefreshRole(enum.StrEnum):
    """The three member roles."""

    COMMITTER = "committer"
    BACKSTOP = "backstop"
    DEEP_CHECK = "deep-check"


class TargetAction(enum.StrEnum):
    """What a refresh pass did for one target."""

    UPLOADED = "uploaded"  # own blob uploaded and accepted everywhere it went
    STAND_DOWN = "stand-down"  # backstop: the member's pair is already present
    HEALTHY = "healthy"  # deep check: a copy at the member's pair opened and verified
    REUPLOADED = "reuploaded"  # deep check: none did; own blob uploaded and accepted
    LANE_WEDGED = "lane-wedged"  # the lane's head is not a state the member can reach
    ERROR = "error"  # the service could not be asked, or refused (``error``, ``uploads``)
    SKIPPED = "skipped"  # not attempted (see ``skipped``)


class RefreshStatus(enum.StrEnum):
    """The verdict of a whole pass (:attr:`RefreshReport.status`)."""

    OK = "ok"  # every attempted target holds the member's state
    DEGRADED = "degraded"  # some target holds it; another failed or has a wedged lane
    NOTHING_STORED = "nothing-stored"  # no target holds it: a failure


class SkipReason(enum.StrEnum):
    """Why a refresh (or a target of one) was not attempted."""

    NO_RESOLVER = "no-resolver"  # an opaque pointer nobody here can resolve
    STALE_QR = "stale-qr"  # join step 9: the committed state's invite is not the QR's
    NO_POLICY = "no-policy"  # no policy is known for the committed state


class BackstopAction(enum.StrEnum):
    """What a backstop member does for one target after its existence query."""

    STAND_DOWN = "stand-down"
    UPLOAD = "upload"


class DeepAction(enum.StrEnum):
    """Deep-check verdict for one slot."""

    HEALTHY = "healthy"
    REUPLOAD = "reupload"


#: Error code of a failed existence query.
EXISTENCE_QUERY_FAILED = "existence-query-failed"


# --- pure decisions --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MemberState:
    """A member's own current group state, computed locally (no fetch)."""

    group_info: bytes = field(repr=False)
    epoch: int
    digest: bytes

    @property
    def pair(self) -> tuple[int, bytes]:
        """The ``(epoch, group_state_hash)`` pair the existence query asks about."""
        return (self.epoch, self.digest)


def member_state(group_info: bytes, options: ParseOptions = DEFAULT_OPTIONS) -> MemberState:
    """Parse the member's own GroupInfo (trusted: it is the member's state) for its pair."""
    view = parse_group_info(group_info, options)
    return MemberState(bytes(group_info), view.epoch, view.digest)


def refresh_targets(
    policy: ExternalCommitPolicy, first: Iterable[ServicePointer] = ()
) -> tuple[ServicePointer, ...]:
    """``first`` (e.g. the slot a joiner scanned), then every refresh pointer, de-duplicated.

    URL pointers are the same target under :func:`invitekit.pointer.service_identity`.
    """
    out: dict[str, ServicePointer] = {}
    for pointer in (*first, *policy.refresh_pointers):
        label = pointer_label(pointer)
        if isinstance(pointer, HttpsPointer):
            label = service_identity(label)
        out.setdefault(label, pointer)
    return tuple(out.values())


def mint_blob(
    group_info: bytes,
    policy: ExternalCommitPolicy,
    epoch_started_at_ns: int,
    *,
    random_bytes: RandomBytes = os_random_bytes,
    verify: VerifyLevel = VerifyLevel.TREE,
    envelope: Envelope = Envelope.V1,
) -> SealedBlob:
    """Seal the member's own GroupInfo under the policy key with the effective expiry."""
    return seal_group_info(
        group_info, policy, epoch_started_at_ns, random_bytes=random_bytes, verify=verify,
        envelope=envelope,
    )


def backstop_decision(present: bool) -> BackstopAction:
    """Present pair → stand down (a member already produced it); absent → upload own blob."""
    return BackstopAction.STAND_DOWN if present else BackstopAction.UPLOAD


@dataclass(frozen=True, slots=True)
class Backoff:
    """Jitter and bounded retries for background refresh I/O.

    * :meth:`initial_delay`: uniform in ``[0, jitter_s)`` — spreads members out;
    * :meth:`retry_delay`: "full jitter" — uniform in ``[0, min(cap_s, base_s·2^n))``;
    * at most ``attempts`` tries per target per pass (never unbounded).
    """

    attempts: int = 3
    base_s: float = 0.5
    cap_s: float = 30.0
    jitter_s: float = 10.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise InvalidSetting("Backoff.attempts must be at least 1")
        if min(self.base_s, self.cap_s, self.jitter_s) < 0:
            raise InvalidSetting("Backoff delays must be non-negative")

    def initial_delay(self, random_unit: RandomUnit) -> float:
        """The jittered delay before a backstop pass starts."""
        return random_unit() * self.jitter_s

    def retry_delay(self, retry: int, random_unit: RandomUnit) -> float:
        """The delay before retry number ``retry`` (0-based)."""
        return random_unit() * min(self.cap_s, self.base_s * (2.0**retry))

    def schedule(self, random_unit: RandomUnit) -> list[float]:
        """The delays before each of the ``attempts`` tries (first is the initial jitter)."""
        return [self.initial_delay(random_unit)] + [
            self.retry_delay(n, random_unit) for n in range(self.attempts - 1)
        ]


@dataclass(frozen=True)
class DeepCheck:
    """Deep-check result: whether a valid candidate at the member's pair is retained.

    ``highest_claimed_epoch``: the highest epoch any candidate *advertises* (None: no
    readable candidate) — above the member's own epoch, a lane's head is out of reach.
    """

    action: DeepAction
    valid_at_current: bool
    newest_valid_epoch: int | None
    discarded: tuple[Discarded, ...]
    highest_claimed_epoch: int | None = None


def lane_wedged(result: UploadOutcome) -> bool:
    """True when a lane refused the member's own current state as ``stale`` or ``fork``.

    The member uploads the state it holds now, so the lane head is either ahead of it or a
    different state at its epoch: junk, forged metadata, or a fork no member produced.
    """
    return result.kind is SlotKind.LANE and not result.ok and result.outcome in _WEDGE_REFUSALS


def claimed_epochs(candidates: Sequence[Candidate], listed: Sequence[Listed] = ()) -> list[int]:
    """The epochs candidates advertise (unreadable envelopes skipped; listed entries by
    their listing's claim)."""
    out: list[int] = [item.epoch for item in listed]
    for candidate in candidates:
        try:
            out.append(parse_envelope(candidate.raw).blob.epoch)
        except InviteKitError:
            continue
    return out


def deep_check_steps(
    candidates: Sequence[Candidate],
    policy: ExternalCommitPolicy,
    state: MemberState,
    now_ns: int,
    *,
    listed: Sequence[Listed] = (),
    level: VerifyLevel = VerifyLevel.TREE,
    max_candidates: int = DEEP_CHECK_MAX_CANDIDATES,
) -> Steps[DeepCheck]:
    """Validate ``candidates`` (and ``listed`` ones, fetching each body in selection order
    when its turn comes, as a joiner would); HEALTHY iff one is valid at ``state.pair``.

    Validation stops at the first match, or once the order drops below the member's epoch.
    """
    invite = active_invite(policy, "check the slot")
    payload = InvitePayload(invite.external_group_id, invite.symmetric_key)
    sorted_set = triage(candidates, payload, now_ns, max_candidates=max_candidates)
    in_hand = frozenset(c.content_hash for c in candidates)
    pending, listed_discarded = triage_listed(
        listed, now_ns, known=in_hand, room=max(0, max_candidates - len(in_hand))
    )
    selection = Selection(
        payload, sorted_set, now_ns, level=level, listed=pending,
        listed_discarded=listed_discarded,
    )
    found = False
    newest: int | None = None
    while (survivor := (yield from select_next(selection))) is not None:
        if newest is None:
            newest = survivor.epoch
        if survivor.epoch < state.epoch:
            break
        if survivor.epoch == state.epoch and survivor.digest == state.digest:
            found = True
            break
        selection.abandon()
    action = DeepAction.HEALTHY if found else DeepAction.REUPLOAD
    claimed = claimed_epochs(candidates, listed)
    return DeepCheck(
        action, found, newest, tuple(selection.discarded), max(claimed) if claimed else None
    )


def deep_check_decision(
    candidates: Sequence[Candidate],
    policy: ExternalCommitPolicy,
    state: MemberState,
    now_ns: int,
    *,
    level: VerifyLevel = VerifyLevel.TREE,
    max_candidates: int = DEEP_CHECK_MAX_CANDIDATES,
) -> DeepCheck:
    """:func:`deep_check_steps` over candidates whose bodies are all in hand."""
    steps = deep_check_steps(
        candidates, policy, state, now_ns, level=level, max_candidates=max_candidates
    )
    try:
        need = next(steps)
    except StopIteration as done:
        result: DeepCheck = done.value
        return result
    raise FlowStateError(f"a deep check over bodies in hand asked for {type(need).__name__}")


# --- reports ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TargetReport:
    """One refresh target (a service base URL, or a skipped pointer) after a pass.

    ``kind`` is the slot kind the action concerns (None when it covers every kind);
    ``error`` a client error code; ``skipped`` why nothing was attempted; ``verified``:
    the deep check opened and verified a retained copy at the member's pair.
    """

    service: str
    action: TargetAction
    kind: SlotKind | None = None
    uploads: tuple[UploadOutcome, ...] = ()
    error: str | None = None
    skipped: SkipReason | None = None
    verified: bool = False

    @property
    def stored(self) -> bool:
        """True when at least one upload to this target was accepted."""
        return any(u.ok for u in self.uploads)

    @property
    def holds(self) -> bool:
        """True when this target holds the member's state after the pass."""
        return self.stored or self.verified or self.action is TargetAction.STAND_DOWN

    def to_json(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "service": self.service,
            "action": str(self.action),
            "kind": str(self.kind) if self.kind else None,
            "uploads": [u.to_json() for u in self.uploads],
            "error": self.error,
            "skipped": str(self.skipped) if self.skipped else None,
            "verified": self.verified,
        }


@dataclass(frozen=True)
class RefreshReport:
    """The result of one refresh pass by one role."""

    role: RefreshRole
    epoch: int
    targets: tuple[TargetReport, ...]

    @property
    def uploads(self) -> tuple[UploadOutcome, ...]:
        """Every upload made in this pass."""
        return tuple(u for t in self.targets for u in t.uploads)

    @property
    def uploaded(self) -> int:
        """How many uploads succeeded (created, idempotent or coalesced)."""
        return sum(1 for u in self.uploads if u.ok)

    @property
    def lane_wedged(self) -> tuple[str, ...]:
        """The services whose lane is wedged (see :func:`lane_wedged`)."""
        return tuple(t.service for t in self.targets if t.action is TargetAction.LANE_WEDGED)

    @property
    def status(self) -> RefreshStatus:
        """NOTHING_STORED unless some target holds the member's state (skipped targets
        do not count); DEGRADED when another failed or a lane is wedged; else OK."""
        attempted = [t for t in self.targets if t.action is not TargetAction.SKIPPED]
        if not any(t.holds for t in attempted):
            return RefreshStatus.NOTHING_STORED
        if any(not t.holds or t.action is TargetAction.LANE_WEDGED for t in attempted):
            return RefreshStatus.DEGRADED
        return RefreshStatus.OK

    @property
    def ok(self) -> bool:
        """False when the pass left the member's state nowhere (a failure)."""
        return self.status is not RefreshStatus.NOTHING_STORED

    def to_json(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "role": str(self.role),
            "epoch": self.epoch,
            "status": str(self.status),
            "lane_wedged": list(self.lane_wedged),
            "targets": [t.to_json() for t in self.targets],
        }


@dataclass
class RefreshMetrics:
    """Member-side counters over refresh passes (feed them to any metrics system).

    ``passes[(role, status)]``, ``targets[(role, action, kind)]`` and ``lane_wedged``
    (targets whose lane head was out of the member's reach).
    """

    passes: dict[tuple[str, str], int] = field(default_factory=dict)
    targets: dict[tuple[str, str, str], int] = field(default_factory=dict)
    lane_wedged: int = 0

    def observe(self, report: RefreshReport) -> None:
        """Count one finished pass."""
        key = (str(report.role), str(report.status))
        self.passes[key] = self.passes.get(key, 0) + 1
        for target in report.targets:
            tkey = (str(report.role), str(target.action), str(target.kind or "all"))
            self.targets[tkey] = self.targets.get(tkey, 0) + 1
        self.lane_wedged += len(report.lane_wedged)


# --- the machine -----------------------------------------------------------------------


class _OwnBlob:
    """The member's own blob, sealed on first use only; every target gets the same bytes."""

    def __init__(
        self,
        group_info: bytes,
        policy: ExternalCommitPolicy,
        epoch_started_at_ns: int,
        random_bytes: RandomBytes,
        envelope: Envelope = Envelope.V1,
    ) -> None:
        self._args = (group_info, policy, epoch_started_at_ns)
        self._random_bytes = random_bytes
        self._envelope = envelope
        self._blob: SealedBlob | None = None

    @property
    def blob(self) -> SealedBlob:
        if self._blob is None:
            gi, policy, start = self._args
            self._blob = mint_blob(
                gi, policy, start, random_bytes=self._random_bytes, envelope=self._envelope
            )
        return self._blob

    @property
    def body(self) -> bytes:
        return self.blob.to_bytes()


def _targets(
    policy: ExternalCommitPolicy, first_services: Sequence[str]
) -> Steps[tuple[tuple[str, ...], tuple[TargetReport, ...]]]:
    """Base URLs of every target; opaque pointers are resolved through the driver."""
    urls: list[str] = list(first_services)
    opaque: list[OpaquePointer] = []
    for pointer in refresh_targets(policy):
        if isinstance(pointer, HttpsPointer):
            urls.append(pointer.url)
        else:
            opaque.append(pointer)
    skipped: tuple[TargetReport, ...] = ()
    if opaque:
        resolved = yield from ask(ResolveTargets(tuple(opaque)))
        urls.extend(resolved.services)
        skipped = tuple(
            TargetReport(pointer_label(p), TargetAction.SKIPPED, skipped=SkipReason.NO_RESOLVER)
            for p in resolved.unresolved
        )
    return dedupe_services(urls), skipped


def _upload(
    invite: ActiveInvite, services: tuple[str, ...], kinds: tuple[SlotKind, ...], body: bytes
) -> Steps[tuple[UploadOutcome, ...]]:
    if not services or not kinds:
        return ()
    done = yield from ask(
        Upload(services, kinds, invite.external_group_id, invite.symmetric_key, body)
    )
    return done.results


class RefreshMachine(Machine[RefreshReport]):
    """One refresh pass by one role (see the module docstring); ends in a RefreshReport.

    ``now_ns`` is the pass's one clock reading (the deep check's expiry instant);
    ``random_unit`` draws the backstop's jitter, ``random_bytes`` the blob's nonce;
    ``envelope`` is the version the member's own blob is sealed in (v1, the XIP's, unless the
    group chose an HPKE extension). Raises :class:`~invitekit.errors.PolicyNotEnabled` at
    once without an active invite.
    """

    def __init__(
        self,
        role: RefreshRole,
        group_info: bytes,
        policy: ExternalCommitPolicy,
        epoch_started_at_ns: int,
        now_ns: int,
        *,
        first_services: Sequence[str] = (),
        kinds: tuple[SlotKind, ...] = BOTH_KINDS,
        backoff: Backoff = Backoff(),
        level: VerifyLevel = VerifyLevel.TREE,
        random_unit: RandomUnit = jitter_unit,
        random_bytes: RandomBytes = os_random_bytes,
        envelope: Envelope = Envelope.V1,
    ) -> None:
        self.role = role
        doing = "check the slot" if role is RefreshRole.DEEP_CHECK else "refresh"
        invite = active_invite(policy, doing)
        own = _OwnBlob(group_info, policy, epoch_started_at_ns, random_bytes, envelope)
        first = tuple(first_services)
        steps: Steps[RefreshReport]
        if role is RefreshRole.COMMITTER:
            steps = _committer(invite, own, first, kinds)
        elif role is RefreshRole.BACKSTOP:
            state = member_state(group_info)
            steps = _backstop(invite, own, state, first, kinds, backoff, random_unit)
        else:
            state = member_state(group_info)
            steps = _deep_check(invite, own, state, first, kinds, now_ns, level)
        super().__init__(steps)


def _committer(
    invite: ActiveInvite, own: _OwnBlob, first: tuple[str, ...], kinds: tuple[SlotKind, ...]
) -> Steps[RefreshReport]:
    epoch = own.blob.epoch  # seal (and verify) before any I/O
    urls, skipped = yield from _targets(invite.policy, first)
    results = yield from _upload(invite, urls, kinds, own.body)
    reports = [_uploaded(url, None, tuple(r for r in results if r.service == url)) for url in urls]
    return RefreshReport(RefreshRole.COMMITTER, epoch, (*reports, *skipped))


def _uploaded(
    url: str,
    kind: SlotKind | None,
    results: tuple[UploadOutcome, ...],
    done: TargetAction = TargetAction.UPLOADED,
) -> TargetReport:
    """``done`` when every upload to ``url`` was accepted; LANE_WEDGED when the only
    refusals are a lane's stale/fork (:func:`lane_wedged`); else ERROR (see the uploads)."""
    failed = [r for r in results if not r.ok]
    if results and not failed:
        action = done
    elif failed and all(lane_wedged(r) for r in failed):
        action = TargetAction.LANE_WEDGED
    else:
        action = TargetAction.ERROR
    return TargetReport(url, action, kind, results)


def _query_failed(url: str, kind: SlotKind, code: str = "") -> TargetReport:
    """An existence query that got no answer; ``code`` is the client's error code if known."""
    return TargetReport(url, TargetAction.ERROR, kind, error=code or EXISTENCE_QUERY_FAILED)


def _backstop(
    invite: ActiveInvite,
    own: _OwnBlob,
    state: MemberState,
    first: tuple[str, ...],
    kinds: tuple[SlotKind, ...],
    backoff: Backoff,
    random_unit: RandomUnit,
) -> Steps[RefreshReport]:
    urls, skipped = yield from _targets(invite.policy, first)
    yield from ask(Wait(backoff.initial_delay(random_unit)))
    reports: list[TargetReport] = []
    for url in urls:
        for kind in kinds:
            report = _query_failed(url, kind)
            for attempt in range(backoff.attempts):
                if attempt:
                    yield from ask(Wait(backoff.retry_delay(attempt - 1, random_unit)))
                answer = yield from ask(
                    CheckExists(
                        url, kind, invite.external_group_id, invite.symmetric_key,
                        state.epoch, state.digest,
                    )
                )
                if answer.present is None:
                    report = _query_failed(url, kind, answer.detail)
                    continue
                if backstop_decision(answer.present) is BackstopAction.STAND_DOWN:
                    report = TargetReport(url, TargetAction.STAND_DOWN, kind)
                    break
                results = yield from _upload(invite, (url,), (kind,), own.body)
                report = _uploaded(url, kind, results)
                if not any(r.retryable for r in results):
                    break
            reports.append(report)
    return RefreshReport(RefreshRole.BACKSTOP, state.epoch, (*reports, *skipped))


def _deep_check(
    invite: ActiveInvite,
    own: _OwnBlob,
    state: MemberState,
    first: tuple[str, ...],
    kinds: tuple[SlotKind, ...],
    now_ns: int,
    level: VerifyLevel,
) -> Steps[RefreshReport]:
    urls, skipped = yield from _targets(invite.policy, first)
    reports: list[TargetReport] = []
    for url in urls:
        for kind in kinds:
            fetched = yield from ask(
                FetchSlot(url, kind, invite.external_group_id, invite.symmetric_key)
            )
            if fetched.error is not None:
                reports.append(TargetReport(url, TargetAction.ERROR, kind, error=fetched.error))
                continue
            verdict = yield from deep_check_steps(
                fetched.candidates, invite.policy, state, now_ns, listed=fetched.listed,
                level=level,
            )
            ahead = (verdict.highest_claimed_epoch or 0) > state.epoch
            if verdict.action is DeepAction.HEALTHY:
                wedged = kind is SlotKind.LANE and ahead
                action = TargetAction.LANE_WEDGED if wedged else TargetAction.HEALTHY
                reports.append(TargetReport(url, action, kind, verified=True))
                continue
            results = yield from _upload(invite, (url,), (kind,), own.body)
            reports.append(_uploaded(url, kind, results, TargetAction.REUPLOADED))
    return RefreshReport(RefreshRole.DEEP_CHECK, state.epoch, (*reports, *skipped))


def committer_steps(
    group_info: bytes,
    policy: ExternalCommitPolicy,
    epoch_started_at_ns: int,
    *,
    first_services: Sequence[str] = (),
    kinds: tuple[SlotKind, ...] = BOTH_KINDS,
    random_bytes: RandomBytes = os_random_bytes,
    envelope: Envelope = Envelope.V1,
) -> Steps[RefreshReport]:
    """The committer role as steps, for a machine that embeds it (join step 10)."""
    invite = active_invite(policy, "refresh")
    own = _OwnBlob(group_info, policy, epoch_started_at_ns, random_bytes, envelope)
    return _committer(invite, own, tuple(first_services), kinds)


__all__ = [
    "BOTH_KINDS",
    "DEEP_CHECK_MAX_CANDIDATES",
    "EXISTENCE_QUERY_FAILED",
    "Backoff",
    "BackstopAction",
    "DeepAction",
    "DeepCheck",
    "MemberState",
    "RefreshMachine",
    "RefreshMetrics",
    "RefreshReport",
    "RefreshRole",
    "RefreshStatus",
    "SkipReason",
    "TargetAction",
    "TargetReport",
    "backstop_decision",
    "claimed_epochs",
    "committer_steps",
    "deep_check_decision",
    "deep_check_steps",
    "lane_wedged",
    "member_state",
    "mint_blob",
    "refresh_targets",
]

"""The refresh machine: one pass of one role (see :mod:`invitekit.refresh`), and the
committer role as steps for a machine that embeds it (join step 10)."""

from __future__ import annotations

from collections.abc import Sequence

from ..engine import Machine, Steps, ask
from ..envelope import Envelope, SealedBlob
from ..mls import VerifyLevel
from ..needs import CheckExists, FetchSlot, ResolveTargets, Upload, UploadOutcome, Wait
from ..pointer import HttpsPointer, OpaquePointer, dedupe_services, pointer_label
from ..policy import ActiveInvite, ExternalCommitPolicy, active_invite
from ..protocol import SlotKind
from ..sources import RandomBytes, RandomUnit, jitter_unit, os_random_bytes
from .backoff import Backoff
from .decisions import (
    BackstopAction,
    DeepAction,
    MemberState,
    backstop_decision,
    deep_check_steps,
    lane_wedged,
    member_state,
    mint_blob,
    refresh_targets,
)
from .reports import RefreshReport, SkipReason, TargetAction, TargetReport
from .roles import BOTH_KINDS, RefreshRole

#: Error code of a failed existence query.
EXISTENCE_QUERY_FAILED = "existence-query-failed"


class _OwnBlob:
    """The member's own blob, sealed and serialized on first use only; every target gets
    the same bytes."""

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
        self._body: bytes | None = None

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
        if self._body is None:
            self._body = self.blob.to_bytes()
        return self._body


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
        backoff: Backoff = Backoff(),  # noqa: B008 - frozen value
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


__all__ = ["EXISTENCE_QUERY_FAILED", "RefreshMachine", "committer_steps"]

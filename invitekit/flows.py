"""Async orchestration of the invite lifecycle over :class:`invitekit.client.InviteClient`.

* :func:`join_invite` — XIP-82 join steps 1–10 as one call; every result is a typed
  :class:`~invitekit.join.JoinOutcome` (or :class:`Joined`).
* :func:`check_invite` — the same flow up to, not including, the commit (``join-check``).
* :func:`committer_refresh`, :func:`backstop_refresh`, :func:`deep_check` — the refresh
  roles of "Keeping the blob fresh".

The decisions are the sans-IO functions of :mod:`invitekit.join` and
:mod:`invitekit.refresh`; this module only fetches, uploads, sleeps and asks the caller's
callbacks. The clock, the jitter RNG and ``sleep`` are injected.

Building and publishing the external commit is the caller's job (it needs an MLS client
and the delivery service): ``commit(survivor)`` returns :class:`CommitAccepted` with the
joiner's GroupInfo at the new epoch, or :class:`CommitRejected` when the group's members
refused the commit, in which case the flow falls through to the next candidate.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .client import InviteClient
from .client.errors import UnresolvablePointer
from .client.results import UploadResult
from .errors import PolicyNotEnabled
from .join import (
    DEFAULT_MAX_BLOB_BYTES,
    DEFAULT_MAX_CANDIDATES,
    Discarded,
    JoinOutcome,
    MembershipTags,
    PolicyProvider,
    PolicySource,
    Precommit,
    ReadyToCommit,
    Selection,
    StaleQrCheck,
    Survivor,
    precommit_decision,
    precommit_outcome,
    read_policy,
    stale_qr,
    triage,
)
from .link import parse_invite_text
from .mls import VerifyLevel, parse_group_info
from .payload import InvitePayload, decode_payload
from .pointer import HttpsPointer, OpaquePointer, ServicePointer
from .policy import ExternalCommitPolicy
from .protocol import SlotKind
from .refresh import (
    Backoff,
    BackstopAction,
    DeepAction,
    UnitRng,
    backstop_decision,
    deep_check_decision,
    default_rng,
    member_state,
    mint_blob,
    pointer_key,
    refresh_targets,
)

Clock = Callable[[], int]
Sleep = Callable[[float], Awaitable[None]]
#: Resolves an application-defined pointer (``None``: the payload had none) to base URLs.
Resolver = Callable[[OpaquePointer | None], Awaitable[Sequence[str]]]


# --- commit callback types -------------------------------------------------------------


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
CommitFn = Callable[[Survivor], Awaitable[CommitReport]]


@dataclass(frozen=True, slots=True)
class JoinOptions:
    """Knobs of the join flow; the defaults follow the XIP's recommendations."""

    level: VerifyLevel = VerifyLevel.TREE
    max_candidates: int = DEFAULT_MAX_CANDIDATES
    max_blob_bytes: int = DEFAULT_MAX_BLOB_BYTES
    #: Treat blobs as expired this much early (joiner clock behind the delivery service).
    expiry_margin_ns: int = 0
    fetch_kinds: tuple[SlotKind, ...] = (SlotKind.LANE, SlotKind.OPEN)
    upload_kinds: tuple[SlotKind, ...] = (SlotKind.LANE,)
    accept_epoch_authenticator_digest: bool = False
    #: Upper bound on commits tried before giving up (each one is published).
    max_commit_attempts: int = 8


@dataclass(frozen=True)
class Joined(JoinOutcome):
    """The external commit merged; ``refresh`` holds the step-10 upload results.

    ``refresh_skipped`` is ``"stale-qr"`` when the committed state's policy no longer
    matches the QR (XIP step 9: stay in the group, upload nothing) and ``"no-policy"`` when
    no policy is known for the new state.
    """

    kind: ClassVar[str] = "joined"
    ok: ClassVar[bool] = True
    epoch: int = 0
    attempts: int = 1
    refresh: tuple[UploadResult, ...] = ()
    refresh_skipped: str | None = None
    stale_check: StaleQrCheck | None = None
    policy_source: PolicySource = PolicySource.NONE
    discarded: tuple[Discarded, ...] = ()

    def describe(self) -> str:
        if self.refresh_skipped == "stale-qr":
            return (
                f"Joined at epoch {self.epoch}, but this invite was replaced meanwhile; "
                "the old invite was not refreshed."
            )
        stored = sum(1 for r in self.refresh if r.ok)
        return f"Joined the group at epoch {self.epoch} (refreshed {stored} slot copies)."

    def details(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "attempts": self.attempts,
            "refresh": [r.to_json() for r in self.refresh],
            "refresh_skipped": self.refresh_skipped,
            "policy_source": str(self.policy_source),
            "discarded": [d.to_json() for d in self.discarded],
        }


# --- helpers ---------------------------------------------------------------------------


def as_payload(invite: str | bytes | InvitePayload) -> InvitePayload:
    """A payload from link/encoded text, raw payload bytes, or a payload object."""
    if isinstance(invite, InvitePayload):
        return invite
    if isinstance(invite, bytes):
        return decode_payload(invite)
    return parse_invite_text(invite)


async def resolve_pointer(
    pointer: ServicePointer | None, resolver: Resolver | None
) -> tuple[str, ...]:
    """Base URLs for a pointer: the URL itself, or the application's resolver's answer."""
    if isinstance(pointer, HttpsPointer):
        return (pointer.url,)
    if resolver is None:
        what = "an opaque service pointer" if pointer is not None else "no service pointer"
        raise UnresolvablePointer(f"the invite carries {what} and no resolver was given")
    return tuple(await resolver(pointer))


def _dedupe_urls(urls: Sequence[str]) -> tuple[str, ...]:
    seen: dict[str, str] = {}
    for url in urls:
        seen.setdefault(url.rstrip("/"), url)
    return tuple(seen.values())


@dataclass
class _Prepared:
    payload: InvitePayload
    services: tuple[str, ...]
    selection: Selection
    fetch_errors: tuple[str, ...]
    now_ns: int


async def _prepare(
    invite: str | bytes | InvitePayload,
    client: InviteClient,
    resolver: Resolver | None,
    options: JoinOptions,
    clock: Clock,
) -> _Prepared:
    payload = as_payload(invite)  # step 1: version, pointer shape (typed errors)
    services = _dedupe_urls(await resolve_pointer(payload.service_pointer, resolver))
    merged = await client.fetch_merged(  # step 2, bounded by the client's caps
        services,
        payload.external_group_id,
        kinds=options.fetch_kinds,
        key=payload.symmetric_key,
        max_candidates=options.max_candidates,
    )
    now = clock() + options.expiry_margin_ns
    triaged = triage(  # step 3.1-3.3; the candidate cap is per fetch (service x kind)
        merged.candidates,
        payload,
        now,
        max_candidates=options.max_candidates * max(1, len(merged.results)),
        max_blob_bytes=options.max_blob_bytes,
    )
    selection = Selection(  # steps 3.4-3.5 and 5, lazily
        payload,
        triaged,
        now,
        level=options.level,
        accept_epoch_authenticator_digest=options.accept_epoch_authenticator_digest,
    )
    return _Prepared(payload, services, selection, merged.errors, now)


def _precommit(
    survivor: Survivor,
    payload: InvitePayload,
    now_ns: int,
    provider: PolicyProvider | None,
    tags: MembershipTags | None,
) -> tuple[JoinOutcome | None, PolicySource]:
    read = read_policy(survivor.view, provider)
    if read.policy is None:
        return None, read.source
    members = list(tags(survivor.view)) if tags is not None else []
    verdict = precommit_decision(read.policy, payload, now_ns, members)
    if verdict is Precommit.OK:
        return None, read.source
    outcome = precommit_outcome(verdict, read.policy, payload, members, epoch=survivor.epoch)
    return outcome, read.source


# --- join ------------------------------------------------------------------------------


async def check_invite(
    invite: str | bytes | InvitePayload,
    *,
    client: InviteClient,
    resolver: Resolver | None = None,
    policy_provider: PolicyProvider | None = None,
    membership_tags: MembershipTags | None = None,
    clock: Clock = time.time_ns,
    options: JoinOptions = JoinOptions(),
) -> JoinOutcome:
    """Run the join flow up to, not including, the commit: what would a joiner get?"""
    prep = await _prepare(invite, client, resolver, options, clock)
    survivor = prep.selection.next()
    if survivor is None:
        return prep.selection.exhausted(prep.fetch_errors)
    abort, source = _precommit(
        survivor, prep.payload, prep.now_ns, policy_provider, membership_tags
    )
    if abort is not None:
        return abort
    return ReadyToCommit(
        survivor=survivor, policy_source=source, discarded=tuple(prep.selection.discarded)
    )


async def join_invite(
    invite: str | bytes | InvitePayload,
    commit: CommitFn,
    *,
    client: InviteClient,
    resolver: Resolver | None = None,
    policy_provider: PolicyProvider | None = None,
    membership_tags: MembershipTags | None = None,
    clock: Clock = time.time_ns,
    options: JoinOptions = JoinOptions(),
    nonce_source: Callable[[int], bytes] | None = None,
) -> JoinOutcome:
    """XIP-82 join steps 1–10. Never publishes a commit the pre-commit check predicts doomed.

    ``commit`` builds and publishes the external commit from the chosen GroupInfo (steps
    7–8); an exception it raises propagates (the flow cannot tell whether anything was
    published). After a merge, the stale-QR check (step 9) runs on the *new* state's policy; only
    if it passes is the refreshed blob sealed and uploaded to the scanned slot and every
    refresh pointer (step 10).
    """
    prep = await _prepare(invite, client, resolver, options, clock)
    selection = prep.selection
    accepted: CommitAccepted | None = None
    while accepted is None:
        survivor = selection.next()
        if survivor is None or selection.attempts >= options.max_commit_attempts:
            return selection.exhausted(prep.fetch_errors)
        abort, _source = _precommit(
            survivor, prep.payload, clock(), policy_provider, membership_tags
        )
        if abort is not None:
            return abort
        report = await commit(survivor)
        if isinstance(report, CommitRejected):
            selection.reject(survivor, report.reason)
            continue
        accepted = report
    attempts = selection.attempts + 1
    view = parse_group_info(accepted.group_info)
    new_policy = accepted.policy
    read = read_policy(view, lambda _view: new_policy)
    if read.policy is None and policy_provider is not None:
        read = read_policy(view, policy_provider)
    discarded = tuple(selection.discarded)
    if read.policy is None:
        return Joined(
            epoch=view.epoch, attempts=attempts, refresh_skipped="no-policy",
            policy_source=read.source, discarded=discarded,
        )
    check = stale_qr(read.policy, prep.payload)
    if not check.ok or not read.policy.allow_external_commit:
        return Joined(
            epoch=view.epoch, attempts=attempts, refresh_skipped="stale-qr",
            stale_check=check, policy_source=read.source, discarded=discarded,
        )
    report_ = await committer_refresh(
        client,
        accepted.group_info,
        read.policy,
        accepted.epoch_started_at_ns,
        first_urls=prep.services,
        resolver=resolver,
        kinds=options.upload_kinds,
        nonce_source=nonce_source,
    )
    return Joined(
        epoch=view.epoch, attempts=attempts, refresh=report_.uploads, stale_check=check,
        policy_source=read.source, discarded=discarded,
    )


# --- refresh roles ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TargetReport:
    """One refresh target (a service base URL) after a refresh pass."""

    service: str
    action: str
    uploads: tuple[UploadResult, ...] = ()
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "service": self.service,
            "action": self.action,
            "uploads": [u.to_json() for u in self.uploads],
            "detail": self.detail,
        }


@dataclass(frozen=True)
class RefreshReport:
    """The result of one refresh pass by one role."""

    role: str
    epoch: int
    targets: tuple[TargetReport, ...]

    @property
    def uploads(self) -> tuple[UploadResult, ...]:
        """Every upload made in this pass."""
        return tuple(u for t in self.targets for u in t.uploads)

    @property
    def uploaded(self) -> int:
        """How many uploads succeeded (created, idempotent or coalesced)."""
        return sum(1 for u in self.uploads if u.ok)

    def to_json(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "role": self.role,
            "epoch": self.epoch,
            "targets": [t.to_json() for t in self.targets],
        }


async def target_urls(
    policy: ExternalCommitPolicy,
    first_urls: Sequence[str],
    resolver: Resolver | None,
) -> tuple[tuple[str, ...], tuple[TargetReport, ...]]:
    """Base URLs of every refresh target; opaque pointers go through ``resolver``.

    Opaque pointers without a resolver are reported as skipped (another application's
    members refresh them), never fatal.
    """
    urls: list[str] = list(first_urls)
    skipped: list[TargetReport] = []
    for pointer in refresh_targets(policy):
        if isinstance(pointer, HttpsPointer):
            urls.append(pointer.url)
        elif resolver is None:
            skipped.append(TargetReport(pointer_key(pointer), "skipped", detail="no resolver"))
        else:
            urls.extend(await resolver(pointer))
    return _dedupe_urls(urls), tuple(skipped)


def _require_invite(policy: ExternalCommitPolicy, doing: str) -> None:
    """Every refresh role needs an active invite (an enabled policy carries its key)."""
    if not policy.allow_external_commit or policy.symmetric_key is None:
        raise PolicyNotEnabled(f"no active invite: nothing to {doing}")


def _lazy_blob_body(
    group_info: bytes,
    policy: ExternalCommitPolicy,
    epoch_started_at_ns: int,
    nonce_source: Callable[[int], bytes] | None,
) -> Callable[[], bytes]:
    """Seal the member's own blob on first use only, then hand out the same bytes."""
    minted: list[bytes] = []

    def body() -> bytes:
        if not minted:
            blob = mint_blob(group_info, policy, epoch_started_at_ns, nonce_source=nonce_source)
            minted.append(blob.to_bytes())
        return minted[0]

    return body


async def committer_refresh(
    client: InviteClient,
    group_info: bytes,
    policy: ExternalCommitPolicy,
    epoch_started_at_ns: int,
    *,
    first_urls: Sequence[str] = (),
    resolver: Resolver | None = None,
    kinds: tuple[SlotKind, ...] = (SlotKind.LANE,),
    nonce_source: Callable[[int], bytes] | None = None,
) -> RefreshReport:
    """Committer role: seal own GroupInfo once, upload to every target at once, no jitter."""
    _require_invite(policy, "refresh")
    blob = mint_blob(group_info, policy, epoch_started_at_ns, nonce_source=nonce_source)
    body = blob.to_bytes()
    urls, skipped = await target_urls(policy, first_urls, resolver)
    results = await client.upload_many(
        urls, policy.external_group_id, body, kinds=kinds, key=policy.symmetric_key
    )
    reports = [
        TargetReport(url, "uploaded", tuple(r for r in results if r.service == url))
        for url in urls
    ]
    return RefreshReport("committer", blob.epoch, (*reports, *skipped))


async def backstop_refresh(
    client: InviteClient,
    group_info: bytes,
    policy: ExternalCommitPolicy,
    epoch_started_at_ns: int,
    *,
    first_urls: Sequence[str] = (),
    resolver: Resolver | None = None,
    kinds: tuple[SlotKind, ...] = (SlotKind.LANE,),
    rng: UnitRng | None = None,
    sleep: Sleep = asyncio.sleep,
    backoff: Backoff | None = None,
    nonce_source: Callable[[int], bytes] | None = None,
) -> RefreshReport:
    """Backstop role: existence-check own pair per target; upload own blob only if absent.

    Starts after a jittered delay; each target gets at most ``backoff.attempts`` tries with
    capped exponential backoff between them (transport errors, 5xx and 429 only).
    """
    _require_invite(policy, "refresh")
    draw = rng or default_rng()
    backoff = backoff or Backoff()
    state = member_state(group_info)
    urls, skipped = await target_urls(policy, first_urls, resolver)
    await sleep(backoff.initial_delay(draw))
    body = _lazy_blob_body(group_info, policy, epoch_started_at_ns, nonce_source)
    reports: list[TargetReport] = []
    for url in urls:
        for kind in kinds:
            report: TargetReport | None = None
            for attempt in range(backoff.attempts):
                if attempt:
                    await sleep(backoff.retry_delay(attempt - 1, draw))
                present = await client.exists(
                    url, policy.external_group_id, state.epoch, state.digest,
                    kind=kind, key=policy.symmetric_key,
                )
                if present is None:
                    report = TargetReport(url, "error", detail=f"{kind}: existence query failed")
                    continue
                if backstop_decision(present) is BackstopAction.STAND_DOWN:
                    report = TargetReport(url, "stand-down", detail=str(kind))
                    break
                result = await client.upload(
                    url, policy.external_group_id, body(), kind=kind, key=policy.symmetric_key
                )
                report = TargetReport(url, "uploaded" if result.ok else "error", (result,))
                if not result.retryable:
                    break
            assert report is not None
            reports.append(report)
    return RefreshReport("backstop", state.epoch, (*reports, *skipped))


async def deep_check(
    client: InviteClient,
    group_info: bytes,
    policy: ExternalCommitPolicy,
    epoch_started_at_ns: int,
    *,
    first_urls: Sequence[str] = (),
    resolver: Resolver | None = None,
    kinds: tuple[SlotKind, ...] = (SlotKind.LANE,),
    clock: Clock = time.time_ns,
    level: VerifyLevel = VerifyLevel.TREE,
    nonce_source: Callable[[int], bytes] | None = None,
) -> RefreshReport:
    """Deep check: fetch, validate as a joiner, re-upload own blob when none is current."""
    _require_invite(policy, "check")
    state = member_state(group_info)
    urls, skipped = await target_urls(policy, first_urls, resolver)
    body = _lazy_blob_body(group_info, policy, epoch_started_at_ns, nonce_source)
    reports: list[TargetReport] = []
    for url in urls:
        for kind in kinds:
            fetched = await client.fetch(
                url, policy.external_group_id, kind=kind, key=policy.symmetric_key
            )
            if not fetched.ok:
                reports.append(TargetReport(url, "error", detail=f"{kind}: {fetched.error}"))
                continue
            verdict = deep_check_decision(
                fetched.candidates, policy, state, clock(), level=level
            )
            if verdict.action is DeepAction.HEALTHY:
                reports.append(TargetReport(url, "healthy", detail=str(kind)))
                continue
            result = await client.upload(
                url, policy.external_group_id, body(), kind=kind, key=policy.symmetric_key
            )
            reports.append(TargetReport(url, "reuploaded", (result,)))
    return RefreshReport("deep-check", state.epoch, (*reports, *skipped))


__all__ = [
    "CommitAccepted",
    "CommitFn",
    "CommitRejected",
    "CommitReport",
    "JoinOptions",
    "Joined",
    "RefreshReport",
    "Resolver",
    "TargetReport",
    "as_payload",
    "backstop_refresh",
    "check_invite",
    "committer_refresh",
    "deep_check",
    "join_invite",
    "resolve_pointer",
    "target_urls",
]

"""Keeping the blob fresh (XIP-82 "Keeping the blob fresh"): the three member roles, sans-IO.

Each role is a :class:`RefreshMachine` (the engine of :mod:`invitekit.engine`): it asks its
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

The package: :mod:`~invitekit.refresh.roles` (the roles, the default slot kinds),
:mod:`~invitekit.refresh.backoff` (jitter and retries), :mod:`~invitekit.refresh.decisions`
(pure decisions), :mod:`~invitekit.refresh.reports` (what a pass ends in, and the metrics)
and :mod:`~invitekit.refresh.machine` (the transitions). This module re-exports their public
names; code inside the project imports each from its owner module.
"""

from __future__ import annotations

from .backoff import Backoff
from .decisions import (
    DEEP_CHECK_MAX_CANDIDATES,
    BackstopAction,
    DeepAction,
    DeepCheck,
    MemberState,
    backstop_decision,
    claimed_epochs,
    deep_check_decision,
    deep_check_steps,
    lane_wedged,
    member_state,
    mint_blob,
    refresh_targets,
)
from .machine import EXISTENCE_QUERY_FAILED, RefreshMachine, committer_steps
from .reports import (
    RefreshMetrics,
    RefreshReport,
    RefreshStatus,
    SkipReason,
    TargetAction,
    TargetReport,
)
from .roles import BOTH_KINDS, RefreshRole

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

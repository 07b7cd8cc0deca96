"""The refresh driver: one pass of one role (:class:`~invitekit.refresh.RefreshMachine`).

``first_services`` are targets before the policy's refresh pointers (a joiner's scanned
service); ``resolver`` resolves opaque pointers (without it they are reported skipped).
Every role writes the open slot and the keyed lane unless ``kinds`` says otherwise;
``metrics`` (a :class:`~invitekit.refresh.RefreshMetrics`) counts each finished pass,
including lanes found wedged. A report whose ``status`` is ``nothing-stored`` is a failure.
``envelope`` is the version the member's own blob is sealed in: v1 (the XIP's) unless the
group chose an HPKE extension.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from ..client import InviteClient
from ..envelope import Envelope
from ..mls import VerifyLevel
from ..policy import ExternalCommitPolicy
from ..protocol import SlotKind
from ..refresh.backoff import Backoff
from ..refresh.machine import RefreshMachine
from ..refresh.reports import RefreshMetrics, RefreshReport
from ..refresh.roles import BOTH_KINDS, RefreshRole
from ..sources import (
    Clock,
    RandomBytes,
    RandomUnit,
    jitter_unit,
    os_random_bytes,
    system_clock,
)
from .io import NeedPerformer, Resolver, Sleep, drive


async def committer_refresh(
    client: InviteClient,
    group_info: bytes,
    policy: ExternalCommitPolicy,
    epoch_started_at_ns: int,
    *,
    first_services: Sequence[str] = (),
    resolver: Resolver | None = None,
    kinds: tuple[SlotKind, ...] = BOTH_KINDS,
    clock: Clock = system_clock,
    random_bytes: RandomBytes = os_random_bytes,
    metrics: RefreshMetrics | None = None,
    envelope: Envelope = Envelope.V1,
) -> RefreshReport:
    """Committer role: seal own GroupInfo once, upload to every target at once, no jitter."""
    machine = RefreshMachine(
        RefreshRole.COMMITTER, group_info, policy, epoch_started_at_ns, clock(),
        first_services=first_services, kinds=kinds, random_bytes=random_bytes,
        envelope=envelope,
    )
    return _observed(await drive(machine, NeedPerformer(client, resolver)), metrics)


async def backstop_refresh(
    client: InviteClient,
    group_info: bytes,
    policy: ExternalCommitPolicy,
    epoch_started_at_ns: int,
    *,
    first_services: Sequence[str] = (),
    resolver: Resolver | None = None,
    kinds: tuple[SlotKind, ...] = BOTH_KINDS,
    backoff: Backoff = Backoff(),  # noqa: B008 - frozen value
    sleep: Sleep = asyncio.sleep,
    clock: Clock = system_clock,
    random_unit: RandomUnit = jitter_unit,
    random_bytes: RandomBytes = os_random_bytes,
    metrics: RefreshMetrics | None = None,
    envelope: Envelope = Envelope.V1,
) -> RefreshReport:
    """Backstop role: jittered start, existence check per target, upload only if absent."""
    machine = RefreshMachine(
        RefreshRole.BACKSTOP, group_info, policy, epoch_started_at_ns, clock(),
        first_services=first_services, kinds=kinds, backoff=backoff,
        random_unit=random_unit, random_bytes=random_bytes, envelope=envelope,
    )
    return _observed(await drive(machine, NeedPerformer(client, resolver, sleep=sleep)), metrics)


async def deep_check(
    client: InviteClient,
    group_info: bytes,
    policy: ExternalCommitPolicy,
    epoch_started_at_ns: int,
    *,
    first_services: Sequence[str] = (),
    resolver: Resolver | None = None,
    kinds: tuple[SlotKind, ...] = BOTH_KINDS,
    level: VerifyLevel = VerifyLevel.TREE,
    clock: Clock = system_clock,
    random_bytes: RandomBytes = os_random_bytes,
    metrics: RefreshMetrics | None = None,
    envelope: Envelope = Envelope.V1,
) -> RefreshReport:
    """Deep check: fetch, validate as a joiner, re-upload own blob where none is current."""
    machine = RefreshMachine(
        RefreshRole.DEEP_CHECK, group_info, policy, epoch_started_at_ns, clock(),
        first_services=first_services, kinds=kinds, level=level, random_bytes=random_bytes,
        envelope=envelope,
    )
    return _observed(await drive(machine, NeedPerformer(client, resolver)), metrics)


def _observed(report: RefreshReport, metrics: RefreshMetrics | None) -> RefreshReport:
    if metrics is not None:
        metrics.observe(report)
    return report


__all__ = ["backstop_refresh", "committer_refresh", "deep_check"]

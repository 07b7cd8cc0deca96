"""The refresh driver: one pass of one role (:class:`~invitekit.refresh.RefreshMachine`).

``first_services`` are targets before the policy's refresh pointers (a joiner's scanned
service); ``resolver`` resolves opaque pointers (without it they are reported skipped).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from ..client import InviteClient
from ..mls import VerifyLevel
from ..policy import ExternalCommitPolicy
from ..protocol import SlotKind
from ..refresh import Backoff, RefreshMachine, RefreshReport, RefreshRole
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
    kinds: tuple[SlotKind, ...] = (SlotKind.LANE,),
    clock: Clock = system_clock,
    random_bytes: RandomBytes = os_random_bytes,
) -> RefreshReport:
    """Committer role: seal own GroupInfo once, upload to every target at once, no jitter."""
    machine = RefreshMachine(
        RefreshRole.COMMITTER, group_info, policy, epoch_started_at_ns, clock(),
        first_services=first_services, kinds=kinds, random_bytes=random_bytes,
    )
    return await drive(machine, NeedPerformer(client, resolver))


async def backstop_refresh(
    client: InviteClient,
    group_info: bytes,
    policy: ExternalCommitPolicy,
    epoch_started_at_ns: int,
    *,
    first_services: Sequence[str] = (),
    resolver: Resolver | None = None,
    kinds: tuple[SlotKind, ...] = (SlotKind.LANE,),
    backoff: Backoff = Backoff(),  # noqa: B008 - frozen value
    sleep: Sleep = asyncio.sleep,
    clock: Clock = system_clock,
    random_unit: RandomUnit = jitter_unit,
    random_bytes: RandomBytes = os_random_bytes,
) -> RefreshReport:
    """Backstop role: jittered start, existence check per target, upload only if absent."""
    machine = RefreshMachine(
        RefreshRole.BACKSTOP, group_info, policy, epoch_started_at_ns, clock(),
        first_services=first_services, kinds=kinds, backoff=backoff,
        random_unit=random_unit, random_bytes=random_bytes,
    )
    return await drive(machine, NeedPerformer(client, resolver, sleep=sleep))


async def deep_check(
    client: InviteClient,
    group_info: bytes,
    policy: ExternalCommitPolicy,
    epoch_started_at_ns: int,
    *,
    first_services: Sequence[str] = (),
    resolver: Resolver | None = None,
    kinds: tuple[SlotKind, ...] = (SlotKind.LANE,),
    level: VerifyLevel = VerifyLevel.TREE,
    clock: Clock = system_clock,
    random_bytes: RandomBytes = os_random_bytes,
) -> RefreshReport:
    """Deep check: fetch, validate as a joiner, re-upload own blob where none is current."""
    machine = RefreshMachine(
        RefreshRole.DEEP_CHECK, group_info, policy, epoch_started_at_ns, clock(),
        first_services=first_services, kinds=kinds, level=level, random_bytes=random_bytes,
    )
    return await drive(machine, NeedPerformer(client, resolver))


__all__ = ["backstop_refresh", "committer_refresh", "deep_check"]

"""The join driver: :func:`join_invite` (XIP steps 1–10) and :func:`check_invite` (1–6).

Both build the same :class:`~invitekit.join.JoinMachine`; they differ only in its mode.
The clock is read once per call (the machine's clock rule).
"""

from __future__ import annotations

from ..client import InviteClient
from ..commit_pieces import Joiner
from ..groupinfo_policy import MembershipTags, PolicyProvider
from ..join import JoinMachine, JoinMode, JoinOptions, JoinOutcome
from ..link import as_payload
from ..payload import InvitePayload
from ..sources import Clock, RandomBytes, os_random_bytes, system_clock
from .io import CommitFn, NeedPerformer, Resolver, drive


async def check_invite(
    invite: str | bytes | InvitePayload,
    *,
    client: InviteClient,
    resolver: Resolver | None = None,
    policy_provider: PolicyProvider | None = None,
    membership_tags: MembershipTags | None = None,
    clock: Clock = system_clock,
    options: JoinOptions = JoinOptions(),  # noqa: B008 - frozen value
    joiner: Joiner | None = None,
) -> JoinOutcome:
    """What would a joiner get? The join up to, not including, the commit (with ``joiner``,
    the ready outcome carries the joiner's membership proposal)."""
    machine = _machine(
        invite, JoinMode.CHECK, clock, options, policy_provider, membership_tags,
        joiner=joiner,
    )
    return await drive(machine, NeedPerformer(client, resolver))


async def join_invite(
    invite: str | bytes | InvitePayload,
    commit: CommitFn,
    *,
    client: InviteClient,
    resolver: Resolver | None = None,
    policy_provider: PolicyProvider | None = None,
    membership_tags: MembershipTags | None = None,
    clock: Clock = system_clock,
    options: JoinOptions = JoinOptions(),  # noqa: B008 - frozen value
    random_bytes: RandomBytes = os_random_bytes,
    joiner: Joiner | None = None,
) -> JoinOutcome:
    """XIP-82 join steps 1–10; never publishes a commit step 6 predicts doomed.

    ``commit`` builds and publishes the external commit (steps 7–8) from the
    :class:`~invitekit.needs.CommitRequest` it is handed; with ``joiner`` given, the request
    carries the joiner's own ``GROUP_MEMBERSHIP`` proposal the commit must include. An
    exception ``commit`` raises propagates (the flow cannot tell whether anything was
    published).
    """
    machine = _machine(
        invite, JoinMode.JOIN, clock, options, policy_provider, membership_tags, random_bytes,
        joiner,
    )
    return await drive(machine, NeedPerformer(client, resolver, commit=commit))


def _machine(
    invite: str | bytes | InvitePayload,
    mode: JoinMode,
    clock: Clock,
    options: JoinOptions,
    policy_provider: PolicyProvider | None,
    membership_tags: MembershipTags | None,
    random_bytes: RandomBytes = os_random_bytes,
    joiner: Joiner | None = None,
) -> JoinMachine:
    """Parse the invite, read the clock once, build the machine."""
    return JoinMachine(
        as_payload(invite),
        clock(),
        mode=mode,
        options=options,
        policy_provider=policy_provider,
        membership_tags=membership_tags,
        random_bytes=random_bytes,
        joiner=joiner,
    )


__all__ = ["check_invite", "join_invite"]

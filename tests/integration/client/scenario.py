"""Glue for the XIP test cases: one MLS world, N services, an application resolver."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from invitekit.client import InviteClient, SlotKind
from invitekit.drivers import check_invite, committer_refresh, join_invite
from invitekit.join import JoinOptions, JoinOutcome
from invitekit.payload import InvitePayload
from invitekit.pointer import OpaquePointer
from invitekit.policy import ExternalCommitPolicy, enable
from invitekit.refresh import RefreshReport

from .conftest import ServiceProcess
from .world import World

HOUR_NS = 3600 * 10**9
BOTH = (SlotKind.LANE, SlotKind.OPEN)


@dataclass
class Scenario:
    """The invite is application-resolved (no pointer in the QR); refresh pointers are
    opaque names the app's resolver maps to service URLs — the XIP's first-party path."""

    world: World
    client: InviteClient
    services: list[ServiceProcess]
    kinds: tuple[SlotKind, ...] = BOTH

    @classmethod
    def start(
        cls,
        world: World,
        client: InviteClient,
        services: Sequence[ServiceProcess],
        *,
        kinds: tuple[SlotKind, ...] = BOTH,
        **policy_kw: int,
    ) -> Scenario:
        pointers = [OpaquePointer(f"svc:{i}".encode()) for i in range(len(services))]
        policy_kw.setdefault("expire_in_ns", HOUR_NS)
        world.policy = enable(refresh_pointers=pointers, **policy_kw)
        return cls(world, client, list(services), kinds)

    @property
    def payload(self) -> InvitePayload:
        return self.world.policy.invite()

    @property
    def urls(self) -> list[str]:
        return [s.url for s in self.services]

    async def resolver(self, pointer: OpaquePointer | None) -> list[str]:
        if pointer is None:
            return self.urls
        index = int(pointer.data.decode().split(":")[1])
        return [self.services[index].url]

    @property
    def options(self) -> JoinOptions:
        return JoinOptions(fetch_kinds=self.kinds, upload_kinds=self.kinds)

    async def refresh(
        self, member: str = "admin", policy: ExternalCommitPolicy | None = None
    ) -> RefreshReport:
        """The committer role for ``member``'s current state."""
        return await committer_refresh(
            self.client,
            self.world.group_info(member),
            policy or self.world.policy,
            self.world.epoch_started_at_ns,
            resolver=self.resolver,
            kinds=self.kinds,
        )

    async def join(
        self, name: str, payload: InvitePayload | None = None, **kw: object
    ) -> JoinOutcome:
        options = kw.pop("options", self.options)
        return await join_invite(
            payload or self.payload,
            self.world.joiner(name, kw.pop("after_publish", None)),  # type: ignore[arg-type]
            client=self.client,
            resolver=self.resolver,
            policy_provider=self.world.provider(),
            options=options,  # type: ignore[arg-type]
            **kw,  # type: ignore[arg-type]
        )

    async def check(self, payload: InvitePayload | None = None, **kw: object) -> JoinOutcome:
        return await check_invite(
            payload or self.payload,
            client=self.client,
            resolver=self.resolver,
            policy_provider=self.world.provider(),
            options=kw.pop("options", self.options),  # type: ignore[arg-type]
            **kw,  # type: ignore[arg-type]
        )

    def commits_from(self, name: str) -> int:
        return sum(1 for sender, _, _ in self.world.published if sender == name)

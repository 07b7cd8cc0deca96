"""Pre-commit outcomes through the whole flow, from GroupInfos whose AppData carries the
policy (ts-mls fixtures in fixtures/policy, made by fixtures/policy-gen): the joiner aborts
before publishing anything."""

from __future__ import annotations

import pytest

from invitekit.client import InviteClient
from invitekit.drivers import check_invite, join_invite
from invitekit.groupinfo_policy import PolicySource
from invitekit.join import PrecommitAborted, ReadyToCommit
from invitekit.mls import GroupInfoView
from invitekit.payload import InvitePayload
from invitekit.precommit import PrecommitCode
from tests.support.groupinfos import fixture_key, fixture_slot, policy_gi, seal_gi

from .conftest import ServiceProcess


async def upload_variant(
    client: InviteClient, service: ServiceProcess, variant: str
) -> InvitePayload:
    slot = fixture_slot()  # the QR as minted: fixture slot and key (one service per test)
    body = seal_gi(policy_gi(variant), fixture_key()).to_bytes()
    assert (await client.upload(service.url, slot, body, key=fixture_key())).ok
    return InvitePayload(slot, fixture_key())


@pytest.mark.parametrize(
    ("variant", "expected"),
    [("revoked", PrecommitCode.SWITCH_OFF), ("campaign-over", PrecommitCode.POLICY_EXPIRED)],
)
async def test_policy_in_group_info_aborts_before_commit(
    client: InviteClient, service: ServiceProcess, variant: str, expected: PrecommitCode
) -> None:
    payload = await upload_variant(client, service, variant)
    calls: list[object] = []

    async def commit(survivor: object) -> object:
        calls.append(survivor)
        raise AssertionError("the flow must not commit")

    async def resolver(pointer: object) -> list[str]:
        return [service.url]

    outcome = await join_invite(payload, commit, client=client, resolver=resolver)  # type: ignore[arg-type]
    assert isinstance(outcome, PrecommitAborted)
    assert outcome.code is expected
    assert calls == []


async def test_max_uses_from_membership_tags(client: InviteClient, service: ServiceProcess) -> None:
    payload = await upload_variant(client, service, "max-uses-2")

    async def resolver(pointer: object) -> list[str]:
        return [service.url]

    def tags(full: int) -> object:
        def read(view: GroupInfoView) -> list[bytes | None]:
            # GROUP_MEMBERSHIP is XMTP AppData: the app reads the tags; here, `full` of the
            # group's members were admitted through the active slot.
            return [fixture_slot()] * full + [None]

        return read

    full = await check_invite(
        payload,
        client=client,
        resolver=resolver,
        membership_tags=tags(2),  # type: ignore[arg-type]
    )
    assert isinstance(full, PrecommitAborted)
    assert full.code is PrecommitCode.MAX_USES_EXHAUSTED
    assert (full.uses, full.max_uses) == (2, 2)
    room = await check_invite(
        payload,
        client=client,
        resolver=resolver,
        membership_tags=tags(1),  # type: ignore[arg-type]
    )
    assert isinstance(room, ReadyToCommit)
    assert room.policy_source is PolicySource.GROUP_INFO


async def test_enabled_policy_is_ready(client: InviteClient, service: ServiceProcess) -> None:
    payload = await upload_variant(client, service, "enabled")

    async def resolver(pointer: object) -> list[str]:
        return [service.url]

    ready = await check_invite(payload, client=client, resolver=resolver)
    assert isinstance(ready, ReadyToCommit)
    assert ready.policy_source is PolicySource.GROUP_INFO
    assert ready.to_json()["cipher_suite"] == 3

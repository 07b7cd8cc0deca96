"""End to end with real MLS (rine-mls), real service processes and real TLS.

Admin creates a group, enables the policy, mints the invite, uploads; joiner A scans the
link, joins by external commit, the member applies it, A refreshes the blob; joiner B joins
at the new epoch from A's blob; an ordinary member commit stales the blob and the
committer's refresh makes the invite joinable again.

Kept on real sockets on purpose (``service_process``): a real ``invitekit-service`` process
behind a real TLS server on loopback, reached by the default network client.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from invitekit.client import InviteClient
from invitekit.drivers import check_invite, committer_refresh, join_invite
from invitekit.join import Joined, ReadyToCommit, RejectedAfterForks
from invitekit.link import make_link, parse_invite_text
from invitekit.pointer import HttpsPointer
from invitekit.policy import enable

from .conftest import ServiceProcess
from .tls import SelfSignedCert
from .world import World

HOUR_NS = 3600 * 10**9


@pytest.mark.service_process
async def test_end_to_end_over_tls(
    world: World, service: ServiceProcess, tls_front: Callable[[str], Any], cert: SelfSignedCert
) -> None:
    url = await tls_front(service.url)
    assert url.startswith("https://127.0.0.1:")
    world.policy = enable(refresh_pointers=[HttpsPointer(url)], expire_in_ns=HOUR_NS)
    link = make_link(world.policy.invite(HttpsPointer(url)), "https://example.org/i")
    provider = world.provider()

    # Default FetchPolicy: https only; the test CA is the only thing added.
    async with InviteClient(ssl_context=cert.client_context()) as client:
        first = await committer_refresh(
            client, world.group_info("admin"), world.policy, world.epoch_started_at_ns
        )
        assert first.uploaded == 2  # the lane and the open slot
        assert first.epoch == 1

        payload = parse_invite_text(link)  # A scans the poster
        assert payload.external_group_id == world.policy.external_group_id
        joined_a = await join_invite(
            link, world.joiner("alice"), client=client, policy_provider=provider
        )
        assert isinstance(joined_a, Joined), joined_a
        assert joined_a.epoch == 2
        assert joined_a.attempts == 1
        assert world.members["admin"].epoch() == 2  # the member applied A's commit
        assert [r.outcome for r in joined_a.refresh] == ["created", "created"]

        joined_b = await join_invite(
            link, world.joiner("bob"), client=client, policy_provider=provider
        )
        assert isinstance(joined_b, Joined)
        assert joined_b.epoch == 3
        assert joined_b.attempts == 1

        # An ordinary commit (add_member of a fresh KeyPackage) stales the slot.
        assert world.ordinary_commit("admin") == 4
        stale = await check_invite(link, client=client, policy_provider=provider)
        assert isinstance(stale, ReadyToCommit)
        assert stale.survivor is not None
        assert stale.survivor.epoch == 3  # a joiner cannot know it is stale before committing
        doomed = await join_invite(
            link, world.joiner("mallory-late"), client=client, policy_provider=provider
        )
        assert isinstance(doomed, RejectedAfterForks)
        assert "mallory-late" not in world.members

        refreshed = await committer_refresh(
            client, world.group_info("admin"), world.policy, world.epoch_started_at_ns
        )
        assert refreshed.uploaded == 2
        assert refreshed.epoch == 4
        joined_c = await join_invite(
            link, world.joiner("carol"), client=client, policy_provider=provider
        )
        assert isinstance(joined_c, Joined)
        assert joined_c.epoch == 5
    assert {g.epoch() for g in world.members.values()} == {5}
    assert set(world.members) == {"admin", "alice", "bob", "carol"}

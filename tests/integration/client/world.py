"""A real MLS group (rine-mls) plus an in-memory delivery topic, for end-to-end tests.

The "delivery service" is the list of members: a published commit is applied by every
member except its sender, in order; if the first one refuses it (epoch conflict, bad
signature...), every member refuses it and the commit is rejected — exactly what a joiner
sees when its external commit loses. Epoch start times are the publish timestamps.

rine groups carry no XMTP app_data_dictionary, so the group's EXTERNAL_COMMIT_POLICY lives
in ``World`` (per epoch: what the group state would say at that epoch) and reaches the
join machine through the caller-supplied policy provider and ``CommitAccepted.policy``.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from pathlib import Path

import rine_mls

from invitekit.drivers import CommitFn
from invitekit.mls import GroupInfoView
from invitekit.needs import CommitAccepted, CommitRejected, CommitReport, CommitRequest
from invitekit.policy import ExternalCommitPolicy

SUITE = rine_mls.CIPHER_SUITE_CLASSICAL


class World:
    """One MLS group, its members' states, and the group's invite policy."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.clients: dict[str, rine_mls.MlsClient] = {}
        self.members: dict[str, rine_mls.MlsGroup] = {}
        self._policies: list[tuple[int, ExternalCommitPolicy]] = [(0, ExternalCommitPolicy())]
        self.epoch_started_at_ns = time.time_ns()
        self.published: list[tuple[str, int, bool]] = []  # (sender, epoch built at, accepted)

    def client(self, name: str) -> rine_mls.MlsClient:
        if name not in self.clients:
            seed = hashlib.sha256(b"invitekit-test/" + name.encode() + os.urandom(8)).digest()
            self.clients[name] = rine_mls.MlsClient(str(self.root / name), seed, SUITE)
        return self.clients[name]

    def create(self, admin: str = "admin") -> rine_mls.MlsGroup:
        group = self.client(admin).create_group(os.urandom(16))
        self.members[admin] = group
        self.epoch_started_at_ns = time.time_ns()
        return group

    @property
    def policy(self) -> ExternalCommitPolicy:
        """The policy in force at the current epoch."""
        return self._policies[-1][1]

    @policy.setter
    def policy(self, value: ExternalCommitPolicy) -> None:
        """Set the policy from the current epoch on (the creator's initial setup)."""
        self._policies.append((self.epoch, value))

    def policy_at(self, epoch: int) -> ExternalCommitPolicy:
        """The policy the group state carried at ``epoch``."""
        found = self._policies[0][1]
        for start, policy in self._policies:
            if start <= epoch:
                found = policy
        return found

    def change_policy(self, policy: ExternalCommitPolicy, member: str = "admin") -> int:
        """An AppDataUpdate(EXTERNAL_COMMIT_POLICY) analogue: a commit, then the new policy."""
        epoch = self.ordinary_commit(member)
        self._policies.append((epoch, policy))
        return epoch

    @property
    def epoch(self) -> int:
        return next(iter(self.members.values())).epoch()

    def group_info(self, member: str = "admin") -> bytes:
        return self.members[member].group_info()

    def publish(self, commit: bytes, sender: str, built_at: int) -> bool:
        """Deliver ``commit`` to every member but ``sender``; False if they refuse it."""
        receivers = [g for name, g in self.members.items() if name != sender]
        try:
            for group in receivers:
                group.apply_commit(commit)
        except rine_mls.RineMlsError:
            self.published.append((sender, built_at, False))
            return False
        self.published.append((sender, built_at, True))
        self.epoch_started_at_ns = time.time_ns()
        return True

    def ordinary_commit(self, member: str = "admin") -> int:
        """An ordinary epoch-advancing commit: ``member`` adds a fresh throwaway member."""
        kp = self.client(f"extra-{len(self.clients)}").generate_key_package()
        group = self.members[member]
        built_at = group.epoch()
        bundle = group.add_member(kp)
        assert self.publish(bundle.commit, member, built_at)
        return bundle.epoch

    def provider(self) -> Callable[[GroupInfoView], ExternalCommitPolicy | None]:
        """The policy provider a rine-based app passes to the join flow."""
        return lambda view: self.policy_at(view.epoch)

    def joiner(self, name: str, after_publish: Callable[[], object] | None = None) -> CommitFn:
        """The caller-supplied "build and publish the external commit" function.

        ``after_publish`` runs once the commit merged (e.g. a racing rotation commit),
        before the joiner reads back its state.
        """

        async def commit(survivor: CommitRequest) -> CommitReport:
            group = self.client(name).join_by_external_commit(survivor.group_info)
            bundle = group.last_commit()
            assert bundle is not None
            if not self.publish(bundle.commit, name, survivor.epoch):
                return CommitRejected("epoch-conflict")
            self.members[name] = group
            started = self.epoch_started_at_ns
            if after_publish is not None:
                after_publish()
                started = self.epoch_started_at_ns
            return CommitAccepted(group.group_info(), started, self.policy_at(group.epoch()))

        return commit

"""``invitekit demo``: the whole invite lifecycle with a real MLS group, step by step.

Needs a real MLS implementation, the ``rine-mls`` wheel (``pip install 'invitekit[mls]'``),
and a blob service: ``--service`` names a running one, else the real service application is
started in this process on a temporary SQLite file (``invitekit[service]``).

What is real: the MLS group, its commits, Welcomes and external commits (rine-mls), the
GroupInfos, the sealed blobs, the service, the link and the QR code, the join flow
(``join_invite``) and the refresh roles. What is simulated, and said so in the output:

* the **delivery service** is an in-memory ordered log that accepts a commit only when it
  was built on the current epoch (the CAS every MLS delivery service applies); members
  apply queued commits when they come back online;
* the **policy in the group**: XIP-82 carries EXTERNAL_COMMIT_POLICY in the GroupContext's
  ``app_data_dictionary`` (written by an AppDataUpdate commit). rine-mls cannot put custom
  GroupContext extensions into a group, so the demo keeps the policy beside the group and
  hands it to the join flow as its ``policy_provider`` — what an app on a plain MLS stack
  does. ``max_uses`` stays 0 (unlimited): counting uses needs XMTP's GROUP_MEMBERSHIP
  component, which rine groups do not carry either;
* the **commit**: rine-mls builds a plain RFC 9420 external commit, without the XIP's
  AppDataUpdate. The demo says so, shows invitekit's own validator's verdict on that commit
  (a rejection), and shows the joiner's membership proposal invitekit builds for it
  (:mod:`invitekit.commit_pieces`), handed to the commit callback by the join flow.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer

from .. import qr
from ..client import FetchPolicy, InviteClient
from ..commit_pieces import Joiner
from ..commit_validation import Verdict, validate_commit
from ..drivers import backstop_refresh, check_invite, committer_refresh, join_invite
from ..join import Joined, ReadyToCommit
from ..link import make_link
from ..needs import CommitAccepted, CommitRejected, CommitReport, CommitRequest
from ..policy import ExternalCommitPolicy, enable
from ..refresh.roles import BOTH_KINDS
from . import render
from .errors import cli_errors, fail
from .io import emit_json
from .options import JsonOpt, LoopbackOpt
from .render import describe_outcome, short_id
from .services import check_urls, make_resolver, service_pointer
from .validate_cmd import verdict_json

HOUR_NS = 3600 * 10**9
KINDS = BOTH_KINDS
SIMULATED = render.DEMO_SIMULATED


class DemoFailed(Exception):
    """A lifecycle step did not go as XIP-82 says it should."""


@dataclass
class Delivery:
    """The simulated delivery service: an ordered commit log with an epoch CAS."""

    epoch: int
    started_at_ns: int = field(default_factory=time.time_ns)
    log: list[tuple[str, bytes]] = field(default_factory=list)

    def publish(self, sender: str, commit: bytes, built_at: int) -> bool:
        """Accept a commit built on the current epoch; anything else loses the race."""
        if built_at != self.epoch:
            return False
        self.log.append((sender, commit))
        self.epoch += 1
        self.started_at_ns = time.time_ns()
        return True


class Group:
    """Real rine-mls members of one group, the delivery log, and the group's policy."""

    def __init__(self, root: Path) -> None:
        import rine_mls  # noqa: PLC0415 - the mls extra is optional

        self._rine = rine_mls
        self.root = root
        self.members: dict[str, Any] = {}
        self.applied: dict[str, int] = {}
        self.delivery = Delivery(0)
        self.policy = ExternalCommitPolicy()
        #: What invitekit's validator said of each joiner's (plain RFC 9420) commit, and
        #: the membership proposal the join flow handed each joiner's callback.
        self.verdicts: dict[str, Verdict] = {}
        self.pieces: dict[str, bytes | None] = {}

    def _client(self, name: str) -> Any:
        seed = hashlib.sha256(b"invitekit-demo/" + name.encode() + os.urandom(16)).digest()
        return self._rine.MlsClient(
            str(self.root / name), seed, self._rine.CIPHER_SUITE_CLASSICAL
        )

    def found(self, founder: str, others: list[str]) -> int:
        """``founder`` creates the group and adds ``others`` in one commit (Welcomes)."""
        group = self._client(founder).create_group(os.urandom(16))
        clients = {name: self._client(name) for name in others}
        bundle = group.add_members([c.generate_key_package() for c in clients.values()])
        self.members[founder] = group
        for (name, client), welcome in zip(clients.items(), bundle.welcomes, strict=True):
            self.members[name] = client.join_from_welcome(welcome)
        self.delivery = Delivery(int(group.epoch()))
        self.applied = dict.fromkeys(self.members, 0)
        return self.delivery.epoch

    def catch_up(self, name: str) -> int:
        """Member ``name`` comes online and applies every commit it has not seen."""
        group = self.members[name]
        for sender, commit in self.delivery.log[self.applied[name]:]:
            if sender != name:
                group.apply_commit(commit)
        self.applied[name] = len(self.delivery.log)
        return int(group.epoch())

    def add_member(self, adder: str, newcomer: str) -> int:
        """An ordinary membership commit by ``adder`` (a new member by Welcome)."""
        self.catch_up(adder)
        group = self.members[adder]
        client = self._client(newcomer)
        built_at = int(group.epoch())
        bundle = group.add_members([client.generate_key_package()])
        if not self.delivery.publish(adder, bundle.commit, built_at):
            raise DemoFailed(render.DEMO_ORDINARY_COMMIT_REFUSED)
        self.applied[adder] = len(self.delivery.log)
        self.members[newcomer] = client.join_from_welcome(bundle.welcomes[0])
        self.applied[newcomer] = len(self.delivery.log)
        return self.delivery.epoch

    def group_info(self, name: str) -> bytes:
        return bytes(self.members[name].group_info())

    def joiner(self, name: str) -> Callable[[CommitRequest], Awaitable[CommitReport]]:
        """The app's "build and publish the external commit" callback for ``name``."""

        async def commit(request: CommitRequest) -> CommitReport:
            self.pieces[name] = request.membership_update
            joined = self._client(name).join_by_external_commit(request.group_info)
            bundle = joined.last_commit()
            if bundle is None:
                return CommitRejected("no-commit")
            self.verdicts[name] = validate_commit(
                bytes(bundle.commit),
                request.survivor.view,
                envelope_ns=time.time_ns(),
                epoch_start_ns=self.delivery.started_at_ns,
            )
            if not self.delivery.publish(name, bundle.commit, request.epoch):
                return CommitRejected("epoch-conflict")
            self.members[name] = joined
            self.applied[name] = len(self.delivery.log)
            return CommitAccepted(
                bytes(joined.group_info()), self.delivery.started_at_ns, self.policy
            )

        return commit


def demo_joiner(name: str) -> Joiner:
    """A stand-in XMTP identity for a demo joiner: a name-derived inbox id, sequence id 1."""
    return Joiner(hashlib.sha256(b"invitekit-demo/inbox/" + name.encode()).digest(), 1)


class Steps:
    """Numbered, printed steps (or collected for ``--json``)."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.items: list[dict[str, Any]] = []

    def __call__(self, text: str, **data: Any) -> None:
        self.items.append({"step": len(self.items) + 1, "text": text, **data})
        if not self.as_json:
            print(f"[{len(self.items)}] {text}", flush=True)


def verdict_step(steps: Steps, group: Group, name: str) -> None:
    """Step: what invitekit's validator said of ``name``'s plain RFC 9420 commit, and
    whether the join flow handed its callback the membership proposal."""
    verdict = group.verdicts[name]
    steps(render.demo_commit_verdict(name, verdict), plain_rfc9420=True,
          verdict=verdict_json(verdict),
          membership_update_handed_to_callback=group.pieces[name] is not None)


async def run_demo(
    steps: Steps, root: Path, members: int, service: str | None, loopback: bool, qr_out: Path
) -> None:
    """The lifecycle; raises on any step that does not go as the XIP says it should."""
    group = Group(root)
    names = ["admin", *[f"member{i}" for i in range(1, members)]]
    epoch = group.found(names[0], names[1:])
    steps(render.demo_founded(members, epoch), epoch=epoch, members=names)

    from ..client.inprocess import InProcessTransport  # noqa: PLC0415

    transport = InProcessTransport() if service is None else None
    if transport is not None:
        url = transport.add_service("demo", f"sqlite:///{root / 'service.sqlite3'}",
                                    rate_limits_enabled=False, access_log=False)
        where = render.DEMO_IN_PROCESS_SERVICE
    else:
        url = str(service)
        where = render.demo_service_at(url)
    pointer = service_pointer(url, loopback)
    group.policy = enable(expire_in_ns=HOUR_NS)
    fingerprint = short_id(group.policy.external_group_id)
    steps(render.demo_enabled(fingerprint), simulated=SIMULATED, fingerprint=fingerprint)

    policy = FetchPolicy(allow_insecure_loopback=loopback)
    async with InviteClient(policy, transport=transport) as client:
        first = await committer_refresh(client, group.group_info("admin"), group.policy,
                                        group.delivery.started_at_ns, first_services=[url],
                                        kinds=KINDS)
        if first.uploaded == 0:
            raise DemoFailed(render.demo_first_upload_refused(first.to_json()))
        steps(render.demo_sealed(first.epoch, where, first.uploaded), epoch=first.epoch)

        assert group.policy.symmetric_key is not None
        link = make_link(group.policy.invite(pointer), "https://example.org/i")
        code = qr.qr_for_link(link)
        qr.write_qr(code, qr_out)
        steps(render.demo_minted(qr.qr_version(code), qr_out), link=link, qr=str(qr_out))

        resolver = make_resolver((), loopback)
        steps(render.DEMO_OFFLINE)
        ready = await check_invite(link, client=client, resolver=resolver,
                                   policy_provider=lambda _view: group.policy,
                                   joiner=demo_joiner("dana"))
        if not isinstance(ready, ReadyToCommit) or ready.membership_update is None:
            raise DemoFailed(describe_outcome(ready))
        steps(render.demo_scanned(ready), epoch=ready.epoch)
        steps(render.demo_pieces("dana", ready.membership_update),
              membership_update=ready.membership_update.hex())
        joined = await join_invite(link, group.joiner("dana"), client=client, resolver=resolver,
                                   policy_provider=lambda _view: group.policy,
                                   joiner=demo_joiner("dana"))
        if not isinstance(joined, Joined):
            raise DemoFailed(describe_outcome(joined))
        steps(render.demo_joined_offline(joined), epoch=joined.epoch, refreshed=joined.refreshed)
        verdict_step(steps, group, "dana")

        epochs = {name: group.catch_up(name) for name in names}
        steps(render.demo_caught_up(epochs), epochs=epochs)

        epoch = group.add_member("member1" if members > 1 else "admin", "erin")
        committer = "member1" if members > 1 else "admin"
        refreshed = await committer_refresh(client, group.group_info(committer), group.policy,
                                            group.delivery.started_at_ns, first_services=[url],
                                            kinds=KINDS)
        steps(render.demo_committer_refreshed(committer, epoch, refreshed.uploaded),
              epoch=epoch, uploaded=refreshed.uploaded)
        group.catch_up("admin")

        async def no_jitter(_seconds: float) -> None:
            return None

        backstop = await backstop_refresh(client, group.group_info("admin"), group.policy,
                                          group.delivery.started_at_ns, first_services=[url],
                                          kinds=KINDS, sleep=no_jitter)
        actions = sorted({str(t.action) for t in backstop.targets})
        steps(render.demo_backstop(actions), actions=actions)

        second = await join_invite(link, group.joiner("frank"), client=client,
                                   resolver=resolver, policy_provider=lambda _view: group.policy,
                                   joiner=demo_joiner("frank"))
        if not isinstance(second, Joined):
            raise DemoFailed(describe_outcome(second))
        steps(render.demo_second_joined(second), epoch=second.epoch)
        verdict_step(steps, group, "frank")

        final = {name: group.catch_up(name) for name in group.members}
        if len(set(final.values())) != 1:
            raise DemoFailed(render.demo_epochs_disagree(final))
        steps(render.demo_converged(second.epoch, sorted(final)),
              epoch=second.epoch, members=sorted(final))
    if transport is not None:
        await transport.aclose()


@cli_errors
def demo_cmd(
    members: Annotated[int, typer.Option("--members", "-n", help="Founding members (1-50).")] = 3,
    service: Annotated[
        str | None,
        typer.Option("--service", "-s",
                     help="A running blob service's API root (default: one in this process)."),
    ] = None,
    qr_out: Annotated[
        Path | None, typer.Option("--qr", help="Where to write the QR code (.png or .svg).")
    ] = None,
    loopback: LoopbackOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Run the whole invite lifecycle with a real MLS group and print each step.

    A group of N members turns the invite on, mints a QR code, a stranger joins with no
    member online, members refresh the slot, and a second stranger joins after an epoch
    change. Needs the rine-mls wheel (pip install 'invitekit[mls]').
    """
    if not 1 <= members <= 50:
        raise fail("usage", render.DEMO_MEMBERS_RANGE)
    check_urls([service] if service else [], loopback)
    try:
        import rine_mls  # noqa: PLC0415
    except ImportError:
        raise fail("missing-extra", render.DEMO_NEEDS_MLS) from None
    if service is None:
        try:
            import invitekit_service as _service  # noqa: F401, PLC0415
        except ImportError:
            raise fail("missing-extra", render.DEMO_NEEDS_SERVICE) from None
    steps = Steps(as_json)
    with tempfile.TemporaryDirectory(prefix="invitekit-demo-") as tmp:
        target = qr_out or Path(tmp) / "invite.png"
        try:
            asyncio.run(run_demo(steps, Path(tmp), members, service, loopback, target))
        except DemoFailed as exc:
            raise fail("demo-failed", str(exc)) from None
        except rine_mls.RineMlsError as exc:
            raise fail("mls-error", f"{type(exc).__name__}: {exc}") from None
        if as_json:
            emit_json({"steps": steps.items, "simulated": SIMULATED})


__all__ = ["Delivery", "DemoFailed", "Group", "Steps", "demo_cmd", "demo_joiner", "run_demo"]

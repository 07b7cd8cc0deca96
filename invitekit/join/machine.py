"""The XIP-82 join flow as one sans-IO machine (steps 1–10); ``join-check`` is steps 1–6.

:class:`JoinMachine` owns every transition. It asks its driver for exactly three kinds of
I/O, in this order, and decides everything else itself:

1. :class:`~invitekit.needs.FetchCandidates` — resolve the payload's service pointer and
   fetch the slot's candidates (steps 1–2); candidates listed by metadata only have their
   bodies fetched one at a time, in selection order (:class:`~invitekit.needs.FetchBody`,
   via :func:`~invitekit.needs.select_next`), so a join fetches what it selects;
2. :class:`~invitekit.needs.Commit` — build and publish the external commit from a
   verified GroupInfo that passed step 6 (steps 7–8); a
   :class:`~invitekit.needs.CommitRejected` answer falls through to the next survivor
   (step 5), at most ``max_commit_attempts`` times;
3. the committer refresh of step 10 (:class:`~invitekit.needs.ResolveTargets` for opaque
   refresh pointers, then one :class:`~invitekit.needs.Upload`), only when step 9's
   stale-QR check passes on the committed state's policy.

In :attr:`JoinMode.CHECK` the machine stops where it would ask for the commit and finishes
with :class:`ReadyToCommit`.

Given the ``joiner`` (its inbox id and sequence id), the machine builds the joiner's own
piece of the XIP's atomic commit once step 6 passes — the ``AppDataUpdate`` inserting its
``GROUP_MEMBERSHIP`` entry tagged with the invite's slot id
(:func:`invitekit.commit_pieces.joiner_membership_update`) — and hands it on: in the
:class:`~invitekit.needs.Commit` need (the driver passes it to the application's commit
callback) and in :class:`ReadyToCommit`.

**The clock rule** (one for join and check alike): the driver reads its clock once, when
it builds the machine; every time comparison of the flow — blob expiry (step 3.2), the
GroupInfo's open, the policy's ``expires_at_ns`` (step 6) — uses
:func:`check_instant` ``= now_ns + options.expiry_margin_ns``. The margin (default 0) lets
a joiner whose clock may lag the delivery service treat bounds as reached early (the XIP's
"MAY subtract a small margin" — adding to ``now`` is the same thing).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

from ..commit_pieces import Joiner, joiner_membership_update
from ..engine import Machine, Steps, ask
from ..envelope import envelope_of
from ..errors import InvalidSetting
from ..groupinfo_policy import (
    MembershipTags,
    PolicyProvider,
    PolicyRead,
    group_membership_tags,
    read_policy,
)
from ..mls import GroupInfoView, VerifyLevel, parse_group_info
from ..needs import Commit, CommitRejected, FetchCandidates, select_next
from ..payload import InvitePayload
from ..policy import ExternalCommitPolicy
from ..precommit import PrecommitVerdict, no_policy_verdict, precommit_check, stale_qr
from ..protocol import SlotKind
from ..refresh.machine import committer_steps
from ..refresh.reports import SkipReason
from ..selection import DEFAULT_MAX_BLOB_BYTES, DEFAULT_MAX_CANDIDATES, Selection
from ..sources import RandomBytes, os_random_bytes
from .outcomes import (
    Joined,
    JoinOutcome,
    PrecommitAborted,
    ReadyToCommit,
    no_survivor_outcome,
)


class JoinMode(enum.StrEnum):
    """How far the machine goes."""

    JOIN = "join"  # steps 1–10
    CHECK = "check"  # steps 1–6: stop before the commit


@dataclass(frozen=True, slots=True)
class JoinOptions:
    """Knobs of the join flow; the defaults follow the XIP's recommendations."""

    level: VerifyLevel = VerifyLevel.TREE
    #: Candidates processed per (service, kind) fetch.
    max_candidates: int = DEFAULT_MAX_CANDIDATES
    max_blob_bytes: int = DEFAULT_MAX_BLOB_BYTES
    #: Added to ``now_ns`` for every time comparison (see the clock rule).
    expiry_margin_ns: int = 0
    #: Read both kinds and select over the union; write both (the open slot is the robust
    #: path, the lane the fast one an invite holder can wedge).
    fetch_kinds: tuple[SlotKind, ...] = (SlotKind.LANE, SlotKind.OPEN)
    upload_kinds: tuple[SlotKind, ...] = (SlotKind.LANE, SlotKind.OPEN)
    accept_epoch_authenticator_digest: bool = False
    #: Upper bound on commits tried before giving up (each one is published).
    max_commit_attempts: int = 8

    def __post_init__(self) -> None:
        if min(self.max_candidates, self.max_blob_bytes, self.max_commit_attempts) < 1:
            raise InvalidSetting("join caps must be at least 1")
        if self.expiry_margin_ns < 0:
            raise InvalidSetting("expiry_margin_ns must be non-negative")


def check_instant(now_ns: int, options: JoinOptions) -> int:
    """The one instant every time comparison of a join or a check uses."""
    return now_ns + options.expiry_margin_ns


class JoinMachine(Machine[JoinOutcome]):
    """XIP-82 join (or ``join-check``) for one payload; see the module docstring.

    ``policy_provider`` supplies the policy of GroupInfos without AppData;
    ``membership_tags`` reads a GroupInfo's GROUP_MEMBERSHIP tags for the ``max_uses``
    count; ``random_bytes`` draws the refreshed blob's nonce; ``joiner`` (inbox id and
    sequence id), when given, makes the machine build the joiner's membership proposal.
    The step-10 refresh seals in the envelope of the blob the joiner joined from (the
    version the group chose).
    """

    def __init__(
        self,
        payload: InvitePayload,
        now_ns: int,
        *,
        mode: JoinMode = JoinMode.JOIN,
        options: JoinOptions = JoinOptions(),
        policy_provider: PolicyProvider | None = None,
        membership_tags: MembershipTags | None = None,
        random_bytes: RandomBytes = os_random_bytes,
        joiner: Joiner | None = None,
    ) -> None:
        self.payload = payload
        self.membership_update = (
            None
            if joiner is None
            else joiner_membership_update(joiner.inbox_id, joiner.sequence_id, payload)
        )
        self.mode = mode
        self.options = options
        self.at_ns = check_instant(now_ns, options)
        self._provider = policy_provider
        self._tags = membership_tags
        self._random_bytes = random_bytes
        self.selection: Selection | None = None
        super().__init__(self._run())

    def _run(self) -> Steps[JoinOutcome]:
        payload, options = self.payload, self.options
        fetched = yield from ask(
            FetchCandidates(
                payload.service_pointer,
                payload.external_group_id,
                payload.symmetric_key,
                options.fetch_kinds,
                options.max_candidates,
                options.max_blob_bytes,
            )
        )
        # steps 3.1-3.3, then 3.4-3.5 and 5 lazily; the candidate cap is per (service, kind)
        # fetch, and bodies listed by metadata are fetched when the selection reaches them
        selection = self.selection = Selection.over(
            payload,
            fetched.candidates,
            self.at_ns,
            listed=fetched.listed,
            max_candidates=options.max_candidates * max(1, fetched.fetches),
            max_blob_bytes=options.max_blob_bytes,
            level=options.level,
            accept_epoch_authenticator_digest=options.accept_epoch_authenticator_digest,
        )
        while True:
            survivor = yield from select_next(selection)
            if survivor is None or selection.attempts >= options.max_commit_attempts:
                return no_survivor_outcome(
                    selection.seen, selection.discarded, selection.attempts, fetched.errors
                )
            read = read_policy(survivor.view, self._provider)
            verdict = self._precommit(read, survivor.view)
            if not verdict.ok:
                return _aborted(verdict, read, survivor.view)
            if self.mode is JoinMode.CHECK:
                return ReadyToCommit(
                    survivor=survivor,
                    policy_source=read.source,
                    discarded=tuple(selection.discarded),
                    max_uses=verdict.max_uses,
                    uses=verdict.uses,
                    membership_update=self.membership_update,
                )
            report = yield from ask(Commit(survivor, self.membership_update))
            if isinstance(report, CommitRejected):
                selection.reject(survivor, report.reason)
                continue
            break
        # step 9 on the committed state, then step 10
        view = parse_group_info(report.group_info)
        new_policy: ExternalCommitPolicy | None = report.policy
        read = read_policy(view, lambda _view: new_policy)
        if read.policy is None:
            read = read_policy(view, self._provider)
        joined = Joined(
            epoch=view.epoch,
            attempts=selection.attempts + 1,
            policy_source=read.source,
            discarded=tuple(selection.discarded),
        )
        if read.policy is None:
            return replace(joined, refresh_skipped=SkipReason.NO_POLICY)
        check = stale_qr(read.policy, payload)
        if not check.ok:
            return replace(joined, refresh_skipped=SkipReason.STALE_QR, stale_check=check)
        refresh = yield from committer_steps(
            report.group_info,
            read.policy,
            report.epoch_started_at_ns,
            first_services=fetched.services,
            kinds=options.upload_kinds,
            random_bytes=self._random_bytes,
            envelope=envelope_of(survivor.opened.blob),  # the envelope the group chose
        )
        return replace(joined, refresh=refresh.uploads, stale_check=check)

    def _precommit(self, read: PolicyRead, view: GroupInfoView) -> PrecommitVerdict:
        """Step 6 against the selected GroupInfo's policy; no policy known is a refusal."""
        if read.policy is None:
            return no_policy_verdict(self.payload)
        tags = group_membership_tags(view, self._tags)
        return precommit_check(read.policy, self.payload, self.at_ns, tags)


def _aborted(verdict: PrecommitVerdict, read: PolicyRead, view: GroupInfoView) -> PrecommitAborted:
    """The outcome of a failed step 6, with the data behind its code."""
    assert verdict.code is not None
    policy = read.policy
    return PrecommitAborted(
        code=verdict.code,
        epoch=view.epoch,
        expires_at_ns=policy.expires_at_ns if policy is not None else 0,
        max_uses=verdict.max_uses,
        uses=verdict.uses,
        group_id_matches=verdict.stale.group_id_matches,
        key_matches=verdict.stale.key_matches,
        policy_source=read.source,
    )


__all__ = ["JoinMachine", "JoinMode", "JoinOptions", "check_instant"]

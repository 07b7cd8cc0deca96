"""The refresh roles' pure decisions: the member's own pair, the targets, its own blob,
the backstop's and the deep check's verdicts, and lane-wedge detection."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ..engine import Steps
from ..envelope import Envelope, SealedBlob, parse_envelope
from ..errors import FlowStateError, InviteKitError
from ..mls import DEFAULT_OPTIONS, ParseOptions, VerifyLevel, parse_group_info
from ..needs import UploadOutcome, select_next
from ..payload import InvitePayload
from ..pointer import HttpsPointer, ServicePointer, pointer_label, service_identity
from ..policy import ExternalCommitPolicy, active_invite
from ..protocol import SlotKind
from ..sealing import seal_group_info
from ..selection import Candidate, Discarded, Listed, Selection
from ..sources import RandomBytes, os_random_bytes

#: Candidates a deep check validates per (service, kind).
DEEP_CHECK_MAX_CANDIDATES = 64
#: Lane refusals of the member's own current state: the head is not a state it can reach.
_WEDGE_REFUSALS = frozenset({"stale", "fork"})


class BackstopAction(enum.StrEnum):
    """What a backstop member does for one target after its existence query."""

    STAND_DOWN = "stand-down"
    UPLOAD = "upload"


class DeepAction(enum.StrEnum):
    """Deep-check verdict for one slot."""

    HEALTHY = "healthy"
    REUPLOAD = "reupload"


@dataclass(frozen=True, slots=True)
class MemberState:
    """A member's own current group state, computed locally (no fetch)."""

    group_info: bytes = field(repr=False)
    epoch: int
    digest: bytes

    @property
    def pair(self) -> tuple[int, bytes]:
        """The ``(epoch, group_state_hash)`` pair the existence query asks about."""
        return (self.epoch, self.digest)


def member_state(group_info: bytes, options: ParseOptions = DEFAULT_OPTIONS) -> MemberState:
    """Parse the member's own GroupInfo (trusted: it is the member's state) for its pair."""
    view = parse_group_info(group_info, options)
    return MemberState(bytes(group_info), view.epoch, view.digest)


def refresh_targets(
    policy: ExternalCommitPolicy, first: Iterable[ServicePointer] = ()
) -> tuple[ServicePointer, ...]:
    """``first`` (e.g. the slot a joiner scanned), then every refresh pointer, de-duplicated.

    URL pointers are the same target under :func:`invitekit.pointer.service_identity`.
    """
    out: dict[str, ServicePointer] = {}
    for pointer in (*first, *policy.refresh_pointers):
        label = pointer_label(pointer)
        if isinstance(pointer, HttpsPointer):
            label = service_identity(label)
        out.setdefault(label, pointer)
    return tuple(out.values())


def mint_blob(
    group_info: bytes,
    policy: ExternalCommitPolicy,
    epoch_started_at_ns: int,
    *,
    random_bytes: RandomBytes = os_random_bytes,
    verify: VerifyLevel = VerifyLevel.TREE,
    envelope: Envelope = Envelope.V1,
) -> SealedBlob:
    """Seal the member's own GroupInfo under the policy key with the effective expiry."""
    return seal_group_info(
        group_info, policy, epoch_started_at_ns, random_bytes=random_bytes, verify=verify,
        envelope=envelope,
    )


def backstop_decision(present: bool) -> BackstopAction:
    """Present pair → stand down (a member already produced it); absent → upload own blob."""
    return BackstopAction.STAND_DOWN if present else BackstopAction.UPLOAD


@dataclass(frozen=True)
class DeepCheck:
    """Deep-check result: whether a valid candidate at the member's pair is retained.

    ``highest_claimed_epoch``: the highest epoch any candidate *advertises* (None: no
    readable candidate) — above the member's own epoch, a lane's head is out of reach.
    """

    action: DeepAction
    valid_at_current: bool
    newest_valid_epoch: int | None
    discarded: tuple[Discarded, ...]
    highest_claimed_epoch: int | None = None


def lane_wedged(result: UploadOutcome) -> bool:
    """True when a lane refused the member's own current state as ``stale`` or ``fork``.

    The member uploads the state it holds now, so the lane head is either ahead of it or a
    different state at its epoch: junk, forged metadata, or a fork no member produced.
    """
    return result.kind is SlotKind.LANE and not result.ok and result.outcome in _WEDGE_REFUSALS


def claimed_epochs(candidates: Sequence[Candidate], listed: Sequence[Listed] = ()) -> list[int]:
    """The epochs candidates advertise (unreadable envelopes skipped; listed entries by
    their listing's claim)."""
    out: list[int] = [item.epoch for item in listed]
    for candidate in candidates:
        try:
            out.append(parse_envelope(candidate.raw).blob.epoch)
        except InviteKitError:
            continue
    return out


def deep_check_steps(
    candidates: Sequence[Candidate],
    policy: ExternalCommitPolicy,
    state: MemberState,
    now_ns: int,
    *,
    listed: Sequence[Listed] = (),
    level: VerifyLevel = VerifyLevel.TREE,
    max_candidates: int = DEEP_CHECK_MAX_CANDIDATES,
) -> Steps[DeepCheck]:
    """Validate ``candidates`` (and ``listed`` ones, fetching each body in selection order
    when its turn comes, as a joiner would); HEALTHY iff one is valid at ``state.pair``.

    Validation stops at the first match, or once the order drops below the member's epoch.
    """
    invite = active_invite(policy, "check the slot")
    payload = InvitePayload(invite.external_group_id, invite.symmetric_key)
    selection = Selection.over(
        payload, candidates, now_ns, listed=listed, max_candidates=max_candidates, level=level
    )
    found = False
    newest: int | None = None
    while (survivor := (yield from select_next(selection))) is not None:
        if newest is None:
            newest = survivor.epoch
        if survivor.epoch < state.epoch:
            break
        if survivor.epoch == state.epoch and survivor.digest == state.digest:
            found = True
            break
        selection.abandon()
    action = DeepAction.HEALTHY if found else DeepAction.REUPLOAD
    claimed = claimed_epochs(candidates, listed)
    return DeepCheck(
        action, found, newest, tuple(selection.discarded), max(claimed) if claimed else None
    )


def deep_check_decision(
    candidates: Sequence[Candidate],
    policy: ExternalCommitPolicy,
    state: MemberState,
    now_ns: int,
    *,
    level: VerifyLevel = VerifyLevel.TREE,
    max_candidates: int = DEEP_CHECK_MAX_CANDIDATES,
) -> DeepCheck:
    """:func:`deep_check_steps` over candidates whose bodies are all in hand."""
    steps = deep_check_steps(
        candidates, policy, state, now_ns, level=level, max_candidates=max_candidates
    )
    try:
        need = next(steps)
    except StopIteration as done:
        result: DeepCheck = done.value
        return result
    raise FlowStateError(f"a deep check over bodies in hand asked for {type(need).__name__}")


__all__ = [
    "DEEP_CHECK_MAX_CANDIDATES",
    "BackstopAction",
    "DeepAction",
    "DeepCheck",
    "MemberState",
    "backstop_decision",
    "claimed_epochs",
    "deep_check_decision",
    "deep_check_steps",
    "lane_wedged",
    "member_state",
    "mint_blob",
    "refresh_targets",
]

"""Keeping the blob fresh (XIP-82 "Keeping the blob fresh"), sans-IO decisions.

Three member roles, cheapest and most frequent first:

* **committer** — the member whose commit merged (a joiner, after its own external
  commit) seals its own new GroupInfo and uploads to every target at once: no jitter, no
  fetch (:func:`committer_plan`);
* **backstop** — any other member, on a slow trigger: compute its own
  ``(epoch, group_state_hash)`` locally, existence-check each target, stand down when the
  pair is present, otherwise seal its own state and upload (:func:`backstop_decision`).
  Start times are jittered and retries are bounded with capped exponential backoff, both
  drawn from an injected RNG (:class:`Backoff`), so a crowd of members never storms a
  service;
* **deep check** — rarely: fetch the candidates, validate them exactly as a joiner would,
  and re-upload when none is valid at the member's current pair
  (:func:`deep_check_decision`).

Invariant: every blob a member uploads is sealed from that member's *own* GroupInfo
(never a peer's ciphertext), under the policy's key, with the policy's effective expiry.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from .blob import EncryptedBlob, NonceSource
from .errors import PolicyNotEnabled
from .join import Candidate, Discarded, Selection, triage
from .mls import DEFAULT_OPTIONS, ParseOptions, VerifyLevel, parse_group_info
from .mls.sealing import seal_group_info
from .payload import InvitePayload
from .pointer import HttpsPointer, OpaquePointer, ServicePointer
from .policy import ExternalCommitPolicy

#: A source of uniform floats in [0, 1), e.g. ``random.Random(seed).random``.
UnitRng = Callable[[], float]


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


def pointer_key(pointer: ServicePointer) -> str:
    """A stable label for a pointer: the URL, or ``opaque:<hex>``."""
    if isinstance(pointer, HttpsPointer):
        return pointer.url
    return "opaque:" + pointer.data.hex()


def refresh_targets(
    policy: ExternalCommitPolicy, first: Iterable[ServicePointer] = ()
) -> tuple[ServicePointer, ...]:
    """``first`` (e.g. the slot a joiner scanned), then every refresh pointer, de-duplicated.

    URL pointers are compared after stripping one trailing ``/``.
    """
    out: list[ServicePointer] = []
    seen: set[str] = set()
    for pointer in (*first, *policy.refresh_pointers):
        label = pointer_key(pointer)
        if isinstance(pointer, HttpsPointer):
            label = label.rstrip("/")
        if label not in seen:
            seen.add(label)
            out.append(pointer)
    return tuple(out)


def mint_blob(
    group_info: bytes,
    policy: ExternalCommitPolicy,
    epoch_started_at_ns: int,
    *,
    nonce_source: NonceSource | None = None,
    verify: VerifyLevel = VerifyLevel.TREE,
) -> EncryptedBlob:
    """Seal the member's own GroupInfo under the policy key with the effective expiry."""
    return seal_group_info(group_info, policy, epoch_started_at_ns, rng=nonce_source, verify=verify)


@dataclass(frozen=True)
class RefreshPlan:
    """One fresh blob and every slot it goes to (same bytes everywhere)."""

    blob: EncryptedBlob
    external_group_id: bytes
    targets: tuple[ServicePointer, ...]


def committer_plan(
    group_info: bytes,
    policy: ExternalCommitPolicy,
    epoch_started_at_ns: int,
    *,
    first: Iterable[ServicePointer] = (),
    nonce_source: NonceSource | None = None,
    verify: VerifyLevel = VerifyLevel.TREE,
) -> RefreshPlan:
    """Committer role: seal once, upload to every target immediately."""
    if not policy.allow_external_commit:
        raise PolicyNotEnabled("no active invite: nothing to refresh")
    blob = mint_blob(
        group_info, policy, epoch_started_at_ns, nonce_source=nonce_source, verify=verify
    )
    return RefreshPlan(blob, policy.external_group_id, refresh_targets(policy, first))


class BackstopAction(enum.StrEnum):
    """What a backstop member does for one target after its existence query."""

    STAND_DOWN = "stand-down"
    UPLOAD = "upload"


def backstop_decision(present: bool) -> BackstopAction:
    """Present pair → stand down (a member already produced it); absent → upload own blob."""
    return BackstopAction.STAND_DOWN if present else BackstopAction.UPLOAD


@dataclass(frozen=True, slots=True)
class Backoff:
    """Jitter and bounded retries for background refresh I/O.

    * :meth:`initial_delay`: uniform in ``[0, jitter_s)`` — spreads members out;
    * :meth:`retry_delay`: "full jitter" — uniform in ``[0, min(cap_s, base_s·2^n))``;
    * at most ``attempts`` tries per target per pass (never unbounded).
    """

    attempts: int = 3
    base_s: float = 0.5
    cap_s: float = 30.0
    jitter_s: float = 10.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("Backoff.attempts must be at least 1")
        if min(self.base_s, self.cap_s, self.jitter_s) < 0:
            raise ValueError("Backoff delays must be non-negative")

    def initial_delay(self, rng: UnitRng) -> float:
        """The jittered delay before a backstop pass starts."""
        return rng() * self.jitter_s

    def retry_delay(self, retry: int, rng: UnitRng) -> float:
        """The delay before retry number ``retry`` (0-based)."""
        return rng() * min(self.cap_s, self.base_s * (2.0**retry))

    def schedule(self, rng: UnitRng) -> list[float]:
        """The delays before each of the ``attempts`` tries (first is the initial jitter)."""
        return [self.initial_delay(rng)] + [
            self.retry_delay(n, rng) for n in range(self.attempts - 1)
        ]


def default_rng() -> UnitRng:
    """A non-cryptographic RNG for jitter (timing only; never for keys or nonces)."""
    return random.Random().random  # noqa: S311 - jitter, not secrecy


class DeepAction(enum.StrEnum):
    """Deep-check verdict for one slot."""

    HEALTHY = "healthy"
    REUPLOAD = "reupload"


@dataclass(frozen=True)
class DeepCheck:
    """Deep-check result: whether a valid candidate at the member's pair is retained."""

    action: DeepAction
    valid_at_current: bool
    newest_valid_epoch: int | None
    discarded: tuple[Discarded, ...]


def deep_check_decision(
    candidates: Sequence[Candidate],
    policy: ExternalCommitPolicy,
    state: MemberState,
    now_ns: int,
    *,
    level: VerifyLevel = VerifyLevel.TREE,
    max_candidates: int = 64,
) -> DeepCheck:
    """Validate ``candidates`` as a joiner would; HEALTHY iff one is valid at ``state.pair``.

    Validation stops at the first match, or once the order drops below the member's epoch.
    """
    if not policy.allow_external_commit or policy.symmetric_key is None:
        raise PolicyNotEnabled("no active invite: nothing to check")
    payload = InvitePayload(policy.external_group_id, policy.symmetric_key)
    sorted_set = triage(candidates, payload, now_ns, max_candidates=max_candidates)
    selection = Selection(payload, sorted_set, now_ns, level=level)
    found = False
    newest: int | None = None
    while (survivor := selection.next()) is not None:
        if newest is None:
            newest = survivor.epoch
        if survivor.epoch < state.epoch:
            break
        if survivor.epoch == state.epoch and survivor.digest == state.digest:
            found = True
            break
        selection.abandon()
    action = DeepAction.HEALTHY if found else DeepAction.REUPLOAD
    return DeepCheck(action, found, newest, tuple(selection.discarded))


__all__ = [
    "Backoff",
    "BackstopAction",
    "DeepAction",
    "DeepCheck",
    "MemberState",
    "OpaquePointer",
    "RefreshPlan",
    "UnitRng",
    "backstop_decision",
    "committer_plan",
    "deep_check_decision",
    "default_rng",
    "member_state",
    "mint_blob",
    "pointer_key",
    "refresh_targets",
]

"""What a refresh pass ends in, as data: per-target actions, the pass's report and
status, and the member-side counters over passes."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from ..needs import UploadOutcome
from ..protocol import SlotKind
from .roles import RefreshRole


class TargetAction(enum.StrEnum):
    """What a refresh pass did for one target."""

    UPLOADED = "uploaded"  # own blob uploaded and accepted everywhere it went
    STAND_DOWN = "stand-down"  # backstop: the member's pair is already present
    HEALTHY = "healthy"  # deep check: a copy at the member's pair opened and verified
    REUPLOADED = "reuploaded"  # deep check: none did; own blob uploaded and accepted
    LANE_WEDGED = "lane-wedged"  # the lane's head is not a state the member can reach
    ERROR = "error"  # the service could not be asked, or refused (``error``, ``uploads``)
    SKIPPED = "skipped"  # not attempted (see ``skipped``)


class RefreshStatus(enum.StrEnum):
    """The verdict of a whole pass (:attr:`RefreshReport.status`)."""

    OK = "ok"  # every attempted target holds the member's state
    DEGRADED = "degraded"  # some target holds it; another failed or has a wedged lane
    NOTHING_STORED = "nothing-stored"  # no target holds it: a failure


class SkipReason(enum.StrEnum):
    """Why a refresh (or a target of one) was not attempted."""

    NO_RESOLVER = "no-resolver"  # an opaque pointer nobody here can resolve
    STALE_QR = "stale-qr"  # join step 9: the committed state's invite is not the QR's
    NO_POLICY = "no-policy"  # no policy is known for the committed state


@dataclass(frozen=True, slots=True)
class TargetReport:
    """One refresh target (a service base URL, or a skipped pointer) after a pass.

    ``kind`` is the slot kind the action concerns (None when it covers every kind);
    ``error`` a client error code; ``skipped`` why nothing was attempted; ``verified``:
    the deep check opened and verified a retained copy at the member's pair.
    """

    service: str
    action: TargetAction
    kind: SlotKind | None = None
    uploads: tuple[UploadOutcome, ...] = ()
    error: str | None = None
    skipped: SkipReason | None = None
    verified: bool = False

    @property
    def stored(self) -> bool:
        """True when at least one upload to this target was accepted."""
        return any(u.ok for u in self.uploads)

    @property
    def holds(self) -> bool:
        """True when this target holds the member's state after the pass."""
        return self.stored or self.verified or self.action is TargetAction.STAND_DOWN

    def to_json(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "service": self.service,
            "action": str(self.action),
            "kind": str(self.kind) if self.kind else None,
            "uploads": [u.to_json() for u in self.uploads],
            "error": self.error,
            "skipped": str(self.skipped) if self.skipped else None,
            "verified": self.verified,
        }


@dataclass(frozen=True)
class RefreshReport:
    """The result of one refresh pass by one role."""

    role: RefreshRole
    epoch: int
    targets: tuple[TargetReport, ...]

    @property
    def uploads(self) -> tuple[UploadOutcome, ...]:
        """Every upload made in this pass."""
        return tuple(u for t in self.targets for u in t.uploads)

    @property
    def uploaded(self) -> int:
        """How many uploads succeeded (created, idempotent or coalesced)."""
        return sum(1 for u in self.uploads if u.ok)

    @property
    def lane_wedged(self) -> tuple[str, ...]:
        """The services whose lane is wedged (see :func:`lane_wedged`)."""
        return tuple(t.service for t in self.targets if t.action is TargetAction.LANE_WEDGED)

    @property
    def status(self) -> RefreshStatus:
        """NOTHING_STORED unless some target holds the member's state (skipped targets
        do not count); DEGRADED when another failed or a lane is wedged; else OK."""
        attempted = [t for t in self.targets if t.action is not TargetAction.SKIPPED]
        if not any(t.holds for t in attempted):
            return RefreshStatus.NOTHING_STORED
        if any(not t.holds or t.action is TargetAction.LANE_WEDGED for t in attempted):
            return RefreshStatus.DEGRADED
        return RefreshStatus.OK

    @property
    def ok(self) -> bool:
        """False when the pass left the member's state nowhere (a failure)."""
        return self.status is not RefreshStatus.NOTHING_STORED

    def to_json(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "role": str(self.role),
            "epoch": self.epoch,
            "status": str(self.status),
            "lane_wedged": list(self.lane_wedged),
            "targets": [t.to_json() for t in self.targets],
        }


@dataclass
class RefreshMetrics:
    """Member-side counters over refresh passes (feed them to any metrics system).

    ``passes[(role, status)]``, ``targets[(role, action, kind)]`` and ``lane_wedged``
    (targets whose lane head was out of the member's reach).
    """

    passes: dict[tuple[str, str], int] = field(default_factory=dict)
    targets: dict[tuple[str, str, str], int] = field(default_factory=dict)
    lane_wedged: int = 0

    def observe(self, report: RefreshReport) -> None:
        """Count one finished pass."""
        key = (str(report.role), str(report.status))
        self.passes[key] = self.passes.get(key, 0) + 1
        for target in report.targets:
            tkey = (str(report.role), str(target.action), str(target.kind or "all"))
            self.targets[tkey] = self.targets.get(tkey, 0) + 1
        self.lane_wedged += len(report.lane_wedged)


__all__ = [
    "RefreshMetrics",
    "RefreshReport",
    "RefreshStatus",
    "SkipReason",
    "TargetAction",
    "TargetReport",
]

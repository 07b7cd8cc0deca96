"""The history checker of the crash-durability run: pure functions over recorded requests.

Every request the clients made is one :class:`Attempt` (what was sent, when it started and
ended by the test's monotonic clock, and what came back, or ``None`` when the connection
died); every read of a slot is one :class:`Observation`. The checker proves, without
trusting the service's own bookkeeping:

* **durability** — an upload acknowledged (2xx) before a read started is in that read,
  unless FIFO retention may legitimately have evicted it: at least ``retention`` other
  distinct uploads (distinct five-field identities; on a lane, at its epoch or above) could
  have been stored after it. "Could have" is decided from the timestamps alone: an attempt
  whose answer was lost (killed mid-request) may or may not have been stored, so it counts
  as stored whenever that makes the check more lenient — never the other way.
* **lane order** — acknowledged creations on a lane have pairwise distinct epochs, a
  created receipt names the upload itself as the head, the head seen by reads never goes
  down in real time, one epoch always carries one group state, and after any restart the
  head is at least the highest epoch acknowledged before it;
* **coalescing** — no read ever shows two entries with the same five fields, and an upload
  answered ``coalesced`` repeats fields that an earlier attempt could have stored;
* **retention** — no read shows more than ``retention`` entries.

A violation is a :class:`Violation` with enough context to find the requests in the log.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass, field

LANE = "lane"
OPEN = "open"


@dataclass(frozen=True, slots=True)
class Attempt:
    """One upload: its slot, identities, timing and answer (``status`` None: no answer)."""

    slot: str  # an opaque slot key chosen by the test: kind + ids
    kind: str  # LANE or OPEN
    sha256: str
    fields: str  # hex digest over the five blob fields (the coalescing identity)
    epoch: int
    state: str  # group_state_hash (hex)
    start: float
    end: float
    status: int | None  # None: sent but no answer; 0: never connected
    outcome: str | None = None  # receipt outcome or problem code
    receipt_sha256: str | None = None
    head_epoch: int | None = None

    @property
    def acked(self) -> bool:
        """A 2xx: the service promised the upload is (or already was) stored."""
        return self.status is not None and 200 <= self.status < 300

    @property
    def maybe_stored(self) -> bool:
        """Could this attempt have created an entry? (201, or no definite answer.)"""
        return self.status == 201 or self.status is None or self.status >= 500


@dataclass(frozen=True, slots=True)
class Entry:
    """One listed candidate."""

    sha256: str
    fields: str
    epoch: int
    state: str


@dataclass(frozen=True, slots=True)
class Observation:
    """A successful read of one slot's whole retained set (``limit`` = retention)."""

    slot: str
    kind: str
    start: float
    end: float
    entries: tuple[Entry, ...]
    after_restart: bool = False


@dataclass(frozen=True, slots=True)
class Violation:
    """A broken promise."""

    rule: str
    slot: str
    detail: str


@dataclass
class Report:
    """What the checker looked at and what it found."""

    attempts: int = 0
    acked: int = 0
    unknown: int = 0
    refused: int = 0
    observations: int = 0
    checked_presences: int = 0
    server_errors: int = 0
    violations: list[Violation] = field(default_factory=list)

    @property
    def lost(self) -> int:
        """Acknowledged uploads missing from a read with no legitimate eviction."""
        return sum(1 for v in self.violations if v.rule == "durability")


def check(
    attempts: list[Attempt],
    observations: list[Observation],
    *,
    lane_retention: int,
    open_retention: int,
) -> Report:
    """Check every promise over a whole history (see module doc)."""
    report = Report(attempts=len(attempts), observations=len(observations))
    by_slot: dict[str, list[Attempt]] = defaultdict(list)
    for a in attempts:
        by_slot[a.slot].append(a)
        report.acked += a.acked
        report.unknown += a.status is None
        report.refused += a.status == 0
        report.server_errors += a.status is not None and a.status >= 500 and a.status != 503
    obs_by_slot: dict[str, list[Observation]] = defaultdict(list)
    for o in observations:
        obs_by_slot[o.slot].append(o)
    for slot in sorted(set(by_slot) | set(obs_by_slot)):
        mine, seen = by_slot.get(slot, []), obs_by_slot.get(slot, [])
        kind = (mine[0].kind if mine else seen[0].kind)
        retention = lane_retention if kind == LANE else open_retention
        _check_reads(slot, kind, retention, mine, seen, report)
        _check_receipts(slot, kind, mine, report)
        if kind == LANE:
            _check_lane_order(slot, mine, seen, report)
    return report


def identity(kind: str, fields: str, epoch: int, state: str) -> str:
    """What "this upload is retained" means, on both kinds: the five blob fields (an
    upload equal in all five is the same entry; one that shares only (epoch, state) is its
    own entry — whole-blob identity)."""
    return fields


def _check_reads(
    slot: str,
    kind: str,
    retention: int,
    attempts: list[Attempt],
    observations: list[Observation],
    report: Report,
) -> None:
    """Durability, retention and duplicate entries over every read of one slot.

    Reads are taken in order of their end; the attempts that could have been stored before
    a read ended (``start < read.end``) form a growing prefix of the attempts sorted by start.
    Open slot: an acknowledged upload older than the newest ``retention + 1`` distinct
    identities of that prefix is legitimately evictable (each of them began after it was
    answered). Lane: one with fewer than ``retention`` other identities at its epoch or
    above in the prefix must be present. Only the few uploads near the top need the exact
    count — near-linear work per read, not quadratic.
    """
    v = report.violations

    def ident(a: Attempt | Entry) -> str:
        return identity(kind, a.fields, a.epoch, a.state)

    stored = sorted((a for a in attempts if a.maybe_stored), key=lambda a: a.start)
    starts = [a.start for a in stored]
    acked = sorted((a for a in attempts if a.acked), key=lambda a: a.end)
    acked_ends = [a.end for a in acked]
    acked_by_epoch = sorted(acked, key=lambda a: a.epoch)
    acked_epochs = [a.epoch for a in acked_by_epoch]
    longest = max((a.end - a.start for a in stored), default=0.0)
    # earliest start of any attempt that could have created (or matched) an entry
    first_start: dict[str, float] = {}
    for a in attempts:
        if a.acked or a.maybe_stored:
            first_start[ident(a)] = min(first_start.get(ident(a), a.start), a.start)
    lane_epochs: list[int] = []  # the epoch of every distinct identity of the prefix (lanes)
    in_prefix: dict[str, int] = {}
    grown = 0
    for o in sorted(observations, key=lambda o: o.end):
        if len(o.entries) > retention:
            v.append(Violation("retention", slot, f"{len(o.entries)} entries > {retention}"))
        fields = [e.fields for e in o.entries]
        if len(set(fields)) != len(fields):
            v.append(Violation("coalescing", slot, "a read lists two entries with equal fields"))
        present = {ident(e) for e in o.entries}
        prefix = bisect.bisect_left(starts, o.end)
        if kind == LANE:
            for b in stored[grown:prefix]:
                if ident(b) not in in_prefix:
                    in_prefix[ident(b)] = b.epoch
                    bisect.insort(lane_epochs, b.epoch)
            grown = prefix
        last = bisect.bisect_left(acked_ends, o.start)  # acknowledged before the read began
        report.checked_presences += last
        if kind == LANE:
            # A lane stores an upload only at or above its head, so what can evict an
            # upload at epoch e is another upload at epoch >= e. Below the retention-th
            # highest epoch of the prefix, eviction is always possible.
            floor = lane_epochs[-retention] if len(lane_epochs) >= retention else -1
            lo = bisect.bisect_left(acked_epochs, floor)
            candidates = [a for a in acked_by_epoch[lo:] if a.end < o.start]
        else:
            # the horizon: the newest retention + 1 distinct identities of the prefix each
            # began after any upload answered before it, so older ones may be evicted
            horizon = float("-inf")
            newest: set[str] = set()
            for b in reversed(stored[:prefix]):
                newest.add(ident(b))
                if len(newest) > retention:
                    horizon = b.start
                    break
            candidates = acked[bisect.bisect_right(acked_ends, horizon) : last]
        for a in candidates:
            key = ident(a)
            if key in present:
                continue
            if kind == LANE:
                count = len(lane_epochs) - bisect.bisect_left(lane_epochs, a.epoch)
                own = in_prefix.get(key)
                count -= 1 if own is not None and own >= a.epoch else 0
            else:
                t0 = first_start[key]
                others: set[str] = set()
                for b in reversed(stored[:prefix]):
                    if b.start + longest <= t0 or len(others) >= retention:
                        break
                    if b.end > t0 and ident(b) != key:
                        others.add(ident(b))
                count = len(others)
            if count < retention:
                v.append(
                    Violation(
                        "durability",
                        slot,
                        f"acked upload {a.sha256[:12]} (epoch {a.epoch}, answered at "
                        f"{a.end:.3f}) missing from the read at {o.start:.3f}; only "
                        f"{count} newer uploads could have evicted it",
                    )
                )


def _check_receipts(slot: str, kind: str, attempts: list[Attempt], report: Report) -> None:
    v = report.violations
    # per fields identity, the starts of attempts that could have stored (or matched) it
    starts: dict[str, list[float]] = defaultdict(list)
    for b in attempts:
        if b.maybe_stored or b.acked:
            starts[b.fields].append(b.start)
    for a in attempts:
        if not a.acked:
            continue
        if a.outcome == "coalesced":
            # another attempt with the same fields that began before this one was answered
            earlier = sum(1 for t in starts[a.fields] if t < a.end) - 1
            if earlier < 1:
                v.append(Violation("coalescing", slot, f"{a.sha256[:12]} coalesced with nothing"))
        if kind == LANE and a.status == 201 and a.head_epoch != a.epoch:
            v.append(Violation("lane-order", slot, f"201 at {a.epoch} names head {a.head_epoch}"))


def _check_lane_order(
    slot: str, attempts: list[Attempt], observations: list[Observation], report: Report
) -> None:
    v = report.violations
    created: dict[int, str] = {}
    for a in attempts:
        if a.status == 201:
            if a.epoch in created and created[a.epoch] != a.state:
                v.append(Violation("lane-order", slot, f"two states created at epoch {a.epoch}"))
            created.setdefault(a.epoch, a.state)
    state_at: dict[int, str] = dict(created)
    heads = []
    for o in observations:
        if not o.entries:
            continue
        top = max(o.entries, key=lambda e: e.epoch)
        if state_at.setdefault(top.epoch, top.state) != top.state:
            v.append(Violation("lane-order", slot, f"epoch {top.epoch} seen with two states"))
        heads.append((o, top.epoch))
        if o.after_restart:
            before = [a.epoch for a in attempts if a.acked and a.end < o.start]
            if before and top.epoch < max(before):
                v.append(
                    Violation(
                        "durability",
                        slot,
                        f"head {top.epoch} after restart < acked epoch {max(before)}",
                    )
                )
    # the head never goes down: compare each read with the highest head of every read that
    # ended before it started (sorted sweep, not all pairs)
    by_end = sorted(heads, key=lambda h: h[0].end)
    best = -1
    best_at = 0.0
    i = 0
    for o2, e2 in sorted(heads, key=lambda h: h[0].start):
        while i < len(by_end) and by_end[i][0].end < o2.start:
            if by_end[i][1] > best:
                best, best_at = by_end[i][1], by_end[i][0].start
            i += 1
        if e2 < best:
            v.append(
                Violation(
                    "lane-order",
                    slot,
                    f"head went down from {best} (read at {best_at:.3f}) to {e2} "
                    f"(read at {o2.start:.3f})",
                )
            )
            return

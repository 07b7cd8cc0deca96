"""Crash durability: mixed lane/open uploads from many clients while the real service is
SIGKILLed at random moments and restarted; the history checker proves nothing acknowledged
is lost (beyond legitimate FIFO eviction), lane heads only go up, coalescing and retention
hold, and the database passes its integrity check after every kill.

CI: 15 s (and at least two kills). Longer: ``scripts/reliability.sh crash --minutes 10``.
"""

from __future__ import annotations

import sqlite3

from .crash import LANE_HISTORY, OPEN_RETENTION, CrashConfig, CrashRun
from .harness import env_float, env_int, record_figures
from .history import LANE, OPEN, Attempt, Entry, Observation, check

SECONDS = env_float("RELIABILITY_SECONDS", 15.0)


async def test_acknowledged_uploads_survive_random_sigkills(make_service, backend) -> None:
    svc = make_service(
        "--no-rate-limits-enabled",
        "--no-access-log",
        "--lane-history",
        str(LANE_HISTORY),
        "--open-retention",
        str(OPEN_RETENTION),
        backend=backend,
    )
    config = CrashConfig(seconds=SECONDS, seed=env_int("RELIABILITY_SEED", 7))
    run = CrashRun(svc, config)
    report = await run.run()
    acked_lane = sum(1 for a in run.attempts if a.acked and a.kind == LANE)
    acked_open = sum(1 for a in run.attempts if a.acked and a.kind == OPEN)
    figures = {
        "backend": backend.name,
        "seconds": SECONDS,
        "kills": svc.kills,
        "database_restarts": run.server_restarts,
        "integrity_checks": run.integrity_checks,
        "uploads": report.attempts,
        "acknowledged": report.acked,
        "acknowledged_lane": acked_lane,
        "acknowledged_open": acked_open,
        "coalesced": sum(1 for a in run.attempts if a.outcome == "coalesced"),
        "idempotent": sum(1 for a in run.attempts if a.outcome == "idempotent"),
        "unanswered": report.unknown,
        "not_connected": report.refused,
        "reads": report.observations,
        "presence_checks": report.checked_presences,
        "server_errors": report.server_errors,
        "lost": report.lost,
        "violations": len(report.violations),
    }
    record_figures(f"crash-{backend.name}", figures)
    assert report.violations == [], report.violations[:10]
    assert report.server_errors == 0
    # the run really exercised what it claims to
    assert svc.kills >= 2
    assert run.server_restarts >= (1 if backend.has_server else 0)
    assert acked_lane > 0
    assert acked_open > 0
    assert figures["coalesced"] > 0
    assert figures["idempotent"] > 0
    assert report.checked_presences > 0


def _lose_newest_acked_open_upload(run: CrashRun) -> None:
    """Sabotage: delete the newest acknowledged open-slot upload from the database."""
    acked = {a.sha256 for a in run.attempts if a.acked and a.kind == OPEN}
    path = run.service.database_url.removeprefix("sqlite:///")
    db = sqlite3.connect(path)
    try:
        rows = db.execute("SELECT seq, sha256 FROM blobs ORDER BY seq DESC").fetchall()
        for seq, sha in rows:
            if bytes(sha).hex() in acked:
                db.execute("DELETE FROM blobs WHERE seq = ?", (seq,))
                db.commit()
                run.sabotaged += 1
                return
    finally:
        db.close()


async def test_the_run_catches_a_service_that_loses_an_upload(make_service) -> None:
    """Negative control: the same run on SQLite, but the database loses one acknowledged
    upload at each kill (the test deletes it); the checker must report it as lost."""
    svc = make_service("--no-rate-limits-enabled", "--no-access-log")
    run = CrashRun(svc, CrashConfig(seconds=4.0, open_writers=4, open_slots=40, lanes=1,
                                    readers=2, kill_after=(1.0, 1.5), seed=3))
    run.sabotage = _lose_newest_acked_open_upload
    report = await run.run()
    assert run.sabotaged >= 1
    assert report.lost >= 1, report


# --- the checker can fail: known bad histories ------------------------------------


def _a(slot: str, kind: str, n: int, t: float, *, status: int | None = 201, epoch: int = 0,
       outcome: str = "created") -> Attempt:
    ep = epoch or n
    return Attempt(slot, kind, f"sha{n}", f"f{n}", ep, f"s{ep}", t, t + 0.1, status, outcome,
                   None, ep if kind == LANE else None)


def _e(n: int, epoch: int = 0) -> Entry:
    return Entry(f"sha{n}", f"f{n}", epoch or n, f"s{epoch or n}")


def test_checker_flags_a_lost_acknowledged_upload() -> None:
    attempts = [_a("o", OPEN, n, float(n)) for n in range(3)]
    reads = [Observation("o", OPEN, 10.0, 10.1, (_e(0), _e(2)))]
    report = check(attempts, reads, lane_retention=8, open_retention=8)
    assert report.lost == 1


def test_checker_allows_fifo_eviction_and_unanswered_uploads() -> None:
    attempts = [_a("o", OPEN, n, float(n)) for n in range(3)]
    attempts += [_a("o", OPEN, 10 + n, 3.0 + n, status=None) for n in range(2)]
    reads = [Observation("o", OPEN, 10.0, 10.1, (_e(1), _e(2), _e(10), _e(11)))]
    assert check(attempts, reads, lane_retention=8, open_retention=4).violations == []
    assert check(attempts, reads, lane_retention=8, open_retention=5).lost == 1


def test_checker_flags_a_lane_head_going_down_and_duplicate_fields() -> None:
    attempts = [_a("l", LANE, n, float(n)) for n in range(1, 4)]
    reads = [
        Observation("l", LANE, 5.0, 5.1, (_e(3), _e(2), _e(1))),
        Observation("l", LANE, 6.0, 6.1, (_e(2), _e(1))),
    ]
    rules = {v.rule for v in check(attempts, reads, lane_retention=8, open_retention=8).violations}
    assert rules == {"durability", "lane-order"}
    dup = [Observation("o", OPEN, 1.0, 1.1, (_e(1), _e(1)))]
    rules = {v.rule for v in check([], dup, lane_retention=8, open_retention=8).violations}
    assert rules == {"coalescing"}


def test_checker_flags_a_head_below_an_acked_epoch_after_restart() -> None:
    attempts = [_a("l", LANE, n, float(n)) for n in range(1, 4)]
    reads = [Observation("l", LANE, 5.0, 5.1, (_e(2), _e(1)), after_restart=True)]
    report = check(attempts, reads, lane_retention=2, open_retention=8)
    assert {v.rule for v in report.violations} == {"durability"}

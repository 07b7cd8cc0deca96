"""XIP-82 join, sans-IO: the join machine (steps 1–10, or 1–6 for ``join-check``) and its
typed outcomes.

* :class:`JoinMachine` — every transition of the flow; the driver
  (:mod:`invitekit.drivers.join`) only performs the I/O it asks for;
* :mod:`invitekit.join.outcomes` — what a join ends in, as data;
* candidate triage and selection (steps 2–5) are :mod:`invitekit.selection`'s (its
  candidate and survivor types are re-exported here), the pre-commit check (step 6)
  :mod:`invitekit.precommit`'s.
"""

from __future__ import annotations

from ..selection import Candidate, Discard, Discarded, Survivor, merge_candidates
from .machine import JoinMachine, JoinMode, JoinOptions, check_instant
from .outcomes import (
    AllExpired,
    AllUndecryptable,
    Joined,
    JoinOutcome,
    NoCandidates,
    NoValidCandidate,
    PrecommitAborted,
    ReadyToCommit,
    RejectedAfterForks,
    no_survivor_outcome,
)

__all__ = [
    "AllExpired",
    "AllUndecryptable",
    "Candidate",
    "Discard",
    "Discarded",
    "JoinMachine",
    "JoinMode",
    "JoinOptions",
    "JoinOutcome",
    "Joined",
    "NoCandidates",
    "NoValidCandidate",
    "PrecommitAborted",
    "ReadyToCommit",
    "RejectedAfterForks",
    "Survivor",
    "check_instant",
    "merge_candidates",
    "no_survivor_outcome",
]

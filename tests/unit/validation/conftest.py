"""Helpers for the validator tests: the real groups, and one call that validates."""

from __future__ import annotations

from invitekit.commit_validation import Accepted, Rejected, Verdict, validate_commit
from invitekit.mls import VerifyLevel, parse_group_info, verify_group_info

#: Envelope timestamps well inside the fixture policy's bounds (expires 2033, 1 h staleness).
START = 1_900_000_000 * 10**9
ENVELOPE = START + 60 * 10**9


def run(
    commit: bytes,
    group_info: bytes,
    *,
    envelope_ns: int = ENVELOPE,
    epoch_start_ns: int = START,
    verify: bool = True,
    **kwargs: object,
) -> Verdict:
    """Validate ``commit`` against ``group_info`` (verified first, as a member's state is)."""
    state = (
        verify_group_info(group_info, VerifyLevel.TREE) if verify else parse_group_info(group_info)
    )
    return validate_commit(
        commit,
        state,
        envelope_ns=envelope_ns,
        epoch_start_ns=epoch_start_ns,
        **kwargs,  # type: ignore[arg-type]
    )


def rejected(verdict: Verdict, check: str, code: str) -> bool:
    return isinstance(verdict, Rejected) and (verdict.check.value, verdict.code.value) == (
        check,
        code,
    )


def accepted(verdict: Verdict) -> bool:
    return isinstance(verdict, Accepted)

"""The validator runs one function per XIP check from one ordered table, in the XIP's order."""

from __future__ import annotations

from invitekit.commit_validation import EXTERNAL_CHECKS, MEMBER_CHECKS, Check


def test_external_checks_run_framing_then_xip_checks_1_to_11_in_order() -> None:
    assert EXTERNAL_CHECKS[0] is Check.FRAMING
    assert [str(check) for check in EXTERNAL_CHECKS[1:]] == [str(n) for n in range(1, 12)]


def test_member_checks_run_framing_then_policy_lifecycle_then_member_tag() -> None:
    assert MEMBER_CHECKS == (Check.FRAMING, Check.POLICY_LIFECYCLE, Check.MEMBER_TAG)


def test_every_check_is_in_exactly_one_table() -> None:
    shared = set(EXTERNAL_CHECKS) & set(MEMBER_CHECKS)
    assert shared == {Check.FRAMING}
    assert set(EXTERNAL_CHECKS) | set(MEMBER_CHECKS) == set(Check)

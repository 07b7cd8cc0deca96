"""Effective expiry, against libxmtp's six reference cases and its edge rules."""

from __future__ import annotations

import pytest

from invitekit.expiry import U64_MAX, effective_expiry


@pytest.mark.parametrize(
    ("policy_expires_at", "epoch_start", "expire_in", "expected"),
    [
        (0, 1000, 0, 0),
        (5000, 1000, 0, 5000),
        (0, 1000, 250, 1250),
        (5000, 1000, 250, 1250),
        (1100, 1000, 250, 1100),
        (0, 2**64 - 11, 250, 2**64 - 1),
    ],
)
def test_reference_cases(policy_expires_at: int, epoch_start: int, expire_in: int,
                         expected: int) -> None:
    assert effective_expiry(policy_expires_at, epoch_start, expire_in) == expected


def test_saturation_is_min_not_wrap() -> None:
    assert U64_MAX == 18446744073709551615
    assert effective_expiry(7, U64_MAX, U64_MAX) == 7


@pytest.mark.parametrize("bad", [-1, 2**64])
def test_out_of_range_inputs_rejected(bad: int) -> None:
    with pytest.raises(ValueError, match="2\\*\\*64"):
        effective_expiry(bad, 0, 0)
    with pytest.raises(ValueError, match="2\\*\\*64"):
        effective_expiry(0, 0, bad)

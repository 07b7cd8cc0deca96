"""Effective blob expiry: the earlier of the campaign end and epoch start + staleness bound.

All values are nanoseconds in ``[0, 2**64 - 1]``. A bound of 0 means "no bound" and drops
out of the minimum; the sum saturates at ``2**64 - 1`` instead of wrapping. The result is 0
only when neither bound is set.
"""

from __future__ import annotations

from .errors import ValueOutOfRange

U64_MAX = 2**64 - 1


def check_u64(value: int, name: str) -> None:
    """Raise :class:`~invitekit.errors.ValueOutOfRange` unless ``value`` fits a uint64."""
    if not 0 <= value <= U64_MAX:
        raise ValueOutOfRange(f"{name} must be within 0..2**64-1")


def _saturating_add_u64(a: int, b: int) -> int:
    """``a + b`` clamped to ``2**64 - 1``."""
    return min(a + b, U64_MAX)


def effective_expiry(policy_expires_at_ns: int, epoch_start_ns: int, expire_in_ns: int) -> int:
    """``min(policy_expires_at_ns, epoch_start_ns + expire_in_ns)`` with 0 meaning unbounded."""
    check_u64(policy_expires_at_ns, "policy_expires_at_ns")
    check_u64(epoch_start_ns, "epoch_start_ns")
    check_u64(expire_in_ns, "expire_in_ns")
    bounds = []
    if policy_expires_at_ns:
        bounds.append(policy_expires_at_ns)
    if expire_in_ns:
        bounds.append(_saturating_add_u64(epoch_start_ns, expire_in_ns))
    return min(bounds, default=0)


__all__ = ["U64_MAX", "check_u64", "effective_expiry"]

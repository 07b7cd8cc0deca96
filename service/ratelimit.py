"""Per-client and per-slot request budgets on the ``limits`` package (in-process memory).

With several worker processes each enforces its own budget, so the effective limit is up to
``workers`` times the configured one; a shared store (Redis, PostgreSQL) is future work.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from invitekit.protocol import ProblemCode

from .problems import Problem


def _optional(rate: str | None) -> RateLimitItem | None:
    return None if rate is None else parse(rate)


class RateLimits:
    """Budgets: reads per client, writes per client, writes per slot, and writes per
    (slot, client) — the share of a slot's budget one client may use (see SPEC, fairness)."""

    def __init__(
        self,
        client_read: str,
        client_write: str,
        slot_write: str,
        slot_client_write: str | None = None,
        client_write_bytes: str | None = None,
        slot_client_write_bytes: str | None = None,
    ) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._client_read: RateLimitItem = parse(client_read)
        self._client_write: RateLimitItem = parse(client_write)
        self._slot_write: RateLimitItem = parse(slot_write)
        self._slot_client_write: RateLimitItem = parse(slot_client_write or slot_write)
        self._client_write_bytes = _optional(client_write_bytes)
        self._slot_client_write_bytes = _optional(slot_client_write_bytes)

    def _take(self, item: RateLimitItem, scope: str, key: str, cost: int = 1) -> None:
        if self._limiter.hit(item, scope, key, cost=cost):
            return
        stats = self._limiter.get_window_stats(item, scope, key)
        retry = max(1, math.ceil(stats.reset_time - time.time()))
        raise Problem(
            ProblemCode.RATE_LIMITED,
            f"{scope} budget exhausted",
            headers={"Retry-After": str(retry)},
            extra={"scope": scope},
        )

    def client_read(self, client: str) -> None:
        """Charge one read to ``client`` or raise a 429 problem."""
        self._take(self._client_read, "client-read", client)

    def client_write(self, client: str) -> None:
        """Charge one write to ``client`` or raise a 429 problem."""
        self._take(self._client_write, "client-write", client)

    def slot_write(self, slot_key: str) -> None:
        """Charge one write to a slot (keyed by a digest of its id) or raise a 429 problem."""
        self._take(self._slot_write, "slot-write", slot_key)

    def slot_client_write(self, slot_key: str, client: str) -> None:
        """Charge one write to ``client``'s share of a slot or raise a 429 problem."""
        self._take(self._slot_client_write, "slot-client-write", f"{slot_key}|{client}")

    def write_bytes(self, slot_key: str, client: str, size: int) -> None:
        """Charge ``size`` stored bytes to ``client``'s quota in the slot, then overall."""
        if self._slot_client_write_bytes is not None:
            key = f"{slot_key}|{client}"
            self._take(self._slot_client_write_bytes, "slot-client-write-bytes", key, size)
        if self._client_write_bytes is not None:
            self._take(self._client_write_bytes, "client-write-bytes", client, size)

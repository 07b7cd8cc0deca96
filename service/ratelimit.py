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


class RateLimits:
    """Budgets: reads per client, writes per client, writes per slot, and writes per
    (slot, client) — the share of a slot's budget one client may use (see SPEC, fairness)."""

    def __init__(
        self,
        client_read: str,
        client_write: str,
        slot_write: str,
        slot_client_write: str | None = None,
    ) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._client_read: RateLimitItem = parse(client_read)
        self._client_write: RateLimitItem = parse(client_write)
        self._slot_write: RateLimitItem = parse(slot_write)
        self._slot_client_write: RateLimitItem = parse(slot_client_write or slot_write)

    def _take(self, item: RateLimitItem, scope: str, key: str) -> None:
        if self._limiter.hit(item, scope, key):
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

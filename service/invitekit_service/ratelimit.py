"""Per-client and per-slot request budgets.

Two homes for the counters, same rule (``limit`` hits per period over a sliding window; a
refused hit is not charged):

* process memory — the SQLite default, where the effective budget with ``--workers N`` is
  up to N times the configured one. Request budgets (a hit costs 1) use the ``limits``
  package's moving window: exact, one entry per admitted request while it is in the window.
  The byte quotas (a hit costs the upload's size) use its sliding-window *counter*: two
  integers per key, the current fixed window and the previous one weighted by how much of
  it still overlaps, so a hit of cost ``n`` adds ``n`` to an integer. Bookkeeping is
  constant per request whatever the cost — the moving window keeps one entry per unit of
  cost, so a byte quota kept there held one entry per byte uploaded (about 21 bytes of
  memory per byte);
* the database's shared counter (:class:`invitekit_service.storage.RateCounter`, PostgreSQL), where
  every process on every host charges the same budget. The byte quotas (a hit costing the
  upload's size) always use process memory: the shared counter charges one hit at a time.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter, SlidingWindowCounterRateLimiter

from invitekit.protocol import ProblemCode

from .budgets import client_key
from .problems import Problem
from .storage import RateCounter


def _optional(rate: str | None) -> RateLimitItem | None:
    return None if rate is None else parse(rate)


class RateLimits:
    """Budgets: reads per client, writes per client, writes per slot, writes per
    (slot, client) — the share of a slot's budget one client may use (SPEC, fairness rule) —
    and byte quotas per client and per (slot, client)."""

    def __init__(
        self,
        client_read: str,
        client_write: str,
        slot_write: str,
        slot_client_write: str | None = None,
        *,
        client_write_bytes: str | None = None,
        slot_client_write_bytes: str | None = None,
        shared: RateCounter | None = None,
    ) -> None:
        storage = MemoryStorage()
        self._hits = MovingWindowRateLimiter(storage)  # cost 1: one entry per request
        self._costs = SlidingWindowCounterRateLimiter(storage)  # any cost: two integers
        self._shared = shared
        self._client_read: RateLimitItem = parse(client_read)
        self._client_write: RateLimitItem = parse(client_write)
        self._slot_write: RateLimitItem = parse(slot_write)
        self._slot_client_write: RateLimitItem = parse(slot_client_write or slot_write)
        self._client_write_bytes = _optional(client_write_bytes)
        self._slot_client_write_bytes = _optional(slot_client_write_bytes)

    @property
    def shared(self) -> bool:
        """True when the budgets are shared by every process using the database."""
        return self._shared is not None

    async def _take(
        self, item: RateLimitItem, scope: str, key: str, cost: int | None = None
    ) -> None:
        """Charge one request (no ``cost``) or ``cost`` units of a quota, or raise a 429."""
        if self._shared is not None and cost is None:
            retry_s = await self._shared.hit(scope, key, item.amount, item.get_expiry())
            if retry_s is None:
                return
            raise _limited(scope, math.ceil(retry_s))
        limiter = self._hits if cost is None else self._costs
        if limiter.hit(item, scope, key, cost=1 if cost is None else cost):
            return
        stats = limiter.get_window_stats(item, scope, key)
        raise _limited(scope, math.ceil(stats.reset_time - time.time()))

    async def client_read(self, client: str) -> None:
        """Charge one read to ``client`` (its :func:`~.budgets.client_key` unit, as every
        per-client budget here) or raise a 429 problem."""
        await self._take(self._client_read, "client-read", client_key(client))

    async def client_write(self, client: str) -> None:
        """Charge one write to ``client`` or raise a 429 problem."""
        await self._take(self._client_write, "client-write", client_key(client))

    async def slot_write(self, slot_key: str) -> None:
        """Charge one write to a slot (keyed by a digest of its id) or raise a 429 problem."""
        await self._take(self._slot_write, "slot-write", slot_key)

    async def slot_client_write(self, slot_key: str, client: str) -> None:
        """Charge one write to ``client``'s share of a slot or raise a 429 problem."""
        key = f"{slot_key}|{client_key(client)}"
        await self._take(self._slot_client_write, "slot-client-write", key)

    async def write_bytes(self, slot_key: str, client: str, size: int) -> None:
        """Charge ``size`` stored bytes to ``client``'s quota in the slot, then overall."""
        client = client_key(client)
        if self._slot_client_write_bytes is not None:
            key = f"{slot_key}|{client}"
            await self._take(
                self._slot_client_write_bytes, "slot-client-write-bytes", key, size
            )
        if self._client_write_bytes is not None:
            await self._take(self._client_write_bytes, "client-write-bytes", client, size)


def _limited(scope: str, retry_s: int) -> Problem:
    return Problem(
        ProblemCode.RATE_LIMITED,
        f"{scope} budget exhausted",
        headers={"Retry-After": str(max(1, retry_s))},
        extra={"scope": scope},
    )

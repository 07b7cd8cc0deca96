"""Jitter and bounded retries for background refresh I/O (the backstop's schedule)."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import InvalidSetting
from ..sources import RandomUnit


@dataclass(frozen=True, slots=True)
class Backoff:
    """Jitter and bounded retries for background refresh I/O.

    * :meth:`initial_delay`: uniform in ``[0, jitter_s)`` — spreads members out;
    * :meth:`retry_delay`: "full jitter" — uniform in ``[0, min(cap_s, base_s·2^n))``;
    * at most ``attempts`` tries per target per pass (never unbounded).
    """

    attempts: int = 3
    base_s: float = 0.5
    cap_s: float = 30.0
    jitter_s: float = 10.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise InvalidSetting("Backoff.attempts must be at least 1")
        if min(self.base_s, self.cap_s, self.jitter_s) < 0:
            raise InvalidSetting("Backoff delays must be non-negative")

    def initial_delay(self, random_unit: RandomUnit) -> float:
        """The jittered delay before a backstop pass starts."""
        return random_unit() * self.jitter_s

    def retry_delay(self, retry: int, random_unit: RandomUnit) -> float:
        """The delay before retry number ``retry`` (0-based)."""
        return random_unit() * min(self.cap_s, self.base_s * (2.0**retry))

    def schedule(self, random_unit: RandomUnit) -> list[float]:
        """The delays before each of the ``attempts`` tries (first is the initial jitter)."""
        return [self.initial_delay(random_unit)] + [
            self.retry_delay(n, random_unit) for n in range(self.attempts - 1)
        ]


__all__ = ["Backoff"]

"""Injected time and randomness: one name per kind of source, used across invitekit.

The convention (every module follows it):

* **time** — sans-IO functions take ``now_ns: int`` (nanoseconds since the Unix epoch)
  as an explicit argument and never read a clock; drivers and shells take a ``clock:
  Clock`` (default :data:`system_clock`) and read it once per decision;
* **bytes** — anything that draws key material, slot ids or nonces takes
  ``random_bytes: RandomBytes`` (default :func:`os_random_bytes`, the OS CSPRNG);
* **floats** — timing jitter takes ``random_unit: RandomUnit``, a uniform float in
  ``[0, 1)`` (default :func:`jitter_unit`, non-cryptographic). A ``RandomUnit`` never
  feeds a secret.
"""

from __future__ import annotations

import random
import secrets
import time
from collections.abc import Callable

#: Reads the current time as integer nanoseconds since the Unix epoch.
Clock = Callable[[], int]
#: Returns ``n`` random bytes for keys, slot ids and nonces.
RandomBytes = Callable[[int], bytes]
#: Returns a uniform float in ``[0, 1)`` for jitter (timing only).
RandomUnit = Callable[[], float]

#: The wall clock (``time.time_ns``).
system_clock: Clock = time.time_ns


def os_random_bytes(n: int) -> bytes:
    """``n`` bytes from the OS CSPRNG."""
    return secrets.token_bytes(n)


_JITTER = random.Random()  # noqa: S311 - jitter, not secrecy


def jitter_unit() -> float:
    """A uniform float in ``[0, 1)`` for spreading retries out (never for secrets)."""
    return _JITTER.random()


__all__ = [
    "Clock",
    "RandomBytes",
    "RandomUnit",
    "jitter_unit",
    "os_random_bytes",
    "system_clock",
]

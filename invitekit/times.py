"""Times as people write and read them: RFC 3339 instants and unit durations (sans-IO).

The wire carries nanoseconds since the UNIX epoch (uint64); people write
``2027-01-31T00:00Z`` and ``30d``. This module is the one owner of both conversions, in
both directions, with integer arithmetic only (no float, no local time zone, no clock):

* :func:`parse_instant_ns` — bare digits (nanoseconds since the UNIX epoch), or an RFC 3339
  instant ``YYYY-MM-DDTHH:MM[:SS[.fraction]]`` followed by ``Z`` or ``±HH:MM``. Seconds may
  be left out (``2027-01-31T00:00Z``: a common shortening RFC 3339's grammar itself does not
  allow); the fraction has at most 9 digits (nanoseconds); ``T`` may be ``t`` or a space.
  An instant without an offset is refused (it would depend on the reader's time zone), and
  so is a leap second (``:60``: the nanosecond timeline has none).
* :func:`format_instant` — the RFC 3339 UTC form, ``2027-01-31T00:00:00Z``, with the
  fraction only when there is one (trailing zeros dropped).
* :func:`parse_duration_ns` — bare digits (nanoseconds), or one or more ``<digits><unit>``
  terms, units ``w d h m s ms us ns`` (``90s``, ``1h30m``, ``1d 2h``).
* :func:`format_duration` — the same units, largest first, zero terms left out
  (``1d 2h 30m``, ``1m 30s 500ms``, ``0s``); :func:`parse_duration_ns` reads it back exactly.

Every error is a :class:`~invitekit.errors.ValueOutOfRange` (a ``ValueError``), and every
result fits in uint64.
"""

from __future__ import annotations

import datetime as _dt
import re

from .errors import ValueOutOfRange
from .expiry import check_u64

NS_PER_S = 10**9
_EPOCH_ORDINAL = _dt.date(1970, 1, 1).toordinal()
_SECONDS_PER_DAY = 86_400

_INSTANT = re.compile(
    r"(?P<y>\d{4})-(?P<mo>\d{2})-(?P<d>\d{2})[Tt ]"
    r"(?P<h>\d{2}):(?P<mi>\d{2})(?::(?P<s>\d{2})(?:\.(?P<frac>\d+))?)?"
    r"(?P<zone>[Zz]|(?P<sign>[+-])(?P<oh>\d{2}):(?P<om>\d{2}))?"
)

#: Duration units, largest first (the order :func:`format_duration` writes them in).
DURATION_UNITS_NS: dict[str, int] = {
    "w": 7 * _SECONDS_PER_DAY * NS_PER_S,
    "d": _SECONDS_PER_DAY * NS_PER_S,
    "h": 3600 * NS_PER_S,
    "m": 60 * NS_PER_S,
    "s": NS_PER_S,
    "ms": 10**6,
    "us": 10**3,
    "ns": 1,
}
_TERM = re.compile(r"\s*(\d+)\s*(ns|us|ms|s|m|h|d|w)\s*")
_FORMAT_UNITS = ("d", "h", "m", "s", "ms", "us", "ns")  # weeks are read, never written


def _u64(value: int, what: str) -> int:
    check_u64(value, what)
    return value


def parse_instant_ns(text: str, what: str = "instant") -> int:
    """Nanoseconds since the UNIX epoch of ``text``: bare digits, or an RFC 3339 instant."""
    stripped = text.strip()
    if stripped.isdigit():
        return _u64(int(stripped), what)
    match = _INSTANT.fullmatch(stripped)
    if match is None:
        raise ValueOutOfRange(
            f"{what} {text!r} is neither nanoseconds since the UNIX epoch nor an RFC 3339"
            " instant such as 2027-01-31T00:00Z"
        )
    if match["zone"] is None:
        raise ValueOutOfRange(
            f"{what} {text!r} has no UTC offset: end it with Z or +HH:MM/-HH:MM"
        )
    frac = match["frac"] or ""
    if len(frac) > 9:
        raise ValueOutOfRange(f"{what} {text!r}: at most 9 fraction digits (nanoseconds)")
    try:
        day = _dt.date(int(match["y"]), int(match["mo"]), int(match["d"]))
    except ValueError as exc:
        raise ValueOutOfRange(f"{what} {text!r}: {exc}") from None
    hour, minute, second = int(match["h"]), int(match["mi"]), int(match["s"] or 0)
    if hour > 23 or minute > 59 or second > 59:
        raise ValueOutOfRange(
            f"{what} {text!r}: time of day out of range (leap seconds are not accepted)"
        )
    offset_s = 0
    if match["sign"] is not None:
        off_h, off_m = int(match["oh"]), int(match["om"])
        if off_h > 23 or off_m > 59:
            raise ValueOutOfRange(f"{what} {text!r}: UTC offset out of range")
        offset_s = (off_h * 3600 + off_m * 60) * (-1 if match["sign"] == "-" else 1)
    seconds = (
        (day.toordinal() - _EPOCH_ORDINAL) * _SECONDS_PER_DAY
        + hour * 3600 + minute * 60 + second - offset_s
    )
    value = seconds * NS_PER_S + int(frac.ljust(9, "0"))
    if value < 0:
        raise ValueOutOfRange(f"{what} {text!r} is before 1970-01-01T00:00Z")
    return _u64(value, what)


def format_instant(ns: int) -> str:
    """The RFC 3339 UTC form of ``ns`` nanoseconds since the UNIX epoch."""
    check_u64(ns, "instant")
    seconds, frac = divmod(ns, NS_PER_S)
    days, second_of_day = divmod(seconds, _SECONDS_PER_DAY)
    day = _dt.date.fromordinal(_EPOCH_ORDINAL + days)
    hour, rest = divmod(second_of_day, 3600)
    minute, second = divmod(rest, 60)
    fraction = f".{frac:09d}".rstrip("0") if frac else ""
    return f"{day.isoformat()}T{hour:02d}:{minute:02d}:{second:02d}{fraction}Z"


def parse_duration_ns(text: str, what: str = "duration") -> int:
    """A duration in ns: bare digits are ns, else ``<digits><unit>`` terms (``1h30m``)."""
    stripped = text.strip().lower()
    if stripped.isdigit():
        return _u64(int(stripped), what)
    total, pos = 0, 0
    while pos < len(stripped):
        term = _TERM.match(stripped, pos)
        if term is None:
            break
        total += int(term.group(1)) * DURATION_UNITS_NS[term.group(2)]
        pos = term.end()
    if not stripped or pos != len(stripped):
        raise ValueOutOfRange(
            f"{text!r} is not a duration: give ns, or numbers with units"
            " w/d/h/m/s/ms/us/ns (90s, 1h30m, 30d)"
        )
    return _u64(total, what)


def format_duration(ns: int) -> str:
    """``ns`` in the units people read (``1d 2h 30m``); :func:`parse_duration_ns` inverts it."""
    check_u64(ns, "duration")
    terms: list[str] = []
    rest = ns
    for unit in _FORMAT_UNITS:
        count, rest = divmod(rest, DURATION_UNITS_NS[unit])
        if count:
            terms.append(f"{count}{unit}")
    return " ".join(terms) or "0s"


__all__ = [
    "DURATION_UNITS_NS",
    "NS_PER_S",
    "format_duration",
    "format_instant",
    "parse_duration_ns",
    "parse_instant_ns",
]

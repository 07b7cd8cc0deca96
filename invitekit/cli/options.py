"""Options shared by the CLI commands: one spelling per concept, parsed in one place.

* ``--epoch-start-ns`` — when the GroupInfo's epoch began: a required input wherever an
  expiry is derived (``seal``, ``upload --group-info``, ``refresh``). Nanoseconds since the
  UNIX epoch, or the word ``now`` (said explicitly, never assumed: a wrong start yields a
  blob that joiners accept and validators reject).
* durations (``--expire-in``): nanoseconds, or a number with a unit ``ns``, ``us``, ``ms``,
  ``s``, ``m``, ``h``, ``d``, ``w`` (``90s``, ``1h``, ``30d``).
* ``--service/-s``, ``--kind/-k``, ``--json``, ``--allow-insecure-loopback``, ``--timeout``.
"""

from __future__ import annotations

import re
from typing import Annotated

import typer

from ..envelope import Envelope
from ..errors import ValueOutOfRange
from ..expiry import check_u64
from ..sources import system_clock

_UNITS_NS = {
    "ns": 1,
    "us": 10**3,
    "ms": 10**6,
    "s": 10**9,
    "m": 60 * 10**9,
    "h": 3600 * 10**9,
    "d": 86400 * 10**9,
    "w": 7 * 86400 * 10**9,
}
_DURATION = re.compile(r"(\d+)\s*(ns|us|ms|s|m|h|d|w)?")


def parse_duration_ns(text: str) -> int:
    """A duration in ns: bare digits are ns, else a number with one unit (``90s``, ``30d``).

    Raises :class:`~invitekit.errors.ValueOutOfRange` (a ``ValueError``) for anything else or
    for a value that does not fit in uint64.
    """
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None:
        raise ValueOutOfRange(
            f"{text!r} is not a duration: give ns, or a number with ns/us/ms/s/m/h/d/w"
        )
    value = int(match.group(1)) * _UNITS_NS[match.group(2) or "ns"]
    check_u64(value, "duration")
    return value


def parse_epoch_start_ns(text: str) -> int:
    """``now`` (the system clock, read once) or non-negative nanoseconds since the UNIX epoch."""
    if text.strip().lower() == "now":
        return system_clock()
    if not text.strip().isdigit():
        raise ValueOutOfRange(f"--epoch-start-ns must be nanoseconds or 'now', got {text!r}")
    value = int(text)
    check_u64(value, "--epoch-start-ns")
    return value


ServiceOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--service", "-s", metavar="URL",
        help="Service API root URL (repeatable). Overrides every pointer the invite or "
        "policy names.",
    ),
]
KindOpt = Annotated[
    list[str] | None,
    typer.Option("--kind", "-k", metavar="KIND", help="Slot kind: lane or open (repeatable)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
LoopbackOpt = Annotated[
    bool,
    typer.Option(
        "--allow-insecure-loopback",
        help="Allow plain http to 127.0.0.1/::1/localhost (local services and tests only).",
    ),
]
TimeoutOpt = Annotated[
    float, typer.Option("--timeout", metavar="SECONDS", help="Per-request timeout, seconds.")
]
EpochStartOpt = Annotated[
    str,
    typer.Option(
        "--epoch-start-ns", metavar="NS|now",
        help="When the GroupInfo's epoch began: ns since the UNIX epoch, or 'now'. "
        "The blob's expiry is derived from it.",
    ),
]
EnvelopeOpt = Annotated[
    Envelope,
    typer.Option(
        "--envelope", metavar="v1|hpke-x25519|hpke-mlkem768-x25519", case_sensitive=False,
        help="Blob version. v1 (default) is the XIP's and opens in every XIP-82 reader; the "
        "hpke-* variants are invitekit extensions other readers refuse.",
    ),
]
ExpireInOpt = Annotated[
    str | None,
    typer.Option(
        "--expire-in", metavar="DURATION",
        help="Staleness bound from epoch start: ns, or with a unit (90s, 1h, 30d); 0: none.",
    ),
]


__all__ = [
    "EnvelopeOpt",
    "EpochStartOpt",
    "ExpireInOpt",
    "JsonOpt",
    "KindOpt",
    "LoopbackOpt",
    "ServiceOpt",
    "TimeoutOpt",
    "parse_duration_ns",
    "parse_epoch_start_ns",
]

"""Options shared by the CLI commands: one spelling per concept, parsed in one place.

* ``--epoch-start-ns`` — when the GroupInfo's epoch began: a required input wherever an
  expiry is derived (``seal``, ``upload --group-info``, ``refresh``). Nanoseconds since the
  UNIX epoch, an RFC 3339 instant (``2027-01-31T00:00Z``), or the word ``now`` (said
  explicitly, never assumed: a wrong start yields a blob that joiners accept and
  validators reject).
* instants (``--expires-at``, ``--envelope-ns``): nanoseconds or an RFC 3339 instant.
* durations (``--expire-in``): nanoseconds, or numbers with units ``ns``, ``us``, ``ms``,
  ``s``, ``m``, ``h``, ``d``, ``w`` (``90s``, ``1h30m``, ``30d``); instants and durations
  are parsed by :mod:`invitekit.times` (sans-IO, the one owner).
* hex values (``--slot-id``, ``--lane``, ``--inbox-id``, ``--key``, ``--opaque``,
  ``--refresh-pointer opaque:``): :func:`parse_hex`.
* ``--service/-s``, ``--kind/-k``, ``--json``, ``--allow-insecure-loopback``, ``--timeout``.
"""

from __future__ import annotations

from typing import Annotated

import typer

from ..envelope import Envelope
from ..sources import system_clock
from ..times import parse_duration_ns, parse_instant_ns
from .errors import fail
from .render import not_hex


def parse_epoch_start_ns(text: str) -> int:
    """``now`` (the system clock, read once), nanoseconds since the UNIX epoch, or an
    RFC 3339 instant."""
    if text.strip().lower() == "now":
        return system_clock()
    return parse_instant_ns(text, "--epoch-start-ns")


def parse_hex(text: str, flag: str) -> bytes:
    """An option value written as hex: whitespace is ignored, an ``0x``/``0X`` prefix
    allowed. Anything else is ``bad-input`` (the message names ``flag``, never the value)."""
    digits = "".join(text.split())
    if digits[:2].lower() == "0x":
        digits = digits[2:]
    try:
        return bytes.fromhex(digits)
    except ValueError:
        raise fail("bad-input", not_hex(flag)) from None


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
_EPOCH_START_METAVAR = "NS|INSTANT|now"
_EPOCH_START_HELP = (
    "When the GroupInfo's epoch began: ns since the UNIX epoch, an RFC 3339 instant "
    "(2027-01-31T00:00Z), or 'now'. The blob's expiry is derived from it."
)
EpochStartOpt = Annotated[
    str,
    typer.Option("--epoch-start-ns", metavar=_EPOCH_START_METAVAR, help=_EPOCH_START_HELP),
]
#: ``upload``: the same option, required only with ``--group-info``.
OptionalEpochStartOpt = Annotated[
    str | None,
    typer.Option(
        "--epoch-start-ns", metavar=_EPOCH_START_METAVAR,
        help="With --group-info (required there). " + _EPOCH_START_HELP,
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
        help="Staleness bound from epoch start: ns, or with units (90s, 1h30m, 30d); 0: none.",
    ),
]


__all__ = [
    "EnvelopeOpt",
    "EpochStartOpt",
    "ExpireInOpt",
    "JsonOpt",
    "KindOpt",
    "LoopbackOpt",
    "OptionalEpochStartOpt",
    "ServiceOpt",
    "TimeoutOpt",
    "parse_duration_ns",
    "parse_epoch_start_ns",
    "parse_hex",
    "parse_instant_ns",
]

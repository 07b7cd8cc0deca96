"""QR codes for invites, rendered by ``segno``.

Always a regular QR symbol (never Micro QR). Error correction M by default; Q is the print
choice (survives ~25% damage). ``segno`` may raise the level further when that costs no extra
modules (``boost_error``); the requested level is a floor, not a ceiling.
"""

from __future__ import annotations

import enum
import io
from pathlib import Path
from typing import Any

import segno

from .errors import UnsupportedQrFormat
from .link import split_compact_link


class ErrorCorrection(enum.StrEnum):
    """QR error-correction levels offered for invites."""

    L = "l"
    M = "m"
    Q = "q"
    H = "h"


DEFAULT_ERROR = ErrorCorrection.M
PRINT_ERROR = ErrorCorrection.Q


def qr_for_link(link: str, *, error: ErrorCorrection = DEFAULT_ERROR) -> Any:
    """A QR code carrying ``link``. Compact links are split into alphanumeric segments."""
    if link.startswith("HTTPS://"):
        prefix, fragment = split_compact_link(link)
        # segno picks each segment's mode from its characters: alphanumeric, byte, alphanumeric.
        # segno accepts a list of segments at run time; its type stubs only name str/bytes/int.
        return segno.make([prefix, "#", fragment], error=error.value, micro=False)  # type: ignore[arg-type]
    return segno.make(link, error=error.value, micro=False, mode="byte")


def qr_for_bytes(data: bytes, *, error: ErrorCorrection = DEFAULT_ERROR) -> Any:
    """A QR code carrying raw payload bytes in byte mode (for scanners that want binary)."""
    return segno.make(bytes(data), error=error.value, micro=False, mode="byte")


def qr_version(code: Any) -> int:
    """The symbol version (1–40) segno chose."""
    return int(code.version)


def render_png(code: Any, *, scale: int = 8, border: int = 4) -> bytes:
    """PNG bytes of ``code`` (``scale`` pixels per module, ``border`` modules of quiet zone)."""
    buffer = io.BytesIO()
    code.save(buffer, kind="png", scale=scale, border=border)
    return buffer.getvalue()


def render_svg(code: Any, *, scale: int = 8, border: int = 4) -> bytes:
    """SVG bytes of ``code``."""
    buffer = io.BytesIO()
    code.save(buffer, kind="svg", scale=scale, border=border, light="white", xmldecl=True)
    return buffer.getvalue()


def write_qr(code: Any, path: Path, *, scale: int = 8) -> None:
    """Write ``code`` as PNG or SVG, chosen by the file suffix."""
    suffix = path.suffix.lower()
    if suffix == ".png":
        path.write_bytes(render_png(code, scale=scale))
    elif suffix == ".svg":
        path.write_bytes(render_svg(code, scale=scale))
    else:
        raise UnsupportedQrFormat("QR output must end in .png or .svg")


__all__ = [
    "DEFAULT_ERROR",
    "PRINT_ERROR",
    "ErrorCorrection",
    "qr_for_bytes",
    "qr_for_link",
    "qr_version",
    "render_png",
    "render_svg",
    "write_qr",
]

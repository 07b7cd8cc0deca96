"""Input and output helpers shared by the CLI commands."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from ..encoding import TextEncoding, decode
from ..errors import InvalidInviteEncoding


def read_source(source: str) -> bytes:
    """Bytes from a file path, or from standard input when ``source`` is ``-``."""
    if source == "-":
        return sys.stdin.buffer.read()
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {source}")
    return path.read_bytes()


def read_binary(source: str, encoding: str = "raw") -> bytes:
    """Binary input: raw file bytes, or a file/stdin holding hex, base64url or base32 text."""
    data = read_source(source)
    if encoding == "raw":
        return data
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise InvalidInviteEncoding(f"input is not {encoding} text") from None
    return decode(text, TextEncoding(encoding))


def emit_json(value: Any) -> None:
    """Print ``value`` as indented JSON."""
    print(json.dumps(value, indent=2, sort_keys=False))


__all__ = [
    "emit_json",
    "read_binary",
    "read_source",
]

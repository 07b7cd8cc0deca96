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


def _lines(value: Any, prefix: str) -> list[str]:
    if isinstance(value, dict):
        out: list[str] = []
        for key, item in value.items():
            out.extend(_lines(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list) and any(isinstance(v, dict | list) for v in value):
        out = []
        for i, item in enumerate(value):
            out.extend(_lines(item, f"{prefix}[{i}]"))
        return out
    if isinstance(value, list):
        return [f"{prefix}: {', '.join(str(v) for v in value) or '-'}"]
    return [f"{prefix}: {'-' if value is None else value}"]


def emit_result(value: dict[str, Any], as_json: bool) -> None:
    """Print a command's result: JSON with ``--json``, else one ``name: value`` line each."""
    if as_json:
        emit_json(value)
        return
    for line in _lines(value, ""):
        print(line)


__all__ = [
    "emit_json",
    "emit_result",
    "read_binary",
    "read_source",
]

"""Input and output helpers shared by the CLI commands."""

from __future__ import annotations

import enum
import json
import os
import stat
import sys
from typing import Any

from ..encoding import TextEncoding, decode
from ..errors import InvalidInviteEncoding
from ..link import MAX_INVITE_TEXT
from ..policy import MAX_POLICY_BYTES, ExternalCommitPolicy, parse_policy_entry
from ..selection import DEFAULT_MAX_BLOB_BYTES
from . import render

_MIB = 1 << 20


class Input(enum.Enum):
    """What a CLI input is, and so the most bytes it may hold (raw, before any decoding).

    Every file or standard input the CLI reads goes through :func:`read_source` with one of
    these; nothing is read past the cap (a larger file is refused from its size, before a
    byte of it is read).
    """

    #: An MLSMessage(GroupInfo): the largest XMTP GroupInfo (1,000 members on X-Wing) is
    #: about 1.4 MB; a larger one could not be sealed into a blob a service accepts.
    GROUP_INFO = ("GroupInfo", 4 * _MIB)
    #: An MLSMessage(PublicMessage) commit (its update path is at most GroupInfo-sized).
    COMMIT = ("commit", 4 * _MIB)
    #: A sealed blob: the largest the client accepts from a service.
    BLOB = ("blob", DEFAULT_MAX_BLOB_BYTES)
    #: A policy entry (the library refuses larger ones).
    POLICY = ("policy entry", MAX_POLICY_BYTES)
    #: An invite: link or encoded payload text.
    INVITE = ("invite", MAX_INVITE_TEXT)
    #: ``inspect``: any of the above.
    ANY = ("input to inspect", 4 * _MIB)

    @property
    def label(self) -> str:
        """What the input is, for messages."""
        return str(self.value[0])

    @property
    def cap(self) -> int:
        """The most bytes read for this input."""
        return int(self.value[1])

    def text_cap(self, encoding: str) -> int:
        """The cap for the input written as text in ``encoding`` (hex doubles the bytes;
        room for line breaks)."""
        return self.cap if encoding == "raw" else 2 * self.cap + 4096


class InputRefused(ValueError):
    """An input the CLI will not read: not a regular file, or larger than its cap."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


_NOT_REGULAR = (
    (stat.S_ISDIR, render.DIRECTORY),
    (stat.S_ISFIFO, render.FIFO),
    (stat.S_ISCHR, render.CHAR_DEVICE),
    (stat.S_ISBLK, render.BLOCK_DEVICE),
    (stat.S_ISSOCK, render.SOCKET),
)


def _too_large(what: Input, where: str, cap: int) -> InputRefused:
    return InputRefused("input-too-large", render.too_large(where, what.label, cap))


def _read_capped(fd: int, cap: int) -> bytes | None:
    """Up to ``cap`` bytes from ``fd``; None when there are more."""
    chunks: list[bytes] = []
    size = 0
    while chunk := os.read(fd, min(1 << 16, cap + 1 - size)):
        chunks.append(chunk)
        size += len(chunk)
        if size > cap:
            return None
    return b"".join(chunks)


def read_source(source: str, what: Input, *, cap: int | None = None) -> bytes:
    """The bytes of ``source`` (a path, or ``-`` for standard input), at most ``what``'s cap
    (or ``cap``). A path that is not a regular file (a directory, FIFO, device or socket) is
    refused as ``not-a-regular-file``, an input above the cap as ``input-too-large`` — a
    regular file from its size, before it is read; nothing is ever read past the cap."""
    limit = what.cap if cap is None else cap
    if source == "-":
        data = _read_capped(sys.stdin.buffer.fileno(), limit)
        if data is None:
            raise _too_large(what, "standard input", limit)
        return data
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below
        fd = os.open(source, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise FileNotFoundError(render.no_such_file(source)) from None
    except IsADirectoryError:
        raise InputRefused(
            "not-a-regular-file", render.is_not_regular(source, render.DIRECTORY)
        ) from None
    try:
        info = os.fstat(fd)
        for test, kind in _NOT_REGULAR:
            if test(info.st_mode):
                raise InputRefused("not-a-regular-file", render.is_not_regular(source, kind))
        if not stat.S_ISREG(info.st_mode):
            raise InputRefused("not-a-regular-file", render.not_regular_file(source))
        if info.st_size > limit:
            raise _too_large(what, source, limit)
        os.set_blocking(fd, True)
        data = _read_capped(fd, limit)
    finally:
        os.close(fd)
    if data is None:  # it grew while being read
        raise _too_large(what, source, limit)
    return data


def read_binary(source: str, what: Input, encoding: str = "raw") -> bytes:
    """Binary input: raw file bytes, or a file/stdin holding hex, base64url or base32 text
    (read within ``what``'s cap, see :func:`read_source`)."""
    data = read_source(source, what, cap=what.text_cap(encoding))
    if encoding == "raw":
        return data
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise InvalidInviteEncoding(render.not_encoded_as(encoding)) from None
    return decode(text, TextEncoding(encoding))


def read_text(source: str, what: Input) -> str:
    """Text input (``-`` for standard input) within ``what``'s cap, decoded as UTF-8."""
    try:
        return read_source(source, what).decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInviteEncoding(render.NOT_UTF8) from None


def read_policy(source: str, encoding: str = "raw") -> ExternalCommitPolicy:
    """The policy entry in ``source`` (a path, or ``-`` for standard input; raw bytes, or
    text in ``encoding``), read within :attr:`Input.POLICY`'s cap and parsed: the one way
    every command reads a policy file."""
    return parse_policy_entry(read_binary(source, Input.POLICY, encoding)).policy


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
    "Input",
    "InputRefused",
    "emit_json",
    "emit_result",
    "read_binary",
    "read_policy",
    "read_source",
    "read_text",
]

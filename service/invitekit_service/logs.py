"""Structured JSON logs on stderr.

Invariants: every line the process writes through :mod:`logging` is one JSON object, never
a traceback. Callers of :func:`event` pass only metadata — route names, status codes, sizes,
timings, slot *tags* (a 12-hex-digit hash prefix), never bodies, keys, signatures or slot
ids. Records from libraries (aiohttp, asyncio, warnings) may quote request bytes in their
arguments or text, so only their constant ``%``-template (or a known constant message) and
the exception's type name are written.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

LOGGER_NAME = "invitekit.service"
#: Library loggers whose messages are process management only (pids, signals, addresses),
#: never request bytes: written whole. gunicorn's arbiter and worker lifecycle.
_TRUSTED_LOGGERS = frozenset({"gunicorn.error"})
#: Library messages without arguments that are known constants (written verbatim).
_CONSTANT_MESSAGES = frozenset(
    {
        "Unhandled exception",
        "Task exception was never retrieved",
        "Error handling request",
        "Missing return statement on request handler",
    }
)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, and the record's ``fields``."""

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as compact JSON."""
        ours = record.name == LOGGER_NAME or record.name.startswith(LOGGER_NAME + ".")
        trusted = ours or record.name in _TRUSTED_LOGGERS
        out: dict[str, Any] = {
            "ts": round(record.created, 6),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage() if trusted else _library_message(record),
        }
        fields = getattr(record, "fields", None)
        if ours and isinstance(fields, dict):
            out.update(fields)
        if record.exc_info and record.exc_info[0] is not None:
            out["exc_type"] = record.exc_info[0].__name__
        return json.dumps(out, separators=(",", ":"), default=str)


def _library_message(record: logging.LogRecord) -> str:
    template = record.msg if isinstance(record.msg, str) else ""
    if record.args or template in _CONSTANT_MESSAGES:
        return template
    return "library message (text withheld)"


def _install(logger: logging.Logger) -> None:
    if not any(getattr(h, "_invitekit", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        handler._invitekit = True  # type: ignore[attr-defined]
        logger.addHandler(handler)


def configure(level: str) -> logging.Logger:
    """Install the JSON handler on the service logger (idempotent)."""
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(level.upper())
    logger.propagate = False
    _install(logger)
    return logger


def configure_process(level: str) -> logging.Logger:
    """:func:`configure`, and make every other record of this process (aiohttp, asyncio,
    warnings) a sanitised JSON line on stderr too. For the service's own processes only."""
    logger = configure(level)
    root = logging.getLogger()
    for existing in list(root.handlers):
        if not getattr(existing, "_invitekit", False) and _is_plain_stderr(existing):
            root.removeHandler(existing)
    _install(root)
    if root.level == logging.NOTSET or root.level > logging.WARNING:
        root.setLevel(logging.WARNING)
    logging.captureWarnings(True)
    return logger


def _is_plain_stderr(handler: logging.Handler) -> bool:
    return isinstance(handler, logging.StreamHandler) and getattr(handler, "stream", None) in (
        sys.stderr,
        sys.__stderr__,
    )


def service_logger() -> logging.Logger:
    """The service's logger (configured by :func:`configure`)."""
    return logging.getLogger(LOGGER_NAME)


def event(logger: logging.Logger, msg: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log ``msg`` with structured ``fields`` (metadata only, see module doc)."""
    if logger.isEnabledFor(level):
        logger.log(level, msg, extra={"fields": fields})


def now_ns() -> int:
    """Wall-clock nanoseconds (the service's only clock)."""
    return time.time_ns()

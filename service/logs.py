"""Structured JSON logs on stderr.

Invariant: callers pass only metadata — route names, status codes, sizes, timings, slot
*tags* (a 12-hex-digit hash prefix). Never bodies, keys, signatures or slot ids.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

LOGGER_NAME = "invitekit.service"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, and the record's ``fields``."""

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as compact JSON."""
        out: dict[str, Any] = {
            "ts": round(record.created, 6),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            out.update(fields)
        if record.exc_info and record.exc_info[0] is not None:
            out["exc_type"] = record.exc_info[0].__name__
        return json.dumps(out, separators=(",", ":"), default=str)


def configure(level: str) -> logging.Logger:
    """Install the JSON handler on the service logger (idempotent)."""
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(level.upper())
    logger.propagate = False
    if not any(getattr(h, "_invitekit", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        handler._invitekit = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    return logger


def event(logger: logging.Logger, msg: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log ``msg`` with structured ``fields`` (metadata only, see module doc)."""
    if logger.isEnabledFor(level):
        logger.log(level, msg, extra={"fields": fields})


def now_ns() -> int:
    """Wall-clock nanoseconds (the service's only clock)."""
    return time.time_ns()

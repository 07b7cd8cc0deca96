"""``invitekit-service``: flags, settings, start-up checks, then one process or gunicorn.

Every setting of :class:`invitekit_service.config.Settings` is a flag (``--max-body-bytes
65536``, ``--no-rate-limits-enabled``), an environment variable
(``INVITEKIT_SERVICE_MAX_BODY_BYTES``) or a key of the TOML file given by ``--config``; flags
win over the environment, which wins over the file. Every start-up failure (bad settings, a
config file that cannot be used, a database that cannot be prepared, an address that cannot
be bound) is one line on stderr and status 2.
"""

from __future__ import annotations

import argparse
import errno
import os
import signal
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from pydantic import ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import SettingsError as PydanticSettingsError

from invitekit import __version__

from . import logs, metrics
from .config import CONFIG_FORMAT, ENV_PREFIX, Settings, SettingsError, one_line
from .connections import raise_descriptor_limit
from .storage import StorageUnavailable, prepare_database
from .workers import bind, bind_metrics, run_gunicorn, run_one

PROG = "invitekit-service"
REFERENCE = "docs/operator-settings.md"


def flag_of(name: str) -> str:
    """The command-line flag of a settings field (booleans also have ``--no-…``)."""
    return "--" + name.replace("_", "-")


def env_of(name: str) -> str:
    """The environment variable of a settings field."""
    return ENV_PREFIX + name.upper()


def default_text(info: FieldInfo) -> str:
    """A field's real default as an operator would write it (factories called)."""
    default = info.get_default(call_default_factory=True)
    if isinstance(default, list):
        return ",".join(str(v) for v in default)
    if isinstance(default, bool):
        return "true" if default else "false"
    return "none" if default is None else str(default)


class _OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line on stderr and status 2."""

    def error(self, message: str) -> NoReturn:
        """Print ``invitekit-service: error: usage: …`` and exit 2."""
        self.exit(2, f"{PROG}: error: usage: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """One flag per settings field; unspecified flags fall through to env/file/defaults."""
    parser = _OneLineParser(
        prog=PROG,
        description="XIP-82 blob service: keyed lanes and open slots (SQLite or PostgreSQL).",
        epilog=(
            f"Every setting is also an environment variable {ENV_PREFIX}<NAME> (for example"
            f" {ENV_PREFIX}PORT=9000) and a top-level key of the {CONFIG_FORMAT} file given by"
            f" --config or {ENV_PREFIX}CONFIG (for example: port = 9000). Flags win over the"
            f" environment, which wins over the file. Reference: {REFERENCE}."
        ),
        argument_default=argparse.SUPPRESS,
    )
    parser.add_argument(
        "--version", action="version", version=f"{PROG} {__version__}",
        help="print the version and exit",
    )
    for name, info in Settings.model_fields.items():
        help_text = f"{info.description}; default: {default_text(info)}"
        if info.annotation is bool:
            parser.add_argument(
                flag_of(name), dest=name, action=argparse.BooleanOptionalAction, help=help_text
            )
        else:
            parser.add_argument(flag_of(name), dest=name, metavar=name.upper(), help=help_text)
    return parser


def load_settings(argv: Sequence[str] | None = None) -> Settings:
    """Settings from flags, environment and config file."""
    args: dict[str, Any] = vars(build_parser().parse_args(argv))
    return Settings(**args)


def _fail(what: str, detail: str) -> int:
    print(f"{PROG}: error: {what}: {detail}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point."""
    try:
        settings = load_settings(argv)
        settings.read_metrics_token()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}"
            for err in exc.errors()
        )
        return _fail("invalid-settings", problems)
    except (SettingsError, PydanticSettingsError) as exc:  # a file, or a value's syntax
        return _fail("invalid-settings", one_line(exc, with_filename=True))
    logs.configure_process(settings.log_level)
    raise_descriptor_limit()
    # A file-size limit must turn into a write error (a clean 503), not kill the process.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:
        prepare_database(settings.database)
    except (ValueError, OSError, StorageUnavailable) as exc:
        return _fail("database", one_line(exc, with_filename=True))
    address = f"{settings.host}:{settings.port}"
    try:
        sockets = bind(settings.host, settings.port)
        address = settings.metrics_listen or address
        metrics_sockets = bind_metrics(settings)
    except OSError as exc:
        what = "port-in-use" if exc.errno == errno.EADDRINUSE else "cannot-listen"
        return _fail(what, f"{address}: {one_line(exc, with_filename=True)}")
    try:
        metrics_dir = settings.metrics_dir or Path(tempfile.mkdtemp(prefix="invitekit-metrics-"))
        metrics.enable_multiprocess(metrics_dir)
    except OSError as exc:
        return _fail("metrics-dir", one_line(exc, with_filename=True))
    arbiter = os.getpid()
    logs.event(
        logs.service_logger(),
        "listening",
        host=settings.host,
        port=sockets[0].getsockname()[1],
        metrics=settings.metrics_listen,
        workers=settings.workers,
        pid=arbiter,
    )
    try:
        if settings.workers == 1:
            return start_or_explain(settings, sockets, metrics_sockets)
        return run_gunicorn(settings, sockets, metrics_sockets)
    finally:
        if os.getpid() == arbiter:  # a gunicorn worker leaves through here too
            metrics.disable_multiprocess(remove=settings.metrics_dir is None)


def start_or_explain(settings: Settings, sockets: Any, metrics_sockets: Any) -> int:
    """Run one worker in this process; a start-up failure is one line and status 2."""
    try:
        run_one(settings, sockets, metrics_sockets)
    except Exception as exc:  # any start-up failure: one line, never a traceback
        return _fail("start-up", f"{type(exc).__name__}: {one_line(exc, with_filename=True)}")
    return 0


__all__ = ["build_parser", "default_text", "env_of", "flag_of", "load_settings", "main"]

"""``invitekit-service``: run the blob service (one process, or several sharing the port).

Every setting of :class:`invitekit_service.config.Settings` is a flag (``--max-body-bytes 65536``,
``--no-rate-limits-enabled``), an environment variable (``INVITEKIT_SERVICE_MAX_BODY_BYTES``)
or a key in the TOML file given by ``--config``; flags win over the environment, which wins
over the file.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import errno
import logging
import multiprocessing
import multiprocessing.process
import os
import resource
import signal
import sys
import time
from collections import deque
from collections.abc import Sequence
from multiprocessing.connection import wait
from typing import Any, NoReturn

import uvloop
from aiohttp import web
from pydantic import ValidationError
from pydantic.fields import FieldInfo

from . import logs
from .app import create_app
from .config import Settings
from .connections import (
    ConnectionGuard,
    default_max_connections,
    install,
    raise_descriptor_limit,
)
from .storage import StorageUnavailable, prepare_database

_PR_SET_PDEATHSIG = 1


def _help_text(info: FieldInfo) -> str:
    """The field's description (if any) and its real default (default factories called)."""
    default = info.get_default(call_default_factory=True)
    if isinstance(default, list):
        default = ",".join(str(v) for v in default)
    shown = "none" if default is None else default
    return f"{info.description}; default: {shown}" if info.description else f"default: {shown}"


class _OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line on stderr and status 2."""

    def error(self, message: str) -> NoReturn:
        """Print ``invitekit-service: error: usage: …`` and exit 2."""
        self.exit(2, f"invitekit-service: error: usage: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """One flag per settings field; unspecified flags fall through to env/file/defaults."""
    parser = _OneLineParser(
        prog="invitekit-service",
        description="XIP-82 blob service: keyed lanes and open slots (SQLite or PostgreSQL).",
        argument_default=argparse.SUPPRESS,
    )
    for name, info in Settings.model_fields.items():
        flag = "--" + name.replace("_", "-")
        help_text = _help_text(info)
        if info.annotation is bool:
            parser.add_argument(
                flag, dest=name, action=argparse.BooleanOptionalAction, help=help_text
            )
        else:
            parser.add_argument(flag, dest=name, metavar=name.upper(), help=help_text)
    return parser


def load_settings(argv: Sequence[str] | None = None) -> Settings:
    """Settings from flags, environment and config file."""
    args: dict[str, Any] = vars(build_parser().parse_args(argv))
    if "digest_lengths" in args:
        args["digest_lengths"] = [int(v) for v in str(args["digest_lengths"]).split(",") if v]
    return Settings(**args)


async def serve(
    settings: Settings, *, index: int = 0, reuse_port: bool = False, parent: int | None = None
) -> None:
    """Run one worker until SIGTERM/SIGINT (or until ``parent`` dies); worker 0 also runs GC.

    Connections pass through :class:`~invitekit_service.connections.ConnectionGuard`
    (connection bound, head deadline); aiohttp's keep-alive timer is the idle timeout.
    """
    logger = logs.configure_process(settings.log_level)
    soft_limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    guard = ConnectionGuard(
        max_connections=settings.max_connections or default_max_connections(soft_limit),
        header_timeout_s=settings.header_timeout_s,
    )
    app = create_app(settings, run_gc=index == 0)
    install(app, guard)
    protocol_options: dict[str, Any] = {
        "keepalive_timeout": settings.idle_timeout_s,
        "lingering_time": min(2.0, settings.body_timeout_s),
        "access_log": None,
    }
    runner = web.AppRunner(app, handle_signals=False, **protocol_options)
    await runner.setup()
    loop = asyncio.get_running_loop()
    assert runner.server is not None
    try:
        server = await loop.create_server(
            guard.factory(runner.server, **protocol_options),
            settings.host,
            settings.port,
            reuse_port=reuse_port or None,
            backlog=2048,
        )
    except BaseException:
        await runner.cleanup()  # close the store: its threads must not keep the process up
        raise
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    watch = None if parent is None else asyncio.create_task(_watch_parent(parent, stop))
    logs.event(
        logger,
        "listening",
        host=settings.host,
        port=settings.port,
        worker=index,
        pid=os.getpid(),
        max_connections=guard.max_connections,
    )
    try:
        await stop.wait()
    finally:
        if watch is not None:
            watch.cancel()
        server.close()
        guard.close()
        await runner.cleanup()
        logs.event(logger, "stopped", worker=index)


async def _watch_parent(parent: int, stop: asyncio.Event) -> None:
    """Stop when the supervisor is gone (the portable twin of PR_SET_PDEATHSIG)."""
    while os.getppid() == parent:
        await asyncio.sleep(1.0)
    stop.set()


def _die_with_parent(parent: int) -> None:
    """Ask Linux to SIGTERM this process when its parent dies; exit if it already has."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(0)


def _run(settings: Settings, index: int, reuse_port: bool, parent: int | None = None) -> None:
    if parent is not None:
        _die_with_parent(parent)
    uvloop.run(serve(settings, index=index, reuse_port=reuse_port, parent=parent))


def _prepare_storage(settings: Settings) -> None:
    prepare_database(settings.database)


class _Supervisor:
    """Runs ``workers`` processes on one port (SO_REUSEPORT) and keeps them running.

    Invariants: a worker that dies is restarted, at most ``worker_max_restarts`` times per
    ``worker_restart_window_s``; past that the supervisor stops the others and exits 1.
    SIGTERM/SIGINT stop every worker and exit 0. Workers die with the supervisor (they ask
    the kernel for SIGTERM on its death, and watch their parent id).
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.ctx = multiprocessing.get_context("fork")
        self.pid = os.getpid()
        self.workers: dict[int, multiprocessing.process.BaseProcess] = {}
        self.restarts: deque[float] = deque()
        self.stopping = False
        self.logger = logs.configure_process(settings.log_level)

    def _spawn(self, index: int) -> None:
        proc = self.ctx.Process(
            target=_run,
            args=(self.settings, index, True, self.pid),
            name=f"worker-{index}",
            daemon=False,
        )
        proc.start()
        self.workers[index] = proc
        logs.event(self.logger, "worker started", worker=index, pid=proc.pid)

    def _signal(self, signum: int) -> None:
        for proc in self.workers.values():
            if proc.is_alive() and proc.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signum)

    def _on_signal(self, signum: int, _frame: object) -> None:
        self.stopping = True
        self._signal(signum)

    def _may_restart(self) -> bool:
        now = time.monotonic()
        window = self.settings.worker_restart_window_s
        while self.restarts and now - self.restarts[0] > window:
            self.restarts.popleft()
        if len(self.restarts) >= self.settings.worker_max_restarts:
            return False
        self.restarts.append(now)
        return True

    def run(self) -> int:
        """Supervise until a signal (0) or too many worker deaths (1)."""
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        exit_code = 0
        try:
            for index in range(self.settings.workers):
                self._spawn(index)
            while not self.stopping:
                wait([p.sentinel for p in self.workers.values()], timeout=1.0)
                if self.stopping:
                    break
                for index, proc in list(self.workers.items()):
                    if proc.is_alive():
                        continue
                    proc.join()
                    logs.event(
                        self.logger,
                        "worker exited",
                        logging.WARNING,
                        worker=index,
                        exitcode=proc.exitcode,
                    )
                    if not self._may_restart():
                        logs.event(self.logger, "giving up: workers keep dying", logging.ERROR)
                        self.stopping = True
                        exit_code = 1
                        break
                    self._spawn(index)
        finally:
            self._signal(signal.SIGTERM)
            for proc in self.workers.values():
                proc.join(timeout=10)
                if proc.is_alive():
                    proc.kill()
                    proc.join(timeout=5)
        return exit_code


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point."""
    try:
        settings = load_settings(argv)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}"
            for err in exc.errors()
        )
        print(f"invitekit-service: error: invalid-settings: {problems}", file=sys.stderr)
        return 2
    raise_descriptor_limit()
    # A file-size limit must turn into a write error (a clean 503), not kill the process.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:
        _prepare_storage(settings)
    except (ValueError, OSError, StorageUnavailable) as exc:
        print(f"invitekit-service: error: database: {_one_line(exc)}", file=sys.stderr)
        return 2
    if settings.workers > 1:
        if settings.port == 0:
            print("invitekit-service: --workers > 1 needs a fixed --port", file=sys.stderr)
            return 2
        return _Supervisor(settings).run()
    return start_or_explain(settings)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def start_or_explain(settings: Settings) -> int:
    """Run one worker; a start-up failure is one line on stderr and status 2, no traceback.

    A busy port, an address that cannot be bound, a store that cannot start: the process
    exits cleanly (the store is closed first, so no thread keeps it alive).
    """
    try:
        _run(settings, 0, False)
    except OSError as exc:
        what = "port-in-use" if exc.errno == errno.EADDRINUSE else "cannot-listen"
        reason = exc.strerror or _one_line(exc)
        print(
            f"invitekit-service: error: {what}: {settings.host}:{settings.port}: {reason}",
            file=sys.stderr,
        )
        return 2
    except Exception as exc:  # any other start-up failure: one line, never a traceback
        print(f"invitekit-service: error: start-up: {type(exc).__name__}: {_one_line(exc)}",
              file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""``invitekit-service``: run the blob service (one process, or several sharing the port).

Every setting of :class:`service.config.Settings` is a flag (``--max-body-bytes 65536``,
``--no-rate-limits-enabled``), an environment variable (``INVITEKIT_SERVICE_MAX_BODY_BYTES``)
or a key in the TOML file given by ``--config``; flags win over the environment, which wins
over the file.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import signal
import sys
from collections.abc import Sequence
from multiprocessing.connection import wait
from typing import Any

import uvloop
from aiohttp import web
from pydantic import ValidationError

from . import logs
from .app import create_app
from .config import Settings
from .storage import StorageUnavailable, prepare_database


def build_parser() -> argparse.ArgumentParser:
    """One flag per settings field; unspecified flags fall through to env/file/defaults."""
    parser = argparse.ArgumentParser(
        prog="invitekit-service",
        description="XIP-82 blob service: keyed lanes and open slots (SQLite or PostgreSQL).",
        argument_default=argparse.SUPPRESS,
    )
    for name, info in Settings.model_fields.items():
        flag = "--" + name.replace("_", "-")
        help_text = info.description or f"default: {info.default!r}"
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


async def serve(settings: Settings, *, index: int = 0, reuse_port: bool = False) -> None:
    """Run one worker until SIGTERM/SIGINT; worker 0 also runs garbage collection."""
    logger = logs.configure(settings.log_level)
    app = create_app(settings, run_gc=index == 0)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(
        runner, settings.host, settings.port, reuse_port=reuse_port or None, backlog=2048
    )
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    logs.event(
        logger, "listening", host=settings.host, port=settings.port, worker=index, pid=os.getpid()
    )
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        logs.event(logger, "stopped", worker=index)


def _run(settings: Settings, index: int, reuse_port: bool) -> None:
    uvloop.run(serve(settings, index=index, reuse_port=reuse_port))


def _prepare_storage(settings: Settings) -> None:
    prepare_database(settings.database)


def _supervise(settings: Settings) -> int:
    """Fork ``workers`` processes bound with SO_REUSEPORT; stop all when one stops."""
    ctx = multiprocessing.get_context("fork")
    procs = [
        ctx.Process(target=_run, args=(settings, i, True), name=f"worker-{i}", daemon=False)
        for i in range(settings.workers)
    ]
    for proc in procs:
        proc.start()

    def _forward(signum: int, _frame: object) -> None:
        for proc in procs:
            if proc.is_alive() and proc.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signum)

    signal.signal(signal.SIGTERM, _forward)
    signal.signal(signal.SIGINT, _forward)
    exit_code = 0
    try:
        sentinels = {p.sentinel: p for p in procs}
        first = wait(list(sentinels))
        exit_code = sentinels[first[0]].exitcode or 0  # type: ignore[index]
    finally:
        _forward(signal.SIGTERM, None)
        for proc in procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
    return exit_code


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point."""
    try:
        settings = load_settings(argv)
    except ValidationError as exc:
        print(f"invitekit-service: invalid settings:\n{exc}", file=sys.stderr)
        return 2
    try:
        _prepare_storage(settings)
    except (ValueError, OSError, StorageUnavailable) as exc:
        print(f"invitekit-service: cannot open database: {exc}", file=sys.stderr)
        return 2
    if settings.workers > 1:
        if settings.port == 0:
            print("invitekit-service: --workers > 1 needs a fixed --port", file=sys.stderr)
            return 2
        return _supervise(settings)
    _run(settings, 0, False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

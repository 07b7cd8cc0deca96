"""Shared pieces of the reliability suite: profiles, storage backends, service processes.

A **profile** bounds every run. The CI profile (the default, collected by the normal pytest
run) keeps each test to seconds; ``scripts/reliability.sh`` sets ``RELIABILITY_SECONDS``,
``RELIABILITY_EXAMPLES`` or ``RELIABILITY_SCALE`` for the longer runs, and
``RELIABILITY_OUT`` names a directory where each run writes its figures as JSON (the
numbers RELIABILITY.md quotes).

A **backend** names a database for a real ``invitekit-service`` process, checks its
integrity, and (for a database server) restarts that server under load. SQLite is always
there; a PostgreSQL backend plugs in by implementing the same three methods.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import aiohttp

from invitekit.blob import parse_blob
from tests.integration.service.support import REPO, ServiceProcess

OUT_ENV = "RELIABILITY_OUT"


def env_float(name: str, default: float) -> float:
    """A numeric knob of the profile (``default`` is the CI budget)."""
    raw = os.environ.get(name)
    return float(raw) if raw else default


def env_int(name: str, default: int) -> int:
    """An integer knob of the profile."""
    raw = os.environ.get(name)
    return int(raw) if raw else default


def record_figures(name: str, figures: dict[str, Any]) -> None:
    """Print the run's figures and, when ``RELIABILITY_OUT`` is set, keep them as JSON."""
    line = json.dumps({"run": name, **figures}, sort_keys=True)
    print(line)
    out = os.environ.get(OUT_ENV)
    if out:
        path = Path(out)
        path.mkdir(parents=True, exist_ok=True)
        (path / f"{name}.json").write_text(line + "\n")


def fields_identity(body: bytes) -> str:
    """The five-field identity of a blob (nonce, ciphertext, epoch, digest, expiry), computed
    by the test from the library's parse — independent of the service's coalescing key."""
    blob = parse_blob(body).blob
    h = hashlib.sha256()
    for part in (
        blob.epoch.to_bytes(8, "big"),
        blob.expires_at_ns.to_bytes(8, "big"),
        blob.group_state_hash,
        blob.nonce,
        blob.ciphertext,
    ):
        h.update(len(part).to_bytes(4, "big") + part)
    return h.hexdigest()


class Backend(Protocol):
    """A storage backend the reliability runs are parametrised over."""

    name: str
    has_server: bool  # a database server that restart_server() can crash and restart

    def database_url(self, directory: Path) -> str:
        """The ``--database`` URL of a fresh database for one service."""

    def integrity_check(self, database_url: str) -> None:
        """Raise ``AssertionError`` unless the database is internally consistent."""

    async def restart_server(self) -> bool:
        """Restart the database server under load; False when there is no server."""


@dataclass
class SqliteBackend:
    """Real SQLite files (WAL, ``synchronous=FULL``) in the test's directory."""

    name: str = "sqlite"
    has_server: bool = False

    def database_url(self, directory: Path) -> str:
        return f"sqlite:///{directory / 'blobs.sqlite3'}"

    def integrity_check(self, database_url: str) -> None:
        path = database_url.removeprefix("sqlite:///")
        conn = sqlite3.connect(path, timeout=30)
        try:
            rows = conn.execute("PRAGMA integrity_check").fetchall()
        finally:
            conn.close()
        assert rows == [("ok",)], rows

    async def restart_server(self) -> bool:
        return False


@dataclass
class PostgresBackend:
    """A fresh database per service on a real, private PostgreSQL server (started by
    ``tests/integration/service/pg_local.py``); :meth:`restart_server` crashes the server (``pg_ctl
    stop -m immediate``: no shutdown checkpoint, recovery from the WAL) and starts it again
    while the clients keep writing."""

    server: Any
    name: str = "postgres"
    has_server: bool = True
    restarts: int = 0

    @staticmethod
    def dbname(database_url: str) -> str:
        return database_url.rsplit("/", 1)[1].split("?", 1)[0]

    def database_url(self, directory: Path) -> str:
        return str(self.server.create_database())

    def integrity_check(self, database_url: str) -> None:
        """amcheck over every B-tree index of the schema, and no blob without its slot."""
        db = self.dbname(database_url)
        self.server.psql("CREATE EXTENSION IF NOT EXISTS amcheck", dbname=db)
        self.server.psql(
            "SELECT bt_index_check(c.oid, true) FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam "
            "WHERE a.amname = 'btree' AND c.relnamespace = 'public'::regnamespace",
            dbname=db,
        )
        orphans = self.server.psql(
            "SELECT count(*) FROM blobs b WHERE NOT EXISTS "
            "(SELECT 1 FROM slots s WHERE s.id = b.slot_ref)",
            dbname=db,
        )
        assert int(orphans.strip()) == 0, orphans

    async def restart_server(self) -> bool:
        def crash_and_start() -> None:
            import subprocess

            subprocess.run(
                self.server._cmd("pg_ctl", "-D", str(self.server.data), "-m", "immediate",
                                 "-w", "stop"),
                capture_output=True, timeout=120, check=True,
            )
            self.server._start()

        await asyncio.to_thread(crash_and_start)
        self.restarts += 1
        return True


_POSTGRES: list[Any] = []


def postgres_server() -> Any:
    """The session's private PostgreSQL server (started on first use, stopped at exit)."""
    if not _POSTGRES:
        import atexit

        from tests.integration.service.pg_local import LocalPostgres

        server = LocalPostgres.start(fsync=True)  # durability is what the runs claim
        atexit.register(server.stop)
        _POSTGRES.append(server)
    return _POSTGRES[0]


def available_backends() -> str:
    """Every backend this checkout has: SQLite, and PostgreSQL once its backend is in."""
    has_postgres = (REPO / "service" / "invitekit_service" / "storage" / "postgres.py").exists()
    return "sqlite,postgres" if has_postgres else "sqlite"


def backend_named(name: str) -> Backend:
    """The backend for a ``--backend``/param name."""
    if name == "sqlite":
        return SqliteBackend()
    if name in ("postgres", "postgresql"):
        return PostgresBackend(postgres_server())
    raise LookupError(f"no reliability backend named {name!r}")


@dataclass
class Service:
    """A real ``invitekit-service`` on 127.0.0.1 that can be killed and restarted."""

    backend: Backend
    workdir: Path
    extra: list[str] = field(default_factory=list)
    prefix: list[str] = field(default_factory=list)
    database_url: str = ""
    kills: int = 0

    def __post_init__(self) -> None:
        self.database_url = self.database_url or self.backend.database_url(self.workdir)
        self.proc = ServiceProcess(
            self.database_url, self.workdir, list(self.extra), prefix=list(self.prefix)
        )

    @property
    def base_url(self) -> str:
        return self.proc.base_url

    @property
    def pid(self) -> int:
        assert self.proc.proc is not None
        return self.proc.proc.pid

    def start(self, *, ready: bool = True) -> Service:
        self.proc.start(ready=ready)
        return self

    async def astart(self) -> None:
        """Start (or restart on the same port) without blocking the event loop."""
        await asyncio.to_thread(self.proc.start)

    def kill9(self) -> None:
        self.proc.kill9()
        self.kills += 1

    def stop(self) -> None:
        self.proc.stop()

    def alive(self) -> bool:
        return self.proc.proc is not None and self.proc.proc.poll() is None

    def log_text(self) -> str:
        """Everything every incarnation of the process wrote (stdout and stderr)."""
        return "".join(
            p.read_text(errors="replace") for p in sorted(self.workdir.glob("service-*.log"))
        )


def session(limit: int = 200, timeout_s: float = 60.0) -> aiohttp.ClientSession:
    """A client session bounded in connections and time (loopback only)."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=limit),
        timeout=aiohttp.ClientTimeout(total=timeout_s),
    )


def now() -> float:
    """The history clock (monotonic seconds)."""
    return time.monotonic()


__all__ = [
    "REPO",
    "Backend",
    "PostgresBackend",
    "Service",
    "SqliteBackend",
    "available_backends",
    "backend_named",
    "env_float",
    "env_int",
    "fields_identity",
    "now",
    "record_figures",
    "session",
]

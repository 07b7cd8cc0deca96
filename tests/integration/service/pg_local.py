"""A private, real PostgreSQL server for tests and benchmarks (never a mock).

``LocalPostgres.start()`` finds the server binaries through ``scripts/setup-postgres.sh``
(which installs Debian's package when they are missing), runs ``initdb`` into a fresh
temporary directory and starts the server on a free 127.0.0.1 port and a Unix socket in that
directory, with trust authentication for the one role ``invitekit``. As root (CI) the server
runs as the unprivileged ``postgres`` user, because initdb refuses root. ``stop()`` stops the
server and deletes the directory; if the process that started it dies first (a killed test
session), a small watchdog process does the same.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
ROLE = "invitekit"

# Stops the server if the process that started it dies without calling stop() (a killed
# test session must not leave a server running): polls the owner once a second.
_WATCHDOG = """
# invitekit: a watchdog the reaper spares
import os, shutil, subprocess, sys, time
owner, root, stop = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
while os.path.exists(root):
    try:
        os.kill(owner, 0)
    except ProcessLookupError:
        subprocess.run(stop, capture_output=True, timeout=120, check=False)
        shutil.rmtree(root, ignore_errors=True)
        break
    time.sleep(1)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_bindir() -> Path:
    """The directory holding initdb/pg_ctl/postgres/psql (installing them if needed)."""
    out = subprocess.run(
        [str(REPO / "scripts" / "setup-postgres.sh")],
        capture_output=True,
        text=True,
        check=False,
        timeout=1800,
    )
    if out.returncode != 0:
        raise RuntimeError(f"PostgreSQL server binaries unavailable:\n{out.stderr}")
    return Path(out.stdout.strip().splitlines()[-1])


@dataclass
class LocalPostgres:
    """One running server; see the module doc."""

    bindir: Path
    root: Path
    port: int
    settings: dict[str, str] = field(default_factory=dict)
    _run_as: list[str] = field(default_factory=list)

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "sock"

    @classmethod
    def start(
        cls, *, fsync: bool = False, settings: dict[str, str] | None = None
    ) -> LocalPostgres:
        """initdb + start; ``fsync=False`` for tests (a crash of the server is not tested),
        ``True`` for benchmarks that report durable numbers."""
        bindir = server_bindir()
        root = Path(tempfile.mkdtemp(prefix="invitekit-pg-"))
        run_as: list[str] = []
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            run_as = ["runuser", "-u", "postgres", "--"]
            os.chown(root, user.pw_uid, user.pw_gid)
        (root / "sock").mkdir()
        if run_as:
            user = pwd.getpwnam("postgres")
            os.chown(root / "sock", user.pw_uid, user.pw_gid)
        conf = {
            "listen_addresses": "'127.0.0.1'",
            "max_connections": "300",
            "fsync": "on" if fsync else "off",
            "full_page_writes": "on" if fsync else "off",
            "synchronous_commit": "on",
            "dynamic_shared_memory_type": "mmap",
            "log_min_messages": "warning",
        }
        conf.update(settings or {})
        server = cls(bindir, root, _free_port(), conf, run_as)
        server._initdb()
        server._start()
        subprocess.Popen(
            [sys.executable, "-c", _WATCHDOG, str(os.getpid()), str(root),
             *server._cmd("pg_ctl", "-D", str(server.data), "-m", "fast", "-w", "stop")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        return server

    def _cmd(self, tool: str, *args: str) -> list[str]:
        return [*self._run_as, str(self.bindir / tool), *args]

    def _initdb(self) -> None:
        subprocess.run(
            self._cmd(
                "initdb", "-D", str(self.data), "-U", ROLE, "-A", "trust", "-E", "UTF8",
                "--locale=C", "--no-sync",
            ),
            check=True,
            capture_output=True,
            timeout=300,
        )

    def _start(self) -> None:
        for _attempt in range(5):
            lines = dict(self.settings)
            lines["port"] = str(self.port)
            lines["unix_socket_directories"] = f"'{self.socket_dir}'"
            with open(self.data / "postgresql.auto.conf", "w") as f:
                f.writelines(f"{k} = {v}\n" for k, v in lines.items())
            if self._run_as:
                user = pwd.getpwnam("postgres")
                os.chown(self.data / "postgresql.auto.conf", user.pw_uid, user.pw_gid)
            done = subprocess.run(
                self._cmd(
                    "pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"),
                    "-w", "-t", "120", "start",
                ),
                capture_output=True,
                timeout=180,
                check=False,
            )
            if done.returncode == 0:
                return
            self.port = _free_port()  # the port was taken meanwhile: try another
        raise RuntimeError(f"PostgreSQL did not start:\n{self.log_text()}")

    def log_text(self) -> str:
        with contextlib.suppress(OSError):
            return (self.root / "server.log").read_text(errors="replace")
        return ""

    def url(self, dbname: str = "postgres") -> str:
        """A TCP URL on 127.0.0.1 (what a service on another host would use)."""
        return f"postgresql://{ROLE}@127.0.0.1:{self.port}/{dbname}"

    def socket_url(self, dbname: str = "postgres") -> str:
        """The same database over the Unix socket."""
        return f"postgresql://{ROLE}@/{dbname}?host={self.socket_dir}&port={self.port}"

    def psql(self, sql: str, dbname: str = "postgres") -> str:
        """Run SQL with psql; unaligned, tuples-only output."""
        out = subprocess.run(
            [
                str(self.bindir / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                "-h", str(self.socket_dir), "-p", str(self.port), "-U", ROLE, "-d", dbname,
                "-c", sql,
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=300,
        )
        return out.stdout

    def create_database(self, name: str | None = None) -> str:
        """A fresh, empty database; returns its TCP URL."""
        dbname = name or f"t_{uuid.uuid4().hex[:16]}"
        self.psql(f'CREATE DATABASE "{dbname}"')
        return self.url(dbname)

    def stop(self) -> None:
        """Stop the server (fast shutdown) and delete its directory."""
        if self.data.exists():
            subprocess.run(
                self._cmd("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop"),
                capture_output=True,
                timeout=120,
                check=False,
            )
        shutil.rmtree(self.root, ignore_errors=True)


__all__ = ["ROLE", "LocalPostgres", "server_bindir"]

"""Fixtures for the blob-service conformance suite.

``storage_backend`` runs every test that uses it once per backend: SQLite (a file in the
test's directory) and PostgreSQL (a fresh database on the session's private server,
``postgres_server``: a real server started by this fixture — a missing server is an error,
never a skip). A :class:`Backend` opens a :class:`~invitekit_service.storage.BlobStore`
directly, names a database URL for a real ``invitekit-service`` process, and reads a
database's committed blobs for tests that check commit order.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from invitekit_service.storage import BlobStore, open_store

from .pg_local import LocalPostgres
from .support import Api, ServiceProcess


@dataclass(frozen=True)
class Backend:
    name: str
    server: LocalPostgres | None = None

    def database_url(self, directory: Path) -> str:
        """A fresh, empty database for one test or one service."""
        if self.server is not None:
            return self.server.create_database()
        return f"sqlite:///{directory / 'blobs.sqlite3'}"

    def store(self, directory: Path) -> BlobStore:
        return open_store(self.database_url(directory))

    def count(self, database_url: str, table: str) -> int:
        """Rows in one of the store's tables (``blobs`` or ``slots``)."""
        assert table in ("blobs", "slots")
        if self.server is not None:
            out = self.server.psql(
                f"SELECT count(*) FROM {table}", dbname=database_url.rsplit("/", 1)[1]
            )
            return int(out.strip())
        path = Path(database_url.removeprefix("sqlite:///"))
        with sqlite3.connect(path) as conn:
            return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])

    def committed_epochs(self, database_url: str) -> list[int]:
        """Every stored blob's epoch in commit (arrival) order."""
        if self.server is not None:
            out = self.server.psql(
                "SELECT encode(epoch, 'hex') FROM blobs ORDER BY seq",
                dbname=database_url.rsplit("/", 1)[1],
            )
            return [int(line, 16) for line in out.split()]
        path = Path(database_url.removeprefix("sqlite:///"))
        with sqlite3.connect(path) as conn:
            rows = conn.execute("SELECT epoch FROM blobs ORDER BY seq").fetchall()
        return [int.from_bytes(e, "big") for (e,) in rows]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[LocalPostgres]:
    """A real PostgreSQL server for the whole session (started here, stopped at the end)."""
    server = LocalPostgres.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def storage_backend(request: pytest.FixtureRequest) -> Backend:
    if request.param == "postgres":
        return Backend("postgres", request.getfixturevalue("postgres_server"))
    return Backend(request.param)


@pytest.fixture
async def store(storage_backend: Backend, tmp_path: Path) -> AsyncIterator[BlobStore]:
    s = storage_backend.store(tmp_path)
    await s.start()
    try:
        yield s
    finally:
        await s.close()


ServiceFactory = Callable[..., ServiceProcess]

# Small, fast limits the shared server runs with (rate limits off: they get their own server).
SHARED_ARGS = [
    "--no-rate-limits-enabled",
    "--no-access-log",
    "--max-body-bytes",
    "65536",
]


@pytest.fixture(scope="module")
def service_factory(
    storage_backend: Backend, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceFactory]:
    started: list[ServiceProcess] = []

    def make(*extra: str, database_url: str | None = None, start: bool = True) -> ServiceProcess:
        workdir = tmp_path_factory.mktemp("svc")
        url = database_url or storage_backend.database_url(workdir)
        proc = ServiceProcess(url, workdir, list(extra))
        started.append(proc)
        return proc.start() if start else proc

    yield make
    for proc in started:
        proc.stop()


@pytest.fixture(scope="module")
def shared_service(service_factory: ServiceFactory) -> ServiceProcess:
    return service_factory(*SHARED_ARGS)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
def api(shared_service: ServiceProcess, session: aiohttp.ClientSession) -> Api:
    return Api(shared_service.base_url, session)

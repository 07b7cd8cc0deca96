"""Fixtures for the blob-service conformance suite.

``storage_backend`` is the seam for further backends: each param yields a
:class:`Backend` that can open a :class:`~service.storage.BlobStore` directly and name a
database URL for a real ``invitekit-service`` process. Today it yields only SQLite; a
PostgreSQL param only has to implement the same two methods for the whole suite to run.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from service.storage import BlobStore, open_store

from .support import Api, ServiceProcess


@dataclass(frozen=True)
class Backend:
    name: str

    def database_url(self, directory: Path) -> str:
        if self.name == "sqlite":
            return f"sqlite:///{directory / 'blobs.sqlite3'}"
        raise NotImplementedError(self.name)

    def store(self, directory: Path) -> BlobStore:
        return open_store(self.database_url(directory))


@pytest.fixture(scope="session", params=["sqlite"])
def storage_backend(request: pytest.FixtureRequest) -> Backend:
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

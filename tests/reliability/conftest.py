"""Fixtures of the reliability suite: every test here is marked ``reliability`` and runs in
its bounded CI profile by default (``scripts/reliability.sh`` runs the longer ones)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .harness import Backend, Service, SqliteBackend, available_backends, backend_named

HERE = Path(__file__).parent
# every backend the checkout has (a missing PostgreSQL server is an error, never a skip)
BACKENDS = [n for n in os.environ.get("RELIABILITY_BACKENDS", available_backends()).split(",")
            if n]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.reliability)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Backend:
    """The storage backends the durability run is repeated on (the abuse tests exercise the
    HTTP layer and the SQLite files themselves, and use SQLite)."""
    return backend_named(request.param)


ServiceMaker = Callable[..., Service]


@pytest.fixture
def make_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceMaker]:
    """Start real ``invitekit-service`` processes; every one is stopped afterwards."""
    started: list[Service] = []

    def make(
        *extra: str,
        start: bool = True,
        prefix: list[str] | None = None,
        database_url: str = "",
        backend: Backend | None = None,
    ) -> Service:
        svc = Service(
            backend or SqliteBackend(),
            tmp_path_factory.mktemp("rel"),
            list(extra),
            prefix or [],
            database_url,
        )
        started.append(svc)
        return svc.start() if start else svc

    yield make
    for svc in started:
        svc.stop()

"""Storage backends behind the :class:`~invitekit_service.storage.base.BlobStore` interface.

The database URL's scheme picks the backend from :data:`BACKENDS`: ``sqlite:///path``
(embedded, one host) or ``postgresql://…`` / ``postgres://…`` (asyncpg; many processes on
many hosts). A new backend is one row there.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .base import (
    AdmitResult,
    BlobStore,
    GcReport,
    RateCounter,
    StorageUnavailable,
    StoredBlob,
)
from .postgres import PostgresBlobStore, is_postgres_url
from .sqlite import DEFAULT_RESERVE_BYTES, SqliteBlobStore, sqlite_path_from_url

__all__ = [
    "BACKENDS",
    "AdmitResult",
    "Backend",
    "BlobStore",
    "GcReport",
    "RateCounter",
    "StorageUnavailable",
    "StoreOptions",
    "StoredBlob",
    "check_database_url",
    "open_store",
    "prepare_database",
]

_URL_HELP = "database URLs look like sqlite:///path/to/file.sqlite3 or postgresql://user@host/db"


@dataclass(frozen=True, slots=True)
class StoreOptions:
    """The service's storage settings; each backend takes the ones it has a use for (the
    defaults are :func:`open_store`'s)."""

    max_batch: int
    pool_size: int
    disk_reserve_bytes: int


@dataclass(frozen=True, slots=True)
class Backend:
    """One storage backend: how it checks, opens and prepares a database URL."""

    #: Raise ``ValueError`` unless the URL is well formed for this backend.
    check: Callable[[str], None]
    #: The store (not yet started).
    open: Callable[[str, StoreOptions], BlobStore]
    #: One-off set-up before workers start (schema or migrations).
    prepare: Callable[[str], None]


def _check_sqlite(url: str) -> None:
    sqlite_path_from_url(url)


def _open_sqlite(url: str, options: StoreOptions) -> BlobStore:
    return SqliteBlobStore(
        sqlite_path_from_url(url),
        max_batch=options.max_batch,
        reserve_bytes=options.disk_reserve_bytes,
    )


def _prepare_sqlite(url: str) -> None:
    """Create the file and the schema."""
    path = sqlite_path_from_url(url)
    try:
        SqliteBlobStore.initialise_schema(path)
    except sqlite3.Error as exc:  # a directory, a read-only or missing place, not a database
        raise StorageUnavailable(f"{path}: {exc}") from exc


def _check_postgres(url: str) -> None:
    if not is_postgres_url(url):
        raise ValueError(_URL_HELP)


def _open_postgres(url: str, options: StoreOptions) -> BlobStore:
    return PostgresBlobStore(url, pool_max=options.pool_size)


def _prepare_postgres(url: str) -> None:
    """Connect and apply missing migrations (each worker checks again at start, under the
    migration lock)."""
    asyncio.run(PostgresBlobStore.prepare(url))


_SQLITE = Backend(check=_check_sqlite, open=_open_sqlite, prepare=_prepare_sqlite)
_POSTGRES = Backend(check=_check_postgres, open=_open_postgres, prepare=_prepare_postgres)

#: URL scheme (the text before the first ``:``) -> backend.
BACKENDS: Mapping[str, Backend] = {
    "sqlite": _SQLITE,
    "postgresql": _POSTGRES,
    "postgres": _POSTGRES,
}


def _backend(database_url: str) -> Backend:
    """The backend the URL's scheme names, once it has checked the URL (``ValueError``)."""
    scheme, colon, _ = database_url.partition(":")
    backend = BACKENDS.get(scheme) if colon else None
    if backend is None:
        raise ValueError(_URL_HELP)
    backend.check(database_url)
    return backend


def check_database_url(database_url: str) -> str:
    """Return the URL if a backend understands it, else raise ``ValueError``."""
    _backend(database_url)
    return database_url


def open_store(
    database_url: str,
    *,
    max_batch: int = 256,
    pool_size: int = 10,
    disk_reserve_bytes: int = DEFAULT_RESERVE_BYTES,
) -> BlobStore:
    """The backend a database URL names (not yet started)."""
    options = StoreOptions(
        max_batch=max_batch, pool_size=pool_size, disk_reserve_bytes=disk_reserve_bytes
    )
    return _backend(database_url).open(database_url, options)


def prepare_database(database_url: str) -> None:
    """One-off set-up before workers start (raises :class:`StorageUnavailable` or
    ``ValueError``): SQLite creates the file and schema; PostgreSQL connects and applies
    missing migrations (each worker checks again at start, under the migration lock)."""
    _backend(database_url).prepare(database_url)

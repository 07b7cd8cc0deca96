"""Storage backends behind the :class:`~invitekit_service.storage.base.BlobStore` interface.

The database URL picks the backend: ``sqlite:///path`` (embedded, one host) or
``postgresql://…`` / ``postgres://…`` (asyncpg; many processes on many hosts).
"""

from __future__ import annotations

import asyncio
import sqlite3

from .base import (
    AdmitResult,
    BlobStore,
    GcReport,
    RateCounter,
    StorageUnavailable,
    StoredBlob,
)
from .postgres import PostgresBlobStore, is_postgres_url
from .sqlite import SqliteBlobStore, sqlite_path_from_url

__all__ = [
    "AdmitResult",
    "BlobStore",
    "GcReport",
    "RateCounter",
    "StorageUnavailable",
    "StoredBlob",
    "check_database_url",
    "open_store",
    "prepare_database",
]

_URL_HELP = "database URLs look like sqlite:///path/to/file.sqlite3 or postgresql://user@host/db"


def check_database_url(database_url: str) -> str:
    """Return the URL if a backend understands it, else raise ``ValueError``."""
    if database_url.startswith("sqlite:"):
        sqlite_path_from_url(database_url)
        return database_url
    if is_postgres_url(database_url):
        return database_url
    raise ValueError(_URL_HELP)


def open_store(
    database_url: str,
    *,
    max_batch: int = 256,
    pool_size: int = 10,
    disk_reserve_bytes: int = 32 << 20,
) -> BlobStore:
    """The backend a database URL names (not yet started)."""
    check_database_url(database_url)
    if is_postgres_url(database_url):
        return PostgresBlobStore(database_url, pool_max=pool_size)
    return SqliteBlobStore(
        sqlite_path_from_url(database_url), max_batch=max_batch, reserve_bytes=disk_reserve_bytes
    )


def prepare_database(database_url: str) -> None:
    """One-off set-up before workers start (raises :class:`StorageUnavailable` or
    ``ValueError``): SQLite creates the file and schema; PostgreSQL connects and applies
    missing migrations (each worker checks again at start, under the migration lock)."""
    check_database_url(database_url)
    if is_postgres_url(database_url):
        asyncio.run(PostgresBlobStore.prepare(database_url))
        return
    path = sqlite_path_from_url(database_url)
    try:
        SqliteBlobStore.initialise_schema(path)
    except sqlite3.Error as exc:  # a directory, a read-only or missing place, not a database
        raise StorageUnavailable(f"{path}: {exc}") from exc

"""Storage backends behind the :class:`~service.storage.base.BlobStore` interface."""

from __future__ import annotations

from .base import AdmitResult, BlobStore, GcReport, StorageUnavailable, StoredBlob
from .sqlite import SqliteBlobStore, sqlite_path_from_url

__all__ = ["AdmitResult", "BlobStore", "GcReport", "StorageUnavailable", "StoredBlob", "open_store"]


def open_store(database_url: str, *, max_batch: int = 256) -> BlobStore:
    """The backend a database URL names (``sqlite:///path``; PostgreSQL is future work)."""
    if database_url.startswith("sqlite:"):
        return SqliteBlobStore(sqlite_path_from_url(database_url), max_batch=max_batch)
    raise ValueError("unsupported database URL scheme (only sqlite:/// is implemented)")

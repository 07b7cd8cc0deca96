"""Versioned PostgreSQL schema for :mod:`invitekit_service.storage.postgres`, applied at start.

Invariants:

* Versions are applied in order, each once, inside one transaction that first takes a
  transaction-scoped advisory lock (:data:`MIGRATION_LOCK`); a second process starting at
  the same moment waits on the lock, then finds the versions recorded and applies nothing.
* A database that records a version this code does not know (a newer release migrated it)
  is refused rather than used.
* Unsigned 64-bit values (``epoch``, ``expires_at_ns``) are 8-byte big-endian ``bytea``,
  which PostgreSQL compares bytewise — i.e. numerically — exactly as the SQLite backend does.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import asyncpg

from .base import StorageUnavailable

MIGRATIONS_TABLE = "invitekit_migrations"
MIGRATION_LOCK = int.from_bytes(
    hashlib.sha256(b"invitekit/postgres/migrations").digest()[:8], "big", signed=True
)


class SchemaTooNew(StorageUnavailable):
    """The database was migrated by a newer invitekit than this one."""


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema step: a version number, a name and the SQL that performs it."""

    version: int
    name: str
    sql: str


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "slots and blobs",
        r"""
CREATE TABLE slots (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    slot_id bytea NOT NULL,
    lane_id bytea NOT NULL,
    lock_key bigint NOT NULL,
    head_epoch bytea,
    head_hash bytea,
    last_write_ns bigint NOT NULL,
    version bigint NOT NULL DEFAULT 1,
    UNIQUE (slot_id, lane_id)
);
CREATE INDEX slots_by_idle ON slots (last_write_ns);
CREATE TABLE blobs (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    slot_ref bigint NOT NULL REFERENCES slots (id) ON DELETE CASCADE,
    sha256 bytea NOT NULL,
    fields_key bytea NOT NULL,
    epoch bytea NOT NULL,
    group_state_hash bytea NOT NULL,
    expires_at_ns bytea NOT NULL,
    nonce bytea NOT NULL,
    signature bytea,
    received_ns bigint NOT NULL,
    body bytea NOT NULL,
    UNIQUE (slot_ref, fields_key)
);
-- Sealed bodies are incompressible: store them out of line without trying to compress.
ALTER TABLE blobs ALTER COLUMN body SET STORAGE EXTERNAL;
CREATE INDEX blobs_by_sha ON blobs (slot_ref, sha256);
CREATE INDEX blobs_by_pair ON blobs (slot_ref, epoch, group_state_hash);
CREATE INDEX blobs_by_expiry ON blobs (expires_at_ns)
    WHERE expires_at_ns <> '\x0000000000000000'::bytea;
""",
    ),
    Migration(
        2,
        "shared rate-limit counters",
        r"""
-- Counters are disposable: UNLOGGED (no WAL, emptied after a crash) keeps them cheap.
CREATE UNLOGGED TABLE rate_counters (
    scope text NOT NULL,
    key_hash bytea NOT NULL,
    window_start_ms bigint NOT NULL,
    hits integer NOT NULL,
    expires_ms bigint NOT NULL,
    PRIMARY KEY (scope, key_hash, window_start_ms)
);
CREATE INDEX rate_counters_by_expiry ON rate_counters (expires_ms);
""",
    ),
)


async def migrate(conn: asyncpg.Connection) -> list[int]:
    """Apply every missing migration; return the versions this call applied."""
    known = {m.version for m in MIGRATIONS}
    applied_now: list[int] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} ("
            "version integer PRIMARY KEY, name text NOT NULL, "
            "applied_at timestamptz NOT NULL DEFAULT now())"
        )
        rows = await conn.fetch(f"SELECT version FROM {MIGRATIONS_TABLE}")  # noqa: S608
        done = {int(r["version"]) for r in rows}
        if done - known:
            raise SchemaTooNew(f"database schema version {max(done)} is newer than this code")
        for migration in MIGRATIONS:
            if migration.version in done:
                continue
            await conn.execute(migration.sql)
            await conn.execute(
                f"INSERT INTO {MIGRATIONS_TABLE} (version, name) VALUES ($1, $2)",  # noqa: S608
                migration.version,
                migration.name,
            )
            applied_now.append(migration.version)
    return applied_now


__all__ = ["MIGRATIONS", "MIGRATION_LOCK", "Migration", "SchemaTooNew", "migrate"]

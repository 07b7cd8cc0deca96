"""Service settings: defaults < config file (TOML) < environment < command-line flags.

Environment variables are the field names upper-cased with the prefix
``INVITEKIT_SERVICE_`` (``INVITEKIT_SERVICE_PORT=9000``). The config file is named by
``--config`` or ``INVITEKIT_SERVICE_CONFIG`` and holds the same keys at top level.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from .admission import AdmissionPolicy

ENV_PREFIX = "INVITEKIT_SERVICE_"


class Settings(BaseSettings):
    """Every knob of the service. Limits are per process unless stated otherwise."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    database: str = Field(
        "sqlite:///invitekit.sqlite3",
        description="sqlite:///path (one host) or postgresql://user@host:port/db (many hosts)",
    )
    database_pool_size: int = Field(
        10, ge=1, le=200, description="PostgreSQL connections per process"
    )
    workers: int = Field(1, ge=1, le=64, description="processes sharing the port (SO_REUSEPORT)")
    config: Path | None = None

    # 4 MiB: the largest 1,000-member XMTP GroupInfo (X-Wing, 1.40 MB sealed) with 2.9x room.
    max_body_bytes: int = Field(4 << 20, ge=64, description="largest accepted upload (413)")
    digest_lengths: list[int] = Field(default_factory=lambda: [32])
    lane_history: int = Field(8, ge=1, le=1024)
    open_retention: int = Field(8, ge=1, le=1024)
    max_candidates: int = Field(32, ge=1, le=1024, description="upper bound for ?limit=")
    group_commit_max: int = Field(256, ge=1, le=10_000)

    rate_limits_enabled: bool = True
    client_read_limit: str = "1200/minute"
    client_write_limit: str = "120/minute"
    slot_write_limit: str = "60/minute"
    trust_forwarded_for: bool = False

    gc_interval_s: float = Field(60.0, gt=0)
    slot_idle_ttl_s: float | None = Field(90 * 86400.0, gt=0)

    head_max_age_s: int = Field(5, ge=0)
    head_stale_while_revalidate_s: int = Field(30, ge=0)
    head_cache_entries: int = Field(10_000, ge=0)

    log_level: str = "INFO"
    access_log: bool = True
    openapi_path: Path | None = None

    @field_validator("digest_lengths")
    @classmethod
    def _digest_lengths(cls, value: list[int]) -> list[int]:
        if not value or any(v not in (32, 48, 64) for v in value):
            raise ValueError("digest lengths must be a non-empty subset of 32, 48, 64")
        return sorted(set(value))

    @field_validator("slot_idle_ttl_s", mode="before")
    @classmethod
    def _none_words(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower() in ("", "none", "off", "null"):
            return None
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Flags (init kwargs) beat the environment, which beats the TOML file."""
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = _config_file_hint(init_settings)
        if config_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
        return tuple(sources)

    @property
    def lane_policy(self) -> AdmissionPolicy:
        """Admission policy for keyed lanes."""
        return AdmissionPolicy(self.lane_history)

    @property
    def open_policy(self) -> AdmissionPolicy:
        """Admission policy for open slots."""
        return AdmissionPolicy(self.open_retention)


def _config_file_hint(init_settings: PydanticBaseSettingsSource) -> Path | None:
    explicit = init_settings().get("config")
    if explicit:
        return Path(explicit)
    env = os.environ.get(ENV_PREFIX + "CONFIG")
    return Path(env) if env else None

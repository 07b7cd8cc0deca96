"""Service settings: defaults < config file (TOML) < environment < command-line flags.

Environment variables are the field names upper-cased with the prefix
``INVITEKIT_SERVICE_`` (``INVITEKIT_SERVICE_PORT=9000``). The config file is named by
``--config`` or ``INVITEKIT_SERVICE_CONFIG`` and holds the same keys at top level.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from limits import parse as parse_rate
from pydantic import Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from .admission import AdmissionPolicy

ENV_PREFIX = "INVITEKIT_SERVICE_"
_BYTE_RATE = re.compile(r"([0-9]{1,15})\s*(B|KiB|MiB|GiB)?\s*/\s*([0-9]*\s*[a-z]+)")
_UNITS = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}


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
    slot_client_write_limit: str = Field(
        "12/minute",
        description="one client's share of a slot's write budget (charged before slot_write)",
    )
    client_write_bytes_limit: str = Field(
        "1 GiB/day",
        description="bytes one client may store per window (e.g. '1 GiB/day'; 429 above)",
    )
    slot_client_write_bytes_limit: str = Field(
        "128 MiB/hour",
        description="bytes one client may store in one lane or open slot per window",
    )
    trust_forwarded_for: bool = False

    gc_interval_s: float = Field(60.0, gt=0)
    slot_idle_ttl_s: float | None = Field(90 * 86400.0, gt=0)

    head_max_age_s: int = Field(5, ge=0)
    head_stale_while_revalidate_s: int = Field(30, ge=0)
    head_cache_entries: int = Field(10_000, ge=0)
    head_cache_bytes: int = Field(
        32 << 20, ge=0, description="bound on the head cache's blob bytes per process"
    )

    idle_timeout_s: float = Field(
        15.0, gt=0, description="close a connection with no complete request head this long"
    )
    header_timeout_s: float = Field(
        10.0, gt=0, description="close a connection whose request head takes longer than this"
    )
    body_timeout_s: float = Field(
        20.0, gt=0, description="answer 408 and close when a body takes longer than this"
    )
    body_bytes_in_flight: int = Field(
        64 << 20, ge=1, description="bound on upload bytes being read per process (503 above)"
    )
    response_bytes_in_flight: int = Field(
        64 << 20,
        ge=1,
        description="bound on response bytes held in memory per process (503 above); a "
        "streamed blob holds one 192 KiB chunk, a built listing its size",
    )
    response_client_share: float = Field(
        0.125,
        gt=0,
        le=1,
        description="fraction of response_bytes_in_flight one client may hold (429 above)",
    )
    max_connections: int | None = Field(
        None,
        ge=1,
        description="open connections per process (default: from the descriptor limit)",
    )
    worker_max_restarts: int = Field(
        5, ge=0, description="worker restarts allowed per window before the supervisor gives up"
    )
    worker_restart_window_s: float = Field(60.0, gt=0)

    landing_path: str | None = Field(
        "/i", description="invite landing page path, also served upper-cased ('none': off)"
    )
    landing_app_link: str | None = Field(
        None, description="'open in app' link; the page appends #<invite> (e.g. myapp://join)"
    )
    landing_qr_library: Path | None = Field(
        None,
        description="qrcode-generator's dist/qrcode.js for the page's QR code (default: the"
        " checkout's node_modules, installed by scripts/setup.sh; without it the page has no QR)",
    )
    apple_app_site_association: Path | None = Field(
        None, description="JSON file served at /.well-known/apple-app-site-association"
    )
    assetlinks: Path | None = Field(
        None, description="JSON file served at /.well-known/assetlinks.json"
    )

    log_level: str = "INFO"
    access_log: bool = True
    openapi_path: Path | None = None

    @field_validator("digest_lengths")
    @classmethod
    def _digest_lengths(cls, value: list[int]) -> list[int]:
        if not value or any(v not in (32, 48, 64) for v in value):
            raise ValueError("digest lengths must be a non-empty subset of 32, 48, 64")
        return sorted(set(value))

    @field_validator("landing_path")
    @classmethod
    def _landing_path(cls, value: str | None) -> str | None:
        if value is not None and (
            not value.startswith("/") or any(c in value for c in "#?% ") or value == "/"
            or value.lower().startswith(("/v1", "/_landing", "/.well-known"))
        ):
            raise ValueError("landing path must be a plain absolute path like /i")
        return value

    @field_validator(
        "slot_idle_ttl_s", "landing_path",
        "landing_app_link", "max_connections", mode="before",
    )
    @classmethod
    def _none_words(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower() in ("", "none", "off", "null"):
            return None
        return value

    @field_validator("client_write_bytes_limit", "slot_client_write_bytes_limit")
    @classmethod
    def _byte_rate(cls, value: str) -> str:
        """``'64 MiB/day'`` → ``'67108864/day'`` (the ``limits`` package's syntax)."""
        match = _BYTE_RATE.fullmatch(value.strip())
        if match is None:
            raise ValueError("expected '<number> [B|KiB|MiB|GiB]/<window>', e.g. '64 MiB/day'")
        number, unit, window = match.groups()
        rate = f"{int(number) * _UNITS[unit or 'B']}/{window}"
        try:
            parse_rate(rate)
        except ValueError as exc:
            raise ValueError(f"bad window {window!r}") from exc
        return rate

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

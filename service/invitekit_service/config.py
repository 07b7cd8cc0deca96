"""Service settings: defaults < config file (TOML) < environment < command-line flags.

Environment variables are the field names upper-cased with the prefix
``INVITEKIT_SERVICE_`` (``INVITEKIT_SERVICE_PORT=9000``). The config file is named by
``--config`` or ``INVITEKIT_SERVICE_CONFIG`` and holds the same keys at top level.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any

from limits import parse as parse_rate
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from .admission import AdmissionPolicy

ENV_PREFIX = "INVITEKIT_SERVICE_"
CONFIG_FORMAT = "TOML"
_BYTE_RATE = re.compile(r"([0-9]{1,15})\s*(B|KiB|MiB|GiB)?\s*/\s*([0-9]*\s*[a-z]+)")
_UNITS = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}


class SettingsError(ValueError):
    """A setting that cannot be used: a config file that is missing, unreadable, not TOML or
    malformed, or a metrics token file that cannot be read (one line, for the CLI)."""


def split_host_port(value: str) -> tuple[str, int]:
    """``'127.0.0.1:9100'`` / ``'[::1]:9100'`` → host and port (``ValueError`` otherwise)."""
    host, sep, port = value.strip().rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError("expected HOST:PORT, e.g. 127.0.0.1:9100 or [::1]:9100")
    return host, int(port)


class Settings(BaseSettings):
    """Every knob of the service. Limits are per process unless stated otherwise."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid")

    host: str = Field("127.0.0.1", description="address to listen on ('0.0.0.0': every IPv4)")
    port: int = Field(8080, ge=0, le=65535, description="TCP port to listen on (0: any free port)")
    database: str = Field(
        "sqlite:///invitekit.sqlite3",
        description="sqlite:///path (one host) or postgresql://user@host:port/db (many hosts)",
    )
    database_pool_size: int = Field(
        10, ge=1, le=200, description="PostgreSQL connections per process"
    )
    workers: int = Field(
        1,
        ge=1,
        le=64,
        description="worker processes; above 1, gunicorn's arbiter runs aiohttp workers"
        " that share one listening socket",
    )
    config: Path | None = Field(
        None, description="TOML file holding any of these settings as top-level keys"
    )

    # 4 MiB: the largest 1,000-member XMTP GroupInfo (X-Wing, 1.40 MB sealed) with 2.9x room.
    max_body_bytes: int = Field(4 << 20, ge=64, description="largest accepted upload (413)")
    digest_lengths: Annotated[list[int], NoDecode] = Field(
        default_factory=lambda: [32],
        description="accepted group_state_hash lengths in bytes: 32, 48, 64, separated by commas",
    )
    lane_history: int = Field(8, ge=1, le=1024, description="blobs kept per keyed lane")
    open_retention: int = Field(8, ge=1, le=1024, description="blobs kept per open slot")
    max_candidates: int = Field(32, ge=1, le=1024, description="upper bound for ?limit=")
    group_commit_max: int = Field(
        256, ge=1, le=10_000, description="SQLite: most uploads committed in one transaction"
    )
    disk_reserve_bytes: int = Field(
        32 << 20,
        ge=0,
        description="SQLite: space kept allocated beside the database so that recovery from a"
        " full disk can always checkpoint and truncate the WAL (also the WAL size cap; 0: none)",
    )

    rate_limits_enabled: bool = Field(True, description="apply the request rate limits below")
    client_read_limit: str = Field(
        "1200/minute", description="reads one client (IPv4 address, IPv6 /64) may make"
    )
    client_write_limit: str = Field(
        "120/minute", description="uploads one client (IPv4 address, IPv6 /64) may make"
    )
    slot_write_limit: str = Field(
        "60/minute", description="uploads one lane or open slot accepts from all clients"
    )
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
    trust_forwarded_for: bool = Field(
        False,
        description="take the client address from X-Forwarded-For (only behind a proxy"
        " that sets it)",
    )

    gc_interval_s: float = Field(
        60.0, gt=0, description="seconds between garbage collections of expired blobs"
    )
    slot_idle_ttl_s: float | None = Field(
        90 * 86400.0, gt=0, description="delete a slot with no upload for this long ('none': never)"
    )

    head_max_age_s: int = Field(5, ge=0, description="Cache-Control max-age of head reads")
    head_stale_while_revalidate_s: int = Field(
        30, ge=0, description="Cache-Control stale-while-revalidate of head reads"
    )
    head_cache_entries: int = Field(
        10_000, ge=0, description="heads kept in the per-process head cache"
    )
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
    body_client_share: float = Field(
        0.0625,
        gt=0,
        le=1,
        description="fraction of body_bytes_in_flight one client (IPv4 address, IPv6 /64) may"
        " hold (429 above; never less than one max_body_bytes body)",
    )
    body_network_share: float = Field(
        0.25,
        gt=0,
        le=1,
        description="fraction of body_bytes_in_flight one network (IPv4 /24, IPv6 /48) may"
        " hold (429 above)",
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
        description="fraction of response_bytes_in_flight one client (IPv4 address, IPv6 /64)"
        " may hold (429 above; never less than two 192 KiB chunks)",
    )
    response_network_share: float = Field(
        0.25,
        gt=0,
        le=1,
        description="fraction of response_bytes_in_flight one network (IPv4 /24, IPv6 /48) may"
        " hold (429 above)",
    )
    max_connections: int | None = Field(
        None,
        ge=1,
        description="open connections per process (default: from the descriptor limit)",
    )
    worker_max_restarts: int = Field(
        5, ge=0, description="worker restarts allowed per window before the arbiter gives up"
    )
    worker_restart_window_s: float = Field(
        60.0, gt=0, description="the window of worker_max_restarts, in seconds"
    )
    worker_timeout_s: float = Field(
        30.0,
        gt=0,
        description="the arbiter restarts a worker whose event loop is stuck this long",
    )
    graceful_timeout_s: float = Field(
        10.0,
        gt=0,
        description="on SIGTERM, how long requests in progress may take before workers"
        " are killed",
    )

    landing_path: str | None = Field(
        "/i", description="invite landing page path, also served upper-cased ('none': off)"
    )
    landing_app_link: str | None = Field(
        None, description="'open in app' link; the page appends #<invite> (e.g. myapp://join)"
    )
    landing_app_name: str | None = Field(
        None, max_length=40,
        description="the app's name on the landing page ('Open in <name>'; default: 'the app')",
    )
    landing_install_link: str | None = Field(
        None,
        description="https page where people get the app (a store page), shown as 'Get <name>'",
    )
    landing_qr_library: Path | None = Field(
        None,
        description="qrcode-generator's dist/qrcode.js for the page's QR code (default: the"
        " copy shipped in the package)",
    )
    apple_app_site_association: Path | None = Field(
        None, description="JSON file served at /.well-known/apple-app-site-association"
    )
    assetlinks: Path | None = Field(
        None, description="JSON file served at /.well-known/assetlinks.json"
    )

    metrics_listen: str | None = Field(
        None,
        description="serve /metrics only on this HOST:PORT (not on the public port)",
    )
    metrics_token: SecretStr | None = Field(
        None,
        description="bearer token /metrics requires (prefer the environment or"
        " metrics_token_file: flags show in the process list)",
    )
    metrics_token_file: Path | None = Field(
        None, description="file holding the bearer token /metrics requires"
    )
    metrics_dir: Path | None = Field(
        None,
        description="directory for the workers' shared metric files (default: a private"
        " temporary directory, removed on exit); emptied at start",
    )

    log_level: str = Field(
        "INFO", description="DEBUG, INFO, WARNING or ERROR (JSON lines on stderr)"
    )
    access_log: bool = Field(True, description="log one JSON line per request")
    openapi_path: Path | None = Field(
        None, description="OpenAPI document served at /openapi.json (default: the bundled one)"
    )

    @field_validator("metrics_listen")
    @classmethod
    def _metrics_listen(cls, value: str | None) -> str | None:
        if value is not None:
            split_host_port(value)
        return value

    @model_validator(mode="after")
    def _one_metrics_token(self) -> Settings:
        if self.metrics_token is not None and self.metrics_token_file is not None:
            raise ValueError("set metrics_token or metrics_token_file, not both")
        return self

    def read_metrics_token(self) -> str | None:
        """The bearer token /metrics requires, if any (read from its file when one is named)."""
        if self.metrics_token is not None:
            token = self.metrics_token.get_secret_value().strip()
            where = "metrics_token"
        elif self.metrics_token_file is not None:
            where = f"metrics_token_file: {self.metrics_token_file}"
            try:
                token = self.metrics_token_file.read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError) as exc:
                raise SettingsError(f"{where}: cannot read: {one_line(exc)}") from exc
        else:
            return None
        if not token or any(c.isspace() for c in token):
            raise SettingsError(f"{where}: the token must be one non-empty word")
        return token

    @field_validator("digest_lengths", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        """``'32,48'`` (a flag or an environment variable) → ``[32, 48]``; a TOML array as is."""
        if isinstance(value, str):
            items = value.strip().removeprefix("[").removesuffix("]")
            return [v.strip() for v in items.split(",") if v.strip()]
        return value

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

    @field_validator("landing_install_link")
    @classmethod
    def _install_link(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"https://[^\s#]+", value):
            raise ValueError("the install link must be an https:// URL without a fragment")
        return value

    @field_validator("landing_app_name")
    @classmethod
    def _app_name(cls, value: str | None) -> str | None:
        if value is not None and (not value.strip() or any(ord(c) < 32 for c in value)):
            raise ValueError("the app name must be printable text")
        return value.strip() if value is not None else None

    @field_validator(
        "slot_idle_ttl_s", "landing_path", "landing_app_link", "landing_app_name",
        "landing_install_link", "max_connections", mode="before",
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
            check_config_file(config_file)
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


def check_config_file(path: Path) -> None:
    """Raise :class:`SettingsError` unless ``path`` is a readable, well-formed TOML file."""
    if path.suffix.lower() != ".toml":
        raise SettingsError(
            f"config: {path}: unknown format {path.suffix or '(no suffix)'!r}: the config file"
            f" is {CONFIG_FORMAT} and its name ends in .toml"
        )
    try:
        text = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"config: {path}: cannot read: {one_line(exc)}") from exc
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"config: {path}: not valid {CONFIG_FORMAT}: {exc}") from exc


def one_line(exc: BaseException, *, with_filename: bool = False) -> str:
    """An error as one line for an operator: an OS error's reason (and, with
    ``with_filename``, the file it names), else the error's text with its whitespace
    collapsed, else its type's name."""
    if isinstance(exc, OSError) and exc.strerror:
        where = f": {exc.filename}" if with_filename and exc.filename else ""
        return f"{exc.strerror}{where}"
    return " ".join(str(exc).split()) or type(exc).__name__


def _config_file_hint(init_settings: PydanticBaseSettingsSource) -> Path | None:
    explicit = init_settings().get("config")
    if explicit:
        return Path(explicit)
    env = os.environ.get(ENV_PREFIX + "CONFIG")
    return Path(env) if env else None

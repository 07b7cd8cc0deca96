"""Per-process runtime state the handlers share, and the application keys that hold it.

The state owns the store, the metrics registry, the logger, the rate limits, the head cache
and the GC wake-up event; nothing here performs request IO.
"""

from __future__ import annotations

import asyncio
import json
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

import yaml
from aiohttp import web

from invitekit.protocol import SlotKind

from . import logs
from .admission import AdmissionPolicy, SlotAddress
from .bodies import body_budget
from .config import Settings
from .headcache import HeadCache
from .metrics import Metrics
from .ratelimit import RateLimits
from .responses import response_budget
from .storage import BlobStore

SETTINGS_KEY = web.AppKey("settings", Settings)
STATE_KEY: web.AppKey[ServiceState] = web.AppKey("state")
ADDRESS_KEY: web.RequestKey[SlotAddress] = web.RequestKey("address", SlotAddress)


class ServiceState:
    """Per-process runtime state shared by the handlers."""

    def __init__(self, settings: Settings, store: BlobStore, *, run_gc: bool) -> None:
        self.settings = settings
        self.store = store
        self.metrics = Metrics()
        self.metrics_token = settings.read_metrics_token()
        self.metrics_task: asyncio.Task[None] | None = None
        self.logger = logs.configure(settings.log_level)
        self.limits = (
            RateLimits(
                settings.client_read_limit,
                settings.client_write_limit,
                settings.slot_write_limit,
                settings.slot_client_write_limit,
                client_write_bytes=settings.client_write_bytes_limit,
                slot_client_write_bytes=settings.slot_client_write_bytes_limit,
                shared=store.rate_counter(),
            )
            if settings.rate_limits_enabled
            else None
        )
        self.run_gc = run_gc
        self.head_cache = HeadCache(settings.head_cache_entries, settings.head_cache_bytes)
        self.bodies = body_budget(
            settings.body_bytes_in_flight,
            client_share=settings.body_client_share,
            network_share=settings.body_network_share,
            max_body=settings.max_body_bytes,
        )
        self.responses = response_budget(
            settings.response_bytes_in_flight,
            client_share=settings.response_client_share,
            network_share=settings.response_network_share,
        )
        self.metrics.sampled_gauge(
            "invitekit_response_bytes_in_flight",
            "Response bytes reserved by responses in progress",
            lambda: self.responses.in_flight,
        )
        self.metrics.sampled_gauge(
            "invitekit_body_bytes_in_flight",
            "Upload body bytes reserved by reads in progress",
            lambda: self.bodies.in_flight,
        )
        self.metrics.sampled_gauge(
            "invitekit_head_cache_bytes",
            "Blob bytes held by the head cache",
            lambda: self.head_cache.bytes,
        )
        self.addresses: dict[tuple[str, str, SlotKind], SlotAddress] = {}
        self.gc_wake = asyncio.Event()
        self.gc_task: asyncio.Task[None] | None = None
        self.openapi_json: bytes = _load_openapi(settings.openapi_path)
        self.head_cache_control = (
            f"public, max-age={settings.head_max_age_s}, "
            f"stale-while-revalidate={settings.head_stale_while_revalidate_s}"
        )

    def policy(self, kind: SlotKind) -> AdmissionPolicy:
        """The admission policy of a slot kind."""
        return self.settings.lane_policy if kind is SlotKind.LANE else self.settings.open_policy

    def client_of(self, request: web.Request) -> str:
        """The rate-limit identity of a request: its peer address (or X-Forwarded-For)."""
        if self.settings.trust_forwarded_for:
            forwarded = request.headers.get("X-Forwarded-For", "")
            first = forwarded.split(",", 1)[0].strip()
            if first:
                return first
        return request.remote or "unknown"

    def count_fetch(self, kind: SlotKind, route: str, status: str) -> None:
        """Increment the fetch counter."""
        self.metrics.fetches.inc((kind.value, route, status))

    def observe_latency(self, route: str, method: str, seconds: float) -> None:
        """Record one request's latency."""
        self.metrics.latency.observe((route, method), seconds)

    def wake_gc(self) -> None:
        """Ask the GC loop to run soon (a read saw an expired blob)."""
        self.gc_wake.set()


#: spec/openapi.yaml as the wheel ships it (hatch_build.py) ...
_PACKAGED_OPENAPI = "openapi.yaml"
#: ... and where it is in a source checkout (an editable install).
_CHECKOUT_OPENAPI = Path(__file__).resolve().parents[2] / "spec" / "openapi.yaml"


def openapi_source() -> Traversable:
    """The HTTP contract this service serves: the wheel's copy, else the checkout's."""
    packaged = resources.files("invitekit_service").joinpath(_PACKAGED_OPENAPI)
    return packaged if packaged.is_file() else _CHECKOUT_OPENAPI


def _load_openapi(path: Path | None) -> bytes:
    source = path or openapi_source()
    try:
        document = yaml.safe_load(source.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        document = {"openapi": "3.1.0", "info": {"title": "invitekit blob service", "version": "?"}}
    return json.dumps(document, separators=(",", ":")).encode()


__all__ = ["ADDRESS_KEY", "SETTINGS_KEY", "STATE_KEY", "ServiceState"]

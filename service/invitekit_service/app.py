"""The application factory: routes, the edge middleware, and the store/GC lifecycle.

The modules it wires: :mod:`invitekit_service.handlers` (routes),
:mod:`invitekit_service.middleware` (problems, metrics, access logs), :mod:`invitekit_service.gc`
(the GC loop), :mod:`invitekit_service.state` (shared runtime state). Paths come from
:mod:`invitekit.protocol`.
"""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web

from invitekit.protocol import (
    HEALTHZ_PATH,
    METRICS_PATH,
    OPENAPI_PATH,
    READYZ_PATH,
    Route,
    SlotKind,
    route_template,
)

from . import handlers
from .config import Settings
from .gc import gc_loop
from .landing import add_landing_routes
from .middleware import edge_middleware
from .state import SETTINGS_KEY, STATE_KEY, ServiceState
from .storage import BlobStore, open_store


def create_app(
    settings: Settings, store: BlobStore | None = None, *, run_gc: bool = True
) -> web.Application:
    """Build the application. The store is opened on startup and closed on cleanup."""
    app = web.Application(middlewares=[edge_middleware], client_max_size=settings.max_body_bytes)
    backend = (
        store
        if store is not None
        else open_store(
            settings.database,
            max_batch=settings.group_commit_max,
            pool_size=settings.database_pool_size,
            disk_reserve_bytes=settings.disk_reserve_bytes,
        )
    )
    state = ServiceState(settings, backend, run_gc=run_gc)
    app[SETTINGS_KEY] = settings
    app[STATE_KEY] = state

    kinds = (SlotKind.LANE, SlotKind.OPEN)
    for kind in kinds:  # the hot read routes first: the router tries them in order
        app.router.add_get(route_template(kind, Route.HEAD), handlers.Handlers(kind).head)
    for kind in kinds:
        h = handlers.Handlers(kind)
        app.router.add_post(route_template(kind, Route.BLOBS), h.upload_post)
        app.router.add_get(route_template(kind, Route.BLOBS), h.list_blobs)
        app.router.add_put(route_template(kind, Route.BLOB), h.upload_put)
        app.router.add_get(route_template(kind, Route.BLOB), h.get_blob)
        app.router.add_get(route_template(kind, Route.PRESENCE), h.presence)
    app.router.add_get(HEALTHZ_PATH, handlers.healthz)
    app.router.add_get(READYZ_PATH, handlers.readyz)
    if settings.metrics_listen is None:  # else only on its own address (metrics_app)
        app.router.add_get(METRICS_PATH, handlers.metrics)
    app.router.add_get(OPENAPI_PATH, handlers.openapi)
    add_landing_routes(app, settings)  # the invite landing page (landing.py)

    async def _startup(app: web.Application) -> None:
        await state.store.start()
        state.store.set_expiry_listener(state.wake_gc)
        if state.run_gc:
            state.gc_task = asyncio.create_task(gc_loop(state), name="gc")
        state.metrics_task = asyncio.create_task(_sample_gauges(state), name="gauges")

    async def _cleanup(app: web.Application) -> None:
        for task in (state.gc_task, state.metrics_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        await state.store.close()

    app.on_startup.append(_startup)
    app.on_cleanup.append(_cleanup)
    return app


GAUGE_SAMPLE_INTERVAL_S = 1.0


async def _sample_gauges(state: ServiceState) -> None:
    """Copy this process's gauges to the shared metric files (other workers scrape them)."""
    while True:
        state.metrics.sample()
        await asyncio.sleep(GAUGE_SAMPLE_INTERVAL_S)


def create_metrics_app(app: web.Application) -> web.Application:
    """``/metrics`` alone, over the state of ``app``, for the ``metrics_listen`` address."""
    metrics_app = web.Application(middlewares=[edge_middleware])
    metrics_app[SETTINGS_KEY] = app[SETTINGS_KEY]
    metrics_app[STATE_KEY] = app[STATE_KEY]
    metrics_app.router.add_get(METRICS_PATH, handlers.metrics)
    return metrics_app


__all__ = ["create_app", "create_metrics_app"]

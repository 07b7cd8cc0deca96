"""The garbage-collection loop: expired blobs and idle slots, on a timer or when woken.

Runs every ``gc_interval_s`` (or sooner when a read saw an expired blob), at most once per
second; a failed pass is logged and retried on the next tick; a pass that removed anything
clears the head cache.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from . import logs
from .state import ServiceState


async def gc_loop(state: ServiceState) -> None:
    """Collect garbage until cancelled."""
    settings = state.settings
    min_gap = min(1.0, settings.gc_interval_s)
    while True:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(state.gc_wake.wait(), timeout=settings.gc_interval_s)
        state.gc_wake.clear()
        now = logs.now_ns()
        idle = None
        if settings.slot_idle_ttl_s is not None:
            idle = now - int(settings.slot_idle_ttl_s * 1e9)
        try:
            report = await state.store.collect_garbage(now, idle)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logs.event(state.logger, "gc failed", logging.WARNING, exc_type=type(exc).__name__)
        else:
            if report.expired_blobs or report.idle_slots:
                state.metrics.gc_deleted.inc(("expired_blob",), report.expired_blobs)
                state.metrics.gc_deleted.inc(("idle_slot",), report.idle_slots)
                state.head_cache.clear()
                logs.event(
                    state.logger,
                    "gc",
                    expired_blobs=report.expired_blobs,
                    idle_slots=report.idle_slots,
                )
        await asyncio.sleep(min_gap)


__all__ = ["gc_loop"]

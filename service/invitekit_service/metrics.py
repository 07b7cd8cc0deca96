"""Prometheus metrics, aggregated over every worker process of one service.

A running service is in prometheus-client's multiprocess mode (:func:`enable_multiprocess`,
called by the entry point before any worker exists): every process writes its counters,
histograms and gauges to its own memory-mapped files in one directory, and a scrape served
by any worker merges the files of every worker, living or dead — one scrape counts every
request of every worker, and a counter never goes backwards when a worker is replaced. A
worker's live gauges are dropped when it exits (:func:`worker_exited`).

Gauges that describe a process's current state (connections, bytes in flight, head cache)
are sampled from their owners (:meth:`Metrics.sample`): once a second and right before a
scrape. An app built without :func:`enable_multiprocess` (tests building many apps in one
process) keeps its values in its own registry.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 2.5)
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

_multiprocess_dir: Path | None = None


def enable_multiprocess(directory: Path) -> None:
    """Put this process (and the workers it forks later) in multiprocess mode on
    ``directory``, which is emptied of metric files first."""
    global _multiprocess_dir  # noqa: PLW0603 - one switch per process, set before any app
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()
    os.environ[MULTIPROC_ENV] = str(directory)
    # prometheus-client picks its value class when first imported; pick again now.
    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
    _multiprocess_dir = directory


def disable_multiprocess(*, remove: bool) -> None:
    """Leave multiprocess mode (at exit); ``remove`` deletes the directory too."""
    global _multiprocess_dir  # noqa: PLW0603
    directory = _multiprocess_dir
    _multiprocess_dir = None
    os.environ.pop(MULTIPROC_ENV, None)
    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
    if directory is not None and remove:
        shutil.rmtree(directory, ignore_errors=True)


def multiprocess_dir() -> Path | None:
    """The directory of the shared metric files, when in multiprocess mode."""
    return _multiprocess_dir


def worker_exited(pid: int) -> None:
    """Drop the live gauges of a worker that has exited (its counters stay counted)."""
    if _multiprocess_dir is not None:
        with contextlib.suppress(OSError):
            multiprocess.mark_process_dead(  # type: ignore[no-untyped-call]
                pid, str(_multiprocess_dir)
            )


class LabelledCounter:
    """A counter family; children are cached per label tuple (the hot path is one dict
    lookup and prometheus-client's increment)."""

    def __init__(
        self,
        registry: CollectorRegistry,
        name: str,
        documentation: str,
        labels: Sequence[str] = (),
    ) -> None:
        self._counter = Counter(name, documentation, list(labels), registry=registry)
        self._children: dict[tuple[str, ...], Counter] = {}
        if not labels:
            self._children[()] = self._counter

    def inc(self, labels: tuple[str, ...] = (), amount: float = 1) -> None:
        """Add ``amount`` to the series of ``labels`` (one value per label name)."""
        child = self._children.get(labels)
        if child is None:
            child = self._children[labels] = self._counter.labels(*labels)
        child.inc(amount)


class LabelledHistogram:
    """A histogram family with :data:`LATENCY_BUCKETS`; children cached per label tuple."""

    def __init__(
        self, registry: CollectorRegistry, name: str, documentation: str, labels: Sequence[str]
    ) -> None:
        self._histogram = Histogram(
            name, documentation, list(labels), registry=registry, buckets=LATENCY_BUCKETS
        )
        self._children: dict[tuple[str, ...], Histogram] = {}

    def observe(self, labels: tuple[str, ...], amount: float) -> None:
        """Record one observation of ``amount``."""
        child = self._children.get(labels)
        if child is None:
            child = self._children[labels] = self._histogram.labels(*labels)
        child.observe(amount)


class Metrics:
    """Counters, histograms and sampled gauges the service exports at ``/metrics``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.uploads = LabelledCounter(
            r, "invitekit_uploads", "Uploads by slot kind and outcome", ["kind", "outcome"]
        )
        self.fetches = LabelledCounter(
            r,
            "invitekit_fetches",
            "Read requests by slot kind, route and status",
            ["kind", "route", "status"],
        )
        self.bytes_in = LabelledCounter(
            r, "invitekit_upload_bytes", "Bytes received in upload bodies"
        )
        self.bytes_out = LabelledCounter(r, "invitekit_served_bytes", "Blob bytes served")
        self.latency = LabelledHistogram(
            r, "invitekit_request_duration_seconds", "Request latency by route", ["route", "method"]
        )
        self.rejections = LabelledCounter(
            r, "invitekit_problems", "Problem responses by type code", ["code"]
        )
        self.gc_deleted = LabelledCounter(
            r, "invitekit_gc_deleted", "Rows removed by garbage collection", ["what"]
        )
        self._sampled: list[tuple[Gauge, Callable[[], float]]] = []

    def sampled_gauge(
        self, name: str, documentation: str, read: Callable[[], float], *, live: bool = True
    ) -> None:
        """A gauge set from ``read()`` at every :meth:`sample`; across workers the sum of the
        living workers' values (``live``) or of every worker's last value (a count since
        start that must not drop when a worker exits)."""
        mode: Literal["livesum", "sum"] = "livesum" if live else "sum"
        gauge = Gauge(name, documentation, registry=self.registry, multiprocess_mode=mode)
        self._sampled.append((gauge, read))

    def sample(self) -> None:
        """Copy the current value of every sampled gauge."""
        for gauge, read in self._sampled:
            gauge.set(read())

    def exposition(self) -> bytes:
        """The text exposition: every worker's files in multiprocess mode, else this
        registry."""
        self.sample()
        directory = _multiprocess_dir
        if directory is None:
            return generate_latest(self.registry)
        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(  # type: ignore[no-untyped-call]
            merged, path=str(directory)
        )
        return generate_latest(merged)


__all__ = [
    "LATENCY_BUCKETS",
    "LabelledCounter",
    "LabelledHistogram",
    "Metrics",
    "disable_multiprocess",
    "enable_multiprocess",
    "multiprocess_dir",
    "worker_exited",
]

"""Prometheus metrics (one registry per app, so tests can build many apps per process).

The per-request series (fetches, served bytes, request latency, uploads, problems) are plain
Python counters exported at scrape time by a collector: every update happens on the
process's event-loop thread (handlers, middleware, GC loop), so they need no lock, and the
hot path pays a dict lookup and an addition instead of prometheus_client's locked values.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Sequence

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 2.5)


class LabelledCounter:
    """A counter family: label values → running total. Event-loop thread only."""

    def __init__(self, name: str, documentation: str, labels: Sequence[str] = ()) -> None:
        self.name = name
        self.documentation = documentation
        self.label_names = tuple(labels)
        self.values: dict[tuple[str, ...], float] = {}

    def inc(self, labels: tuple[str, ...] = (), amount: float = 1) -> None:
        """Add ``amount`` to the series of ``labels`` (one value per label name)."""
        values = self.values
        values[labels] = values.get(labels, 0) + amount

    def value(self, labels: tuple[str, ...] = ()) -> float:
        """The series' total so far."""
        return self.values.get(labels, 0)

    def family(self) -> Metric:
        """The exposition of every series (``_total`` suffix added by the family)."""
        out = CounterMetricFamily(self.name, self.documentation, labels=self.label_names)
        if not self.label_names:
            out.add_metric([], self.values.get((), 0))
        for labels, value in sorted(self.values.items()):
            if self.label_names:
                out.add_metric(list(labels), value)
        return out


class LabelledHistogram:
    """A histogram family with fixed buckets: label values → per-bucket counts and sum."""

    def __init__(self, name: str, documentation: str, labels: Sequence[str]) -> None:
        self.name = name
        self.documentation = documentation
        self.label_names = tuple(labels)
        self.bounds = LATENCY_BUCKETS
        #: labels → [count in each bucket (non-cumulative, the last one +Inf)..., sum]
        self.series: dict[tuple[str, ...], list[float]] = {}

    def observe(self, labels: tuple[str, ...], amount: float) -> None:
        """Record one observation of ``amount``."""
        row = self.series.get(labels)
        if row is None:
            row = self.series[labels] = [0.0] * (len(self.bounds) + 2)
        row[bisect_left(self.bounds, amount)] += 1
        row[-1] += amount

    def family(self) -> Metric:
        """The exposition (cumulative buckets, ``_count`` and ``_sum``)."""
        out = HistogramMetricFamily(self.name, self.documentation, labels=self.label_names)
        for labels, row in sorted(self.series.items()):
            cumulative = 0.0
            buckets: list[tuple[str, float]] = []
            for bound, count in zip((*map(str, self.bounds), "+Inf"), row[:-1], strict=True):
                cumulative += count
                buckets.append((bound, cumulative))
            out.add_metric(list(labels), buckets, sum_value=row[-1])
        return out


class _Families(Collector):
    def __init__(self, families: Sequence[LabelledCounter | LabelledHistogram]) -> None:
        self._families = families

    def collect(self) -> Iterator[Metric]:
        for family in self._families:
            yield family.family()


class Metrics:
    """Counters and histograms the service exports at ``/metrics``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.uploads = LabelledCounter(
            "invitekit_uploads", "Uploads by slot kind and outcome", ["kind", "outcome"]
        )
        self.fetches = LabelledCounter(
            "invitekit_fetches",
            "Read requests by slot kind, route and status",
            ["kind", "route", "status"],
        )
        self.bytes_in = LabelledCounter("invitekit_upload_bytes", "Bytes received in upload bodies")
        self.bytes_out = LabelledCounter("invitekit_served_bytes", "Blob bytes served")
        self.latency = LabelledHistogram(
            "invitekit_request_duration_seconds", "Request latency by route", ["route", "method"]
        )
        self.rejections = LabelledCounter(
            "invitekit_problems", "Problem responses by type code", ["code"]
        )
        self.gc_deleted = LabelledCounter(
            "invitekit_gc_deleted", "Rows removed by garbage collection", ["what"]
        )
        self.registry.register(
            _Families(
                (
                    self.uploads,
                    self.fetches,
                    self.bytes_in,
                    self.bytes_out,
                    self.latency,
                    self.rejections,
                    self.gc_deleted,
                )
            )
        )


__all__ = ["LATENCY_BUCKETS", "LabelledCounter", "LabelledHistogram", "Metrics"]

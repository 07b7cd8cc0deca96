"""Prometheus metrics (one registry per app, so tests can build many apps per process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


class Metrics:
    """Counters and histograms the service exports at ``/metrics``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.uploads = Counter(
            "invitekit_uploads",
            "Uploads by slot kind and outcome",
            ["kind", "outcome"],
            registry=self.registry,
        )
        self.fetches = Counter(
            "invitekit_fetches",
            "Read requests by slot kind, route and status",
            ["kind", "route", "status"],
            registry=self.registry,
        )
        self.bytes_in = Counter(
            "invitekit_upload_bytes", "Bytes received in upload bodies", registry=self.registry
        )
        self.bytes_out = Counter(
            "invitekit_served_bytes", "Blob bytes served", registry=self.registry
        )
        self.latency = Histogram(
            "invitekit_request_duration_seconds",
            "Request latency by route",
            ["route", "method"],
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 2.5),
            registry=self.registry,
        )
        self.rejections = Counter(
            "invitekit_problems",
            "Problem responses by type code",
            ["code"],
            registry=self.registry,
        )
        self.gc_deleted = Counter(
            "invitekit_gc_deleted",
            "Rows removed by garbage collection",
            ["what"],
            registry=self.registry,
        )

"""Plain result records of the HTTP client (no I/O here; safe to import anywhere)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..join import Candidate
from ..protocol import SlotKind


@dataclass(frozen=True, slots=True)
class UploadResult:
    """What one service did with one upload.

    ``outcome`` is the service's admission outcome (``created``, ``idempotent``,
    ``coalesced``, ``stale``, ``fork``, ``epoch-jump``, ``expired`` …) or, when the request
    failed, the client error code (``service-unreachable``, ``fetch-timeout`` …).
    """

    service: str
    kind: SlotKind
    ok: bool
    outcome: str
    http_status: int | None = None
    detail: str = ""

    @property
    def retryable(self) -> bool:
        """Transport failures, 5xx and 429 are worth a bounded retry; refusals are not."""
        if self.ok:
            return False
        if self.http_status is None:
            return True
        return self.http_status >= 500 or self.http_status == 429

    def to_json(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "service": self.service,
            "kind": str(self.kind),
            "ok": self.ok,
            "outcome": self.outcome,
            "http_status": self.http_status,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class FetchResult:
    """Candidates one service returned for one slot kind (or why it returned none)."""

    service: str
    kind: SlotKind
    candidates: tuple[Candidate, ...] = ()
    error: str | None = None
    detail: str = ""
    truncated: bool = False

    @property
    def ok(self) -> bool:
        """True when the service answered per contract (an empty slot is ok)."""
        return self.error is None

    def to_json(self) -> dict[str, Any]:
        """JSON-friendly form (content hashes only, never blob bytes)."""
        return {
            "service": self.service,
            "kind": str(self.kind),
            "ok": self.ok,
            "error": self.error,
            "detail": self.detail,
            "truncated": self.truncated,
            "candidates": [c.content_hash.hex() for c in self.candidates],
        }


@dataclass(frozen=True)
class MergedFetch:
    """Candidates from several services and kinds, de-duplicated by content hash."""

    candidates: tuple[Candidate, ...]
    results: tuple[FetchResult, ...]

    @property
    def errors(self) -> tuple[str, ...]:
        """``service kind: code`` for every fetch that failed."""
        return tuple(f"{r.service} {r.kind}: {r.error}" for r in self.results if r.error)

    @property
    def any_ok(self) -> bool:
        """True when at least one service answered."""
        return any(r.ok for r in self.results)


@dataclass(frozen=True)
class StoredUpload:
    """One retained upload exactly as stored: the body, and (lanes) its signature.

    Mirroring replays these verbatim; a lane signature verifies on any service because it
    covers only (slot id, lane id, SHA-256 of the body).
    """

    body: bytes = field(repr=False)
    kind: SlotKind
    lane_id: bytes = b""
    signature: bytes | None = field(default=None, repr=False)
    epoch: int | None = None

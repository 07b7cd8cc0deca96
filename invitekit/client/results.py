"""Result records of the HTTP client (no I/O here): an answer or a typed failure each."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..protocol import SlotKind
from ..selection import Candidate, Listed
from .errors import ClientError, ServiceError


@dataclass(frozen=True, slots=True)
class UploadResult:
    """What one service did with one upload: an answer or a typed failure, never both.

    ``outcome`` is the service's admission outcome (``created``, ``idempotent``,
    ``coalesced``; callers may record ``present``/``superseded``) or, when the upload
    failed, the refusal's problem code (``stale``, ``fork``, ``epoch-jump``, ``expired`` …)
    or the client error code (``service-unreachable``, ``fetch-timeout`` …).
    """

    service: str
    kind: SlotKind
    outcome: str
    http_status: int | None = None
    failure: ClientError | None = field(default=None, compare=False)

    @classmethod
    def failed(cls, service: str, kind: SlotKind, failure: ClientError) -> UploadResult:
        """The result of an upload that failed with ``failure``."""
        if isinstance(failure, ServiceError):
            return cls(service, kind, failure.problem_type, failure.status, failure)
        return cls(service, kind, failure.code, None, failure)

    @property
    def ok(self) -> bool:
        """True when the service stored (or already held) the upload."""
        return self.failure is None

    @property
    def retryable(self) -> bool:
        """A failure worth a bounded retry (see :attr:`ClientError.retryable`)."""
        return self.failure is not None and self.failure.retryable

    @property
    def detail(self) -> str:
        """The failure's message ("" on success)."""
        return "" if self.failure is None else str(self.failure)

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
    """Candidates one service returned for one slot kind, or the failure that prevented it."""

    service: str
    kind: SlotKind
    candidates: tuple[Candidate, ...] = ()
    failure: ClientError | None = field(default=None, compare=False)
    truncated: bool = False
    #: Candidates listed by metadata only: their bodies are fetched when selected.
    listed: tuple[Listed, ...] = ()

    @property
    def ok(self) -> bool:
        """True when the service answered per contract (an empty slot is ok)."""
        return self.failure is None

    @property
    def error(self) -> str | None:
        """The failure's code (``None`` on success)."""
        return None if self.failure is None else self.failure.code

    @property
    def detail(self) -> str:
        """The failure's message ("" on success)."""
        return "" if self.failure is None else str(self.failure)

    def to_json(self) -> dict[str, Any]:
        """JSON-friendly form (content hashes only, never blob bytes)."""
        return {
            "service": self.service,
            "kind": str(self.kind),
            "ok": self.ok,
            "error": self.error,
            "detail": self.detail,
            "truncated": self.truncated,
            "candidates": [c.content_hash.hex() for c in self.candidates]
            + [item.sha256.hex() for item in self.listed],
        }


@dataclass(frozen=True)
class MergedFetch:
    """Candidates from several services and kinds, de-duplicated by content hash."""

    candidates: tuple[Candidate, ...]
    results: tuple[FetchResult, ...]
    #: Listed by metadata only (none of them among ``candidates``), merged by address.
    listed: tuple[Listed, ...] = ()

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


__all__ = ["FetchResult", "MergedFetch", "StoredUpload", "UploadResult"]

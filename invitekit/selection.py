"""XIP-82 join steps 2–5, sans-IO: bound, triage, validate and select candidates.

The one home of candidate selection; the join machine (:mod:`invitekit.join`) and the
deep check (:mod:`invitekit.refresh`) both select through it.

* step 2 bounds — :func:`triage` caps the candidate count and the per-blob size;
* step 3 — :func:`triage` runs the cheap checks on every candidate (version and shape,
  expiry, decryption under one :class:`~invitekit.envelope.EnvelopeKey`, any envelope:
  the XIP's v1 or an invitekit HPKE variant), then :class:`Selection` runs the expensive
  ones (GroupInfo parse, signature / tree-hash levels, epoch and digest consistency, via
  :func:`invitekit.sealing.verify_opened`) lazily, in selection order, on the plaintext
  triage kept: each candidate is decrypted once;
* step 5 — the order is (epoch desc, digest asc, content hash asc). Because a survivor's
  claimed epoch and digest are checked against the GroupInfo, validating lazily in claimed
  order selects exactly what validating everything and then sorting would;
  :meth:`Selection.reject` falls through to the next survivor, lower epochs included.

Invariants: no candidate is ever returned unless it decrypted under the payload's key, its
GroupInfo verified to the requested level and its epoch and digest matched the blob's
metadata; a rejected GroupInfo (by plaintext hash) is never offered again.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .envelope import EnvelopeKey, SealedBlob, open_envelope, parse_envelope
from .errors import (
    BlobExpired,
    BlobGroupInfoMismatch,
    DecryptionFailed,
    InviteKitError,
    UnsupportedVersion,
)
from .mls import DEFAULT_OPTIONS, GroupInfoView, ParseOptions, VerifyLevel
from .mls.errors import MlsError
from .payload import InvitePayload
from .sealing import OpenedGroupInfo, verify_opened

#: Candidates processed per fetch (the XIP recommends at least the service's retention N):
#: the largest listing an invitekit service sends by default (``max_candidates``), so a
#: forged-epoch flood smaller than the service's retention never hides a genuine blob.
DEFAULT_MAX_CANDIDATES = 32
#: Per-blob size bound: the service's default ``max_body_bytes`` (4 MiB), 2.9x the largest
#: 1,000-member XMTP GroupInfo (X-Wing, 1.40 MB sealed).
DEFAULT_MAX_BLOB_BYTES = 4 * 1024 * 1024


# --- candidates ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Candidate:
    """One fetched blob, addressed by the SHA-256 of its exact bytes.

    ``sources`` names every service the same bytes came from (mirrors merge here).
    """

    raw: bytes = field(repr=False)
    content_hash: bytes
    sources: tuple[str, ...] = ()

    @classmethod
    def of(cls, raw: bytes, source: str | None = None) -> Candidate:
        """A candidate for ``raw`` fetched from ``source``."""
        data = bytes(raw)
        return cls(data, hashlib.sha256(data).digest(), (source,) if source else ())


def merge_candidates(sets: Iterable[Iterable[Candidate]]) -> list[Candidate]:
    """Merge candidate sets from several services, de-duplicated by content hash.

    First-seen order is kept; a duplicate only adds its sources to the first copy.
    """
    merged: dict[bytes, Candidate] = {}
    for candidates in sets:
        for cand in candidates:
            seen = merged.get(cand.content_hash)
            if seen is None:
                merged[cand.content_hash] = cand
            else:
                extra = tuple(s for s in cand.sources if s not in seen.sources)
                if extra:
                    merged[cand.content_hash] = Candidate(
                        seen.raw, seen.content_hash, seen.sources + extra
                    )
    return list(merged.values())


class Discard(enum.StrEnum):
    """Why a candidate was set aside (the first failing check wins)."""

    OVER_CAP = "over-candidate-cap"
    TOO_LARGE = "too-large"
    MALFORMED = "malformed"
    UNSUPPORTED_VERSION = "unsupported-version"
    EXPIRED = "expired"
    DECRYPTION_FAILED = "decryption-failed"
    GROUP_INFO_INVALID = "group-info-invalid"
    METADATA_MISMATCH = "metadata-mismatch"
    DUPLICATE_STATE = "duplicate-of-rejected"
    COMMIT_REJECTED = "commit-rejected"


@dataclass(frozen=True, slots=True)
class Discarded:
    """A candidate that will not be joined from, and why (``code``: the error's code)."""

    content_hash: bytes
    reason: Discard
    code: str
    epoch: int | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON-friendly form (the hash in hex)."""
        return {
            "content_sha256": self.content_hash.hex(),
            "reason": str(self.reason),
            "code": self.code,
            "epoch": self.epoch,
        }


@dataclass(frozen=True, slots=True)
class Triaged:
    """A candidate that passed version, shape, expiry and decryption checks.

    ``plaintext`` is the decrypted GroupInfo, kept so selection never decrypts again;
    ``plaintext_hash`` (its SHA-256) lets a rejected GroupInfo be skipped without
    re-validating every re-sealed copy of it.
    """

    candidate: Candidate
    blob: SealedBlob
    plaintext_hash: bytes
    plaintext: bytes = field(repr=False)

    @property
    def order_key(self) -> tuple[int, bytes, bytes]:
        """XIP step 5 order: epoch descending, digest ascending, then content hash."""
        return (-self.blob.epoch, self.blob.group_state_hash, self.candidate.content_hash)


@dataclass(frozen=True)
class Triage:
    """Result of the cheap checks: survivors in selection order, plus every discard."""

    ordered: tuple[Triaged, ...]
    discarded: tuple[Discarded, ...]
    seen: int

    @property
    def empty(self) -> bool:
        """True when there was no candidate at all."""
        return self.seen == 0


def triage(
    candidates: Sequence[Candidate],
    payload: InvitePayload,
    now_ns: int,
    *,
    key: EnvelopeKey | None = None,
    max_candidates: int = DEFAULT_MAX_CANDIDATES,
    max_blob_bytes: int = DEFAULT_MAX_BLOB_BYTES,
) -> Triage:
    """XIP step 3.1–3.3 on every candidate, with the step-2 caps.

    Candidates beyond ``max_candidates`` are discarded unread (``OVER_CAP``). One
    :class:`EnvelopeKey` serves the whole set, whatever envelope each candidate uses.
    ``now_ns`` is the check instant (the join machine passes its one clock reading, margin
    included).
    """
    envelope_key = key if key is not None else EnvelopeKey(payload.symmetric_key)
    survivors: list[Triaged] = []
    discarded: list[Discarded] = []
    unique = merge_candidates([candidates])
    for index, cand in enumerate(unique):
        if index >= max_candidates:
            discarded.append(Discarded(cand.content_hash, Discard.OVER_CAP, "over-candidate-cap"))
            continue
        if len(cand.raw) > max_blob_bytes:
            discarded.append(Discarded(cand.content_hash, Discard.TOO_LARGE, "too-large"))
            continue
        try:
            blob = parse_envelope(cand.raw).blob
        except UnsupportedVersion as exc:
            discarded.append(Discarded(cand.content_hash, Discard.UNSUPPORTED_VERSION, exc.code))
            continue
        except InviteKitError as exc:
            discarded.append(Discarded(cand.content_hash, Discard.MALFORMED, exc.code))
            continue
        try:
            plaintext = open_envelope(blob, envelope_key, now_ns)
        except BlobExpired as exc:
            discarded.append(Discarded(cand.content_hash, Discard.EXPIRED, exc.code, blob.epoch))
            continue
        except DecryptionFailed as exc:
            discarded.append(
                Discarded(cand.content_hash, Discard.DECRYPTION_FAILED, exc.code, blob.epoch)
            )
            continue
        survivors.append(Triaged(cand, blob, hashlib.sha256(plaintext).digest(), plaintext))
    survivors.sort(key=lambda t: t.order_key)
    return Triage(tuple(survivors), tuple(discarded), len(unique))


# --- selection -------------------------------------------------------------------------


@dataclass(frozen=True)
class Survivor:
    """A fully validated candidate: what a joiner may build its external commit from."""

    candidate: Candidate
    opened: OpenedGroupInfo
    plaintext_hash: bytes

    @property
    def epoch(self) -> int:
        """The GroupInfo's (and the blob's) epoch."""
        return self.opened.view.epoch

    @property
    def digest(self) -> bytes:
        """The GroupContext digest (the blob's group_state_hash in strict mode)."""
        return self.opened.view.digest

    @property
    def view(self) -> GroupInfoView:
        """The decoded GroupInfo."""
        return self.opened.view

    @property
    def group_info(self) -> bytes:
        """The MLSMessage(GroupInfo) bytes to hand to an MLS client."""
        return self.opened.group_info_bytes



class Selection:
    """Lazy validate-and-select over a :class:`Triage` (XIP steps 3.4–3.5 and 5).

    Call :meth:`next` for the best remaining survivor; :meth:`reject` it when the commit
    built from it is rejected, then call :meth:`next` again. Deterministic: the same
    inputs always yield the same sequence. It decrypts nothing: it verifies the plaintext
    :func:`triage` kept (``payload`` and ``now_ns`` name the invite and the instant that
    triage ran for).
    """

    def __init__(
        self,
        payload: InvitePayload,
        triaged: Triage,
        now_ns: int,
        *,
        level: VerifyLevel = VerifyLevel.TREE,
        accept_epoch_authenticator_digest: bool = False,
        options: ParseOptions = DEFAULT_OPTIONS,
    ) -> None:
        del payload, now_ns  # triage already decrypted under the key, at that instant
        self._triage = triaged
        self._level = level
        self._compat = accept_epoch_authenticator_digest
        self._options = options
        self._position = 0
        self._rejected_states: set[bytes] = set()
        self._current: Survivor | None = None
        self.discarded: list[Discarded] = list(triaged.discarded)
        self.attempts = 0

    @property
    def seen(self) -> int:
        """How many distinct candidates there were before any check."""
        return self._triage.seen

    def next(self) -> Survivor | None:
        """The next valid candidate in selection order, or None when exhausted."""
        if self._current is not None:
            return self._current
        while self._position < len(self._triage.ordered):
            item = self._triage.ordered[self._position]
            self._position += 1
            if item.plaintext_hash in self._rejected_states:
                self.discarded.append(
                    Discarded(
                        item.candidate.content_hash,
                        Discard.DUPLICATE_STATE,
                        "duplicate-of-rejected",
                        item.blob.epoch,
                    )
                )
                continue
            survivor = self._validate(item)
            if survivor is None:
                continue
            self._current = survivor
            return survivor
        return None

    def reject(self, survivor: Survivor, code: str = "commit-rejected") -> None:
        """Record that the commit built from ``survivor`` was rejected; fall through."""
        self.attempts += 1
        self._rejected_states.add(survivor.plaintext_hash)
        self.discarded.append(
            Discarded(
                survivor.candidate.content_hash, Discard.COMMIT_REJECTED, code, survivor.epoch
            )
        )
        if self._current is survivor:
            self._current = None

    def abandon(self) -> None:
        """Forget the current survivor without counting an attempt (pre-commit abort)."""
        self._current = None

    def _validate(self, item: Triaged) -> Survivor | None:
        digest = item.candidate.content_hash
        try:
            opened = verify_opened(
                item.plaintext,
                item.blob,
                level=self._level,
                accept_epoch_authenticator_digest=self._compat,
                options=self._options,
            )
        except BlobGroupInfoMismatch as exc:
            self.discarded.append(
                Discarded(digest, Discard.METADATA_MISMATCH, exc.code, item.blob.epoch)
            )
            return None
        except MlsError as exc:
            self.discarded.append(
                Discarded(digest, Discard.GROUP_INFO_INVALID, exc.code, item.blob.epoch)
            )
            return None
        except InviteKitError as exc:
            self.discarded.append(Discarded(digest, Discard.MALFORMED, exc.code, item.blob.epoch))
            return None
        return Survivor(item.candidate, opened, item.plaintext_hash)


__all__ = [
    "DEFAULT_MAX_BLOB_BYTES",
    "DEFAULT_MAX_CANDIDATES",
    "Candidate",
    "Discard",
    "Discarded",
    "Selection",
    "Survivor",
    "Triage",
    "Triaged",
    "merge_candidates",
    "triage",
]

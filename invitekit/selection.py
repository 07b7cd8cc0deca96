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

Bodies by content address: a service may list candidates by metadata only
(:class:`Listed`: claimed epoch, digest, expiry, size, content address). Those enter the
same order by their claimed (epoch, digest, content hash) — the same key the bytes would
give, since a fetched body must hash to its address and its envelope must carry the claimed
epoch and digest (else ``listing-mismatch``) — and :meth:`Selection.step` asks for a body
(:class:`BodyWanted`) only when its entry is the best one left. Cheap checks the metadata
allows (count cap, size, expiry) run before any fetch; the rest run on the bytes when they
arrive (:meth:`Selection.supply`), so a join fetches in selection order and stops at the
first survivor, falling through on rejection exactly as with bodies fetched up front.
:meth:`Selection.over` builds the selection over one fetch (bodies in hand and listed
entries under one cap, one key): the join machine and the deep check both start there.

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

from .blob import expired_at
from .envelope import EnvelopeKey, SealedBlob, open_envelope, parse_envelope
from .errors import (
    BlobExpired,
    BlobGroupInfoMismatch,
    DecryptionFailed,
    FlowStateError,
    InviteKitError,
    UnsupportedVersion,
)
from .mls import DEFAULT_OPTIONS, GroupInfoView, ParseOptions, VerifyLevel
from .mls.errors import MlsError
from .payload import InvitePayload
from .protocol import SlotKind
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


@dataclass(frozen=True, slots=True)
class BodySource:
    """Where a listed body can be fetched: one service's slot of one kind (the body's URL
    is that slot's ``blobs/{sha256}``)."""

    service: str
    slot_id: bytes
    kind: SlotKind
    lane_id: bytes | None = None


@dataclass(frozen=True, slots=True)
class Listed:
    """A candidate a service listed by metadata only; its body is fetched on demand.

    Every field is the service's claim: the body must hash to ``sha256`` and carry
    ``epoch`` and ``group_state_hash`` (checked by :meth:`Selection.supply`).
    """

    sha256: bytes
    size: int
    epoch: int
    group_state_hash: bytes
    expires_at_ns: int
    locations: tuple[BodySource, ...]
    sources: tuple[str, ...] = ()

    @property
    def order_key(self) -> tuple[int, bytes, bytes]:
        """XIP step 5 order by the claimed fields (see :attr:`Triaged.order_key`)."""
        return (-self.epoch, self.group_state_hash, self.sha256)

    def is_expired(self, now_ns: int) -> bool:
        """The claimed expiry has passed (``0`` never expires): the blob expiry rule."""
        return expired_at(self.expires_at_ns, now_ns)


def merge_listed(sets: Iterable[Iterable[Listed]]) -> list[Listed]:
    """Merge listings from several services by content address (first-seen claims kept;
    every copy's location and source added, so a body is fetched from the next copy when
    one service fails)."""
    merged: dict[bytes, Listed] = {}
    for listed in sets:
        for item in listed:
            seen = merged.get(item.sha256)
            if seen is None:
                merged[item.sha256] = item
                continue
            locations = seen.locations + tuple(
                loc for loc in item.locations if loc not in seen.locations
            )
            sources = seen.sources + tuple(s for s in item.sources if s not in seen.sources)
            merged[item.sha256] = Listed(
                seen.sha256, seen.size, seen.epoch, seen.group_state_hash,
                seen.expires_at_ns, locations, sources,
            )
    return list(merged.values())


@dataclass(frozen=True, slots=True)
class BodyWanted:
    """:meth:`Selection.step`'s request: fetch ``listed``'s body (at most ``max_bytes``)
    and hand it to :meth:`Selection.supply`."""

    listed: Listed
    max_bytes: int


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
    BODY_UNAVAILABLE = "body-unavailable"
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
        checked = triage_one(cand, envelope_key, now_ns, max_blob_bytes)
        if isinstance(checked, Discarded):
            discarded.append(checked)
        else:
            survivors.append(checked)
    survivors.sort(key=lambda t: t.order_key)
    return Triage(tuple(survivors), tuple(discarded), len(unique))


def triage_one(
    cand: Candidate, key: EnvelopeKey, now_ns: int, max_blob_bytes: int
) -> Triaged | Discarded:
    """XIP step 3.1–3.3 on one candidate: size, envelope version and shape, expiry,
    decryption (the one decryption: the plaintext is kept for :class:`Selection`)."""
    if len(cand.raw) > max_blob_bytes:
        return Discarded(cand.content_hash, Discard.TOO_LARGE, "too-large")
    try:
        blob = parse_envelope(cand.raw).blob
    except UnsupportedVersion as exc:
        return Discarded(cand.content_hash, Discard.UNSUPPORTED_VERSION, exc.code)
    except InviteKitError as exc:
        return Discarded(cand.content_hash, Discard.MALFORMED, exc.code)
    try:
        plaintext = open_envelope(blob, key, now_ns)
    except BlobExpired as exc:
        return Discarded(cand.content_hash, Discard.EXPIRED, exc.code, blob.epoch)
    except DecryptionFailed as exc:
        return Discarded(cand.content_hash, Discard.DECRYPTION_FAILED, exc.code, blob.epoch)
    return Triaged(cand, blob, hashlib.sha256(plaintext).digest(), plaintext)


def triage_listed(
    listed: Sequence[Listed],
    now_ns: int,
    *,
    known: frozenset[bytes] = frozenset(),
    room: int = DEFAULT_MAX_CANDIDATES,
    max_blob_bytes: int = DEFAULT_MAX_BLOB_BYTES,
) -> tuple[list[Listed], list[Discarded]]:
    """The checks a listing's metadata allows, before any body is fetched: entries whose
    body is already in hand (``known`` content hashes) are dropped, at most ``room`` are
    kept (the rest are ``OVER_CAP``), and a claimed size above ``max_blob_bytes`` or a
    claimed expiry in the past discards an entry unread. The rest, in selection order."""
    pending: list[Listed] = []
    discarded: list[Discarded] = []
    fresh = [item for item in merge_listed([listed]) if item.sha256 not in known]
    for index, item in enumerate(fresh):
        if index >= room:
            discarded.append(Discarded(item.sha256, Discard.OVER_CAP, "over-candidate-cap"))
        elif item.size > max_blob_bytes:
            discarded.append(Discarded(item.sha256, Discard.TOO_LARGE, "too-large", item.epoch))
        elif item.is_expired(now_ns):
            discarded.append(
                Discarded(item.sha256, Discard.EXPIRED, BlobExpired.code, item.epoch)
            )
        else:
            pending.append(item)
    pending.sort(key=lambda item: item.order_key)
    return pending, discarded


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
    """Lazy validate-and-select over a :class:`Triage` (XIP steps 3.4–3.5 and 5), and over
    candidates listed by metadata whose bodies are fetched on demand (``listed``, from
    :func:`triage_listed`).

    Call :meth:`step` for the best remaining survivor — or, when the best entry left is a
    listed one, a :class:`BodyWanted` to fetch and :meth:`supply`; :meth:`next` is
    :meth:`step` for a selection without listed entries. :meth:`reject` a survivor when the
    commit built from it is rejected, then step again. Deterministic: the same inputs (and
    fetched bodies) always yield the same sequence. Triaged candidates are verified from
    the plaintext :func:`triage` kept; a fetched body is decrypted once, under ``payload``'s
    key at ``now_ns``, when it is supplied (with ``key``, the :class:`EnvelopeKey` triage
    used, when the caller has it: see :meth:`over`).
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
        listed: Sequence[Listed] = (),
        listed_discarded: Sequence[Discarded] = (),
        max_blob_bytes: int = DEFAULT_MAX_BLOB_BYTES,
        key: EnvelopeKey | None = None,
    ) -> None:
        self._key = key if key is not None else EnvelopeKey(payload.symmetric_key)
        self._now_ns = now_ns
        self._listed = sorted(listed, key=lambda item: item.order_key)
        self._listed_position = 0
        self._max_blob_bytes = max_blob_bytes
        self._wanted: BodyWanted | None = None
        self._supplied: Triaged | None = None
        self.fetched_bytes = 0
        self._triage = triaged
        self._level = level
        self._compat = accept_epoch_authenticator_digest
        self._options = options
        self._position = 0
        self._rejected_states: set[bytes] = set()
        self._current: Survivor | None = None
        self.discarded: list[Discarded] = [*triaged.discarded, *listed_discarded]
        self._seen = triaged.seen + len(self._listed) + len(listed_discarded)
        self.attempts = 0

    @classmethod
    def over(
        cls,
        payload: InvitePayload,
        candidates: Sequence[Candidate],
        now_ns: int,
        *,
        listed: Sequence[Listed] = (),
        max_candidates: int = DEFAULT_MAX_CANDIDATES,
        max_blob_bytes: int = DEFAULT_MAX_BLOB_BYTES,
        level: VerifyLevel = VerifyLevel.TREE,
        accept_epoch_authenticator_digest: bool = False,
    ) -> Selection:
        """The selection over one fetch: :func:`triage` on the bodies in hand, then
        :func:`triage_listed` on the entries listed by metadata under the same
        ``max_candidates`` (an entry whose body is in hand is dropped; listed entries fill
        the room the bodies left), all under one :class:`EnvelopeKey`. What the join
        machine and the deep check both select over."""
        key = EnvelopeKey(payload.symmetric_key)
        triaged = triage(
            candidates, payload, now_ns, key=key, max_candidates=max_candidates,
            max_blob_bytes=max_blob_bytes,
        )
        in_hand = frozenset(c.content_hash for c in candidates)
        pending, listed_discarded = triage_listed(
            listed, now_ns, known=in_hand, room=max(0, max_candidates - len(in_hand)),
            max_blob_bytes=max_blob_bytes,
        )
        return cls(
            payload, triaged, now_ns, level=level,
            accept_epoch_authenticator_digest=accept_epoch_authenticator_digest,
            listed=pending, listed_discarded=listed_discarded, max_blob_bytes=max_blob_bytes,
            key=key,
        )

    @property
    def seen(self) -> int:
        """How many distinct candidates there were before any check."""
        return self._seen

    def next(self) -> Survivor | None:
        """The next valid candidate in selection order, or None when exhausted (only for a
        selection whose bodies are all in hand; else use :meth:`step`)."""
        step = self.step()
        if isinstance(step, BodyWanted):
            raise FlowStateError("this selection needs a body fetched: use step() and supply()")
        return step

    def _take(self) -> Triaged | Listed | None:
        """The best entry left: a triaged candidate or a listed one, by order key."""
        if self._supplied is not None:
            item, self._supplied = self._supplied, None
            return item
        ordered = self._triage.ordered
        triaged = ordered[self._position] if self._position < len(ordered) else None
        listed = (
            self._listed[self._listed_position]
            if self._listed_position < len(self._listed)
            else None
        )
        if listed is not None and (triaged is None or listed.order_key < triaged.order_key):
            self._listed_position += 1
            return listed
        if triaged is not None:
            self._position += 1
        return triaged

    def step(self) -> Survivor | BodyWanted | None:
        """The next valid candidate in selection order, a body to fetch first, or None
        when exhausted."""
        if self._current is not None:
            return self._current
        if self._wanted is not None:
            return self._wanted
        while (item := self._take()) is not None:
            if isinstance(item, Listed):
                self._wanted = BodyWanted(item, self._max_blob_bytes)
                return self._wanted
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

    def supply(self, wanted: BodyWanted, raw: bytes | None, failure: str = "") -> None:
        """The body :meth:`step` asked for (``None``: no copy could be fetched; ``failure``
        names why). Checked like a fetched candidate, plus against its listing claims."""
        if wanted is not self._wanted:
            raise FlowStateError("supply() answers the BodyWanted step() returned")
        self._wanted = None
        listed = wanted.listed
        if raw is None:
            self.discarded.append(
                Discarded(
                    listed.sha256, Discard.BODY_UNAVAILABLE, failure or "body-unavailable",
                    listed.epoch,
                )
            )
            return
        self.fetched_bytes += len(raw)
        cand = Candidate(bytes(raw), hashlib.sha256(raw).digest(), listed.sources)
        if cand.content_hash != listed.sha256:
            self.discarded.append(
                Discarded(listed.sha256, Discard.METADATA_MISMATCH, "listing-mismatch")
            )
            return
        checked = triage_one(cand, self._key, self._now_ns, self._max_blob_bytes)
        if isinstance(checked, Discarded):
            self.discarded.append(checked)
            return
        blob = checked.blob
        if (blob.epoch, blob.group_state_hash) != (listed.epoch, listed.group_state_hash):
            # A listing that misstates a body's place in the order: never trusted to place it.
            self.discarded.append(
                Discarded(
                    listed.sha256, Discard.METADATA_MISMATCH, "listing-mismatch", blob.epoch
                )
            )
            return
        self._supplied = checked

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
    "BodySource",
    "BodyWanted",
    "Candidate",
    "Discard",
    "Discarded",
    "Listed",
    "Selection",
    "Survivor",
    "Triage",
    "Triaged",
    "merge_candidates",
    "merge_listed",
    "triage",
    "triage_listed",
    "triage_one",
]

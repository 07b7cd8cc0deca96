"""Service records to protocol bodies: the only place stored blobs meet
:mod:`invitekit.protocol`'s (de)serialisers."""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web

from invitekit import protocol
from invitekit.protocol import JSON_MEDIA_TYPE, BlobRecord, HeadRef, encode_json

from .admission import Head, arrival_ranks
from .storage import StoredBlob


def blob_headers(blob: StoredBlob) -> dict[str, str]:
    """The metadata headers of a blob response."""
    meta = blob.meta
    return protocol.blob_headers(
        sha256=meta.sha256,
        epoch=meta.epoch,
        group_state_hash=meta.group_state_hash,
        expires_at_ns=meta.expires_at_ns,
        signature=meta.signature,
    )


def blob_record(blob: StoredBlob, arrival: int | None = None) -> BlobRecord:
    """A stored blob as a listing item (``arrival``: its rank, 0 = most recent upload); the
    body only when the read carried it."""
    meta = blob.meta
    return BlobRecord(
        body=blob.body,
        size=meta.size,
        signature=meta.signature,
        epoch=meta.epoch,
        group_state_hash=meta.group_state_hash,
        expires_at_ns=meta.expires_at_ns,
        sha256=meta.sha256,
        arrival=arrival,
    )


def blob_records(blobs: Sequence[StoredBlob]) -> tuple[BlobRecord, ...]:
    """A listing's items, each with its arrival rank among them (clients cap by it)."""
    ranks = arrival_ranks(b.meta for b in blobs)
    return tuple(blob_record(b, ranks[b.meta.seq]) for b in blobs)


def head_ref(head: Head | None) -> HeadRef | None:
    """A lane head as the protocol carries it."""
    return None if head is None else HeadRef(head.epoch, head.group_state_hash)


def json_response(
    status: int, body: dict[str, object], headers: dict[str, str] | None = None
) -> web.Response:
    """A compact JSON response."""
    return web.Response(
        status=status, body=encode_json(body), content_type=JSON_MEDIA_TYPE, headers=headers
    )


__all__ = ["blob_headers", "blob_record", "blob_records", "head_ref", "json_response"]

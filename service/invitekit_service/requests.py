"""Request parsing: aiohttp requests to validated slot addresses, filters and limits.

The syntax rules (base64url ids, lengths, query forms) belong to :mod:`invitekit.protocol`,
which raises :class:`~invitekit.protocol.InvalidRequest`; the edge middleware answers that
with the named problem. This module only reads the aiohttp request and applies the
service's own limits (the candidate cap, the per-kind retention).
"""

from __future__ import annotations

from aiohttp import web

from invitekit.protocol import (
    SlotKind,
    parse_content_address,
    parse_lane_id,
    parse_limit_query,
    parse_match_query,
    parse_slot_id,
)

from .admission import Head, SlotAddress
from .state import ADDRESS_KEY, ServiceState

_ADDRESS_CACHE_ENTRIES = 50_000


def slot_address(request: web.Request, kind: SlotKind, state: ServiceState) -> SlotAddress:
    """The slot a request names (parsed once per distinct path; remembered on the request)."""
    info = request.match_info
    key = (info.get("slot", ""), info.get("lane", ""), kind)
    address = state.addresses.get(key)
    if address is None:
        lane_id = parse_lane_id(key[1]) if kind is SlotKind.LANE else b""
        address = SlotAddress(parse_slot_id(key[0]), kind, lane_id)
        if len(state.addresses) >= _ADDRESS_CACHE_ENTRIES:
            state.addresses.clear()
        state.addresses[key] = address
    request[ADDRESS_KEY] = address
    return address


def content_address(request: web.Request) -> bytes:
    """The ``{sha256}`` path segment."""
    return parse_content_address(request.match_info.get("sha256", ""))


def match_filter(request: web.Request, *, required: bool) -> Head | None:
    """The optional (or required) ``(epoch, group_state_hash)`` filter."""
    ref = parse_match_query(request.query, required=required)
    return None if ref is None else Head(ref.epoch, ref.group_state_hash)


def listing_limit(request: web.Request, state: ServiceState, kind: SlotKind) -> int:
    """The ``limit`` of a listing: at most the service cap, by default the kind's retention."""
    cap = state.settings.max_candidates
    return parse_limit_query(
        request.query, cap=cap, default=min(cap, state.policy(kind).retention)
    )


__all__ = ["content_address", "listing_limit", "match_filter", "slot_address"]

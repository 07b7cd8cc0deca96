"""A minimal TLS walker for commits, written apart from invitekit's table-driven codec.

It reads just enough of RFC 9420 (and the XMTP components) to list a commit's proposals and
pull out the fields the validator decides on, so the tests can compare two independent
readings of the same bytes. Plain functions over ``(bytes, offset)``; no invitekit imports.
"""

from __future__ import annotations

from dataclasses import dataclass


class WalkError(ValueError):
    pass


def varint(data: bytes, pos: int) -> tuple[int, int]:
    first = data[pos]
    width = {0: 1, 1: 2, 2: 4}.get(first >> 6)
    if width is None:
        raise WalkError("reserved varint prefix")
    value = int.from_bytes(data[pos : pos + width], "big") & ((1 << (8 * width - 2)) - 1)
    if width > 1 and value < (1 << (8 * (width // 2) - 2)):
        raise WalkError("non-minimal varint")
    return value, pos + width


def opaque(data: bytes, pos: int) -> tuple[bytes, int]:
    length, pos = varint(data, pos)
    if pos + length > len(data):
        raise WalkError("opaque runs past the end")
    return data[pos : pos + length], pos + length


def u(data: bytes, pos: int, width: int) -> tuple[int, int]:
    if pos + width > len(data):
        raise WalkError("integer runs past the end")
    return int.from_bytes(data[pos : pos + width], "big"), pos + width


def leaf_node(data: bytes, pos: int) -> tuple[bytes, int]:
    """Skip a LeafNode; returns the credential identity (basic) and the new offset."""
    _, pos = opaque(data, pos)  # encryption_key
    _, pos = opaque(data, pos)  # signature_key
    ctype, pos = u(data, pos, 2)
    if ctype != 1:
        raise WalkError("only basic credentials")
    identity, pos = opaque(data, pos)
    for _ in range(5):  # capabilities
        _, pos = opaque(data, pos)
    source, pos = u(data, pos, 1)
    if source == 1:
        pos += 16
    elif source == 3:
        _, pos = opaque(data, pos)
    _, pos = opaque(data, pos)  # extensions
    _, pos = opaque(data, pos)  # signature
    return identity, pos


@dataclass
class WalkedProposal:
    proposal_type: int
    identity: bytes | None = None  # Add: the KeyPackage leaf's credential identity
    component_id: int | None = None  # AppDataUpdate
    op: int | None = None
    update: bytes | None = None
    reference: bytes | None = None


def proposal(data: bytes, pos: int) -> tuple[WalkedProposal, int]:
    ptype, pos = u(data, pos, 2)
    out = WalkedProposal(ptype)
    if ptype == 1:  # add: KeyPackage
        pos += 4  # version, cipher_suite
        _, pos = opaque(data, pos)  # init_key
        out.identity, pos = leaf_node(data, pos)
        _, pos = opaque(data, pos)  # extensions
        _, pos = opaque(data, pos)  # signature
    elif ptype == 3:
        pos += 4
    elif ptype == 4:  # psk
        psktype, pos = u(data, pos, 1)
        if psktype == 1:
            _, pos = opaque(data, pos)
        else:
            pos += 1
            _, pos = opaque(data, pos)
            pos += 8
        _, pos = opaque(data, pos)
    elif ptype in (6, 7):  # external_init kem_output / gce extensions
        _, pos = opaque(data, pos)
    elif ptype == 8:
        out.component_id, pos = u(data, pos, 2)
        out.op, pos = u(data, pos, 1)
        if out.op == 1:
            out.update, pos = opaque(data, pos)
    else:
        raise WalkError(f"walker does not know proposal type {ptype}")
    return out, pos


def commit_proposals(message: bytes) -> tuple[list[WalkedProposal], bool]:
    """The proposals of an MLSMessage(PublicMessage) commit and whether it has a path."""
    if message[:4] != b"\x00\x01\x00\x01":
        raise WalkError("not an mls10 PublicMessage")
    pos = 4
    _, pos = opaque(message, pos)  # group_id
    pos += 8  # epoch
    sender, pos = u(message, pos, 1)
    if sender in (1, 2):
        pos += 4
    _, pos = opaque(message, pos)  # authenticated_data
    content_type, pos = u(message, pos, 1)
    if content_type != 3:
        raise WalkError("not a commit")
    body, pos = opaque(message, pos)  # proposals<V>
    items: list[WalkedProposal] = []
    cur = 0
    while cur < len(body):
        kind, cur = u(body, cur, 1)
        if kind == 1:
            item, cur = proposal(body, cur)
        else:
            ref, cur = opaque(body, cur)
            item = WalkedProposal(0, reference=ref)
        items.append(item)
    has_path = message[pos] == 1
    return items, has_path


def tls_map(data: bytes) -> list[tuple[bytes, bytes]]:
    """``TlsMap<InboxId, opaque<V>>`` → ``[(32-byte id, value)]`` in wire order."""
    body, end = opaque(data, 0)
    if end != len(data):
        raise WalkError("trailing bytes")
    out, cur = [], 0
    while cur < len(body):
        if body[cur] != 0:
            raise WalkError("InboxId version")
        key = body[cur + 1 : cur + 33]
        value, cur = opaque(body, cur + 33)
        out.append((key, value))
    return out


def tls_map_delta(data: bytes) -> list[tuple[int, bytes, bytes | None]]:
    """``TlsMapDelta<InboxId, opaque<V>>`` → ``[(type, id, value or None)]``."""
    body, end = opaque(data, 0)
    if end != len(data):
        raise WalkError("trailing bytes")
    out, cur = [], 0
    while cur < len(body):
        kind = body[cur]
        if kind > 2 or body[cur + 1] != 0:
            raise WalkError("mutation type or InboxId version")
        key = body[cur + 2 : cur + 34]
        cur += 34
        value = None
        if kind in (0, 1):
            value, cur = opaque(body, cur)
        out.append((kind, key, value))
    return out

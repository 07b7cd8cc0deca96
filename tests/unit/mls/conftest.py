"""Shared helpers for the MLS tests: fixture discovery, an independent GroupContext slicer,
and a re-signer that rebuilds a GroupInfo (with our encoder) under a known signing key."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from invitekit.mls.groupinfo import GroupInfoView
from invitekit.mls.schema import EXTENSION_RATCHET_TREE, RATCHET_TREE, Node
from invitekit.mls.suites import sign_content
from invitekit.mls.tls import decode_exact, encode
from invitekit.mls.tree import RatchetTree

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"


@dataclass(frozen=True)
class Fixture:
    name: str
    data: bytes
    sidecar: dict[str, Any]

    @property
    def unprefixed(self) -> bool:
        return self.sidecar.get("external_pub_encoding") == "unprefixed"


def all_fixture_paths() -> list[Path]:
    return sorted([*FIXTURES.glob("rine/*.bin"), *FIXTURES.glob("ts-mls/*.bin")])


def load(path: Path) -> Fixture:
    return Fixture(path.stem, path.read_bytes(), json.loads(path.with_suffix(".json").read_text()))


def by_name(name: str) -> Fixture:
    (path,) = [p for p in all_fixture_paths() if p.stem == name]
    return load(path)


@pytest.fixture(params=all_fixture_paths(), ids=lambda p: p.stem)
def fixture(request: pytest.FixtureRequest) -> Fixture:
    return load(request.param)


def rine_key(label: str) -> ed25519.Ed25519PrivateKey:
    """The signing key fixtures/gen_rine.py derived for ``label`` (rine's seed is the key)."""
    seed = hashlib.sha256(b"invitekit-fixture/" + label.encode()).digest()
    return ed25519.Ed25519PrivateKey.from_private_bytes(seed)


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    first = data[pos]
    size = 1 << (first >> 6)
    value = int.from_bytes(data[pos : pos + size], "big") & ((1 << (8 * size - 2)) - 1)
    return value, pos + size


def group_context_slice(data: bytes) -> bytes:
    """The GroupContext bytes of an MLSMessage(GroupInfo), found by walking the RFC 9420
    layout by hand (independent of invitekit's decoder)."""
    pos = 4 + 2 + 2  # MLSMessage version, wire_format; GroupContext version, cipher_suite
    length, pos = _varint(data, pos)  # group_id
    pos += length + 8  # epoch
    for _ in range(3):  # tree_hash, confirmed_transcript_hash, extensions
        length, pos = _varint(data, pos)
        pos += length
    return data[4:pos]


def rebuild(
    view: GroupInfoView,
    key: ed25519.Ed25519PrivateKey,
    *,
    nodes: tuple[Node | None, ...] | None = None,
    fix_tree_hash: bool = False,
    **context_changes: Any,
) -> bytes:
    """Re-encode a GroupInfo with a replaced tree/context and re-sign it with ``key``."""
    gi = view.group_info
    assert view.tree is not None
    wire_nodes = nodes if nodes is not None else view.tree.nodes[: view.tree.wire_length]
    tree_data = encode(RATCHET_TREE, wire_nodes)
    extensions = tuple(
        replace(e, extension_data=tree_data) if e.extension_type == EXTENSION_RATCHET_TREE else e
        for e in gi.extensions
    )
    context = replace(view.context, **context_changes)
    if fix_tree_hash:
        fresh = RatchetTree.from_wire(decode_exact(RATCHET_TREE, tree_data))
        context = replace(context, tree_hash=fresh.tree_hash(view.suite.hasher))
    unsigned = replace(gi, group_context=context, extensions=extensions, signature=b"")
    tbs = unsigned.to_bytes()[:-1]  # drop the empty signature's 0x00 length
    signed = replace(unsigned, signature=key.sign(sign_content("GroupInfoTBS", tbs)))
    return replace(view.message, group_info=signed).to_bytes()

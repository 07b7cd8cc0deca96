"""The ratchet tree carried in a GroupInfo: shape checks, tree hash, parent hashes.

Array representation (RFC 9420 §4.1, §12.4.3.3): leaves at even indices (leaf ``L`` at node
``2L``), parents at odd ones; node ``x`` sits at level = number of trailing 1 bits of ``x``;
its children are ``x ∓ 2^(level-1)``. The wire vector omits trailing blank nodes (its last
node MUST be non-blank) and is extended on the right to the next width ``2^(d+1) - 1``.

Everything here is iterative (no recursion on input), linear in the number of nodes, and
hashes each node's ``raw`` bytes exactly once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .errors import InvalidStructure, ParentHashInvalid
from .schema import NODE_LEAF, NODE_PARENT, LeafNode, Node, ParentNode
from .tls import encode_varint

Hasher = Callable[[bytes], bytes]
_PRESENT = b"\x01"
_ABSENT = b"\x00"
_LEAF_TAG = bytes((NODE_LEAF,))
_PARENT_TAG = bytes((NODE_PARENT,))


def level(x: int) -> int:
    """Level of node ``x`` in the array representation (0 for leaves)."""
    k = 0
    while (x >> k) & 1:
        k += 1
    return k


def full_width(node_count: int) -> int:
    """Smallest ``2^(d+1) - 1`` that is at least ``node_count`` (≥ 1)."""
    width = 1
    while width < node_count:
        width = 2 * width + 1
    return width


@dataclass(frozen=True, slots=True)
class RatchetTree:
    """A validated ratchet tree, extended to full width with blank (``None``) nodes."""

    nodes: tuple[Node | None, ...]
    wire_length: int

    @classmethod
    def from_wire(cls, nodes: Sequence[Node | None]) -> RatchetTree:
        """Check shape (non-empty, last node non-blank, leaf/parent by position) and extend."""
        if not nodes:
            raise InvalidStructure("ratchet tree is empty")
        if nodes[-1] is None:
            raise InvalidStructure("ratchet tree ends with a blank node (RFC 9420 §12.4.3.3)")
        for index, node in enumerate(nodes):
            if node is None:
                continue
            want = LeafNode if index % 2 == 0 else ParentNode
            if type(node) is not want:
                raise InvalidStructure(
                    f"node {index} is a {type(node).__name__}, expected {want.__name__}"
                )
        width = full_width(len(nodes))
        return cls(tuple(nodes) + (None,) * (width - len(nodes)), len(nodes))

    @property
    def width(self) -> int:
        """Number of nodes after extension (``2^(d+1) - 1``)."""
        return len(self.nodes)

    @property
    def leaf_count(self) -> int:
        """Number of leaf slots (blank or not)."""
        return (len(self.nodes) + 1) // 2

    @property
    def root(self) -> int:
        """Index of the root node."""
        return (len(self.nodes) - 1) // 2

    def leaf(self, leaf_index: int) -> LeafNode | None:
        """The LeafNode at ``leaf_index``, or None if blank or out of range."""
        if not 0 <= leaf_index < self.leaf_count:
            return None
        node = self.nodes[2 * leaf_index]
        return node if isinstance(node, LeafNode) else None

    def members(self) -> list[tuple[int, LeafNode]]:
        """``(leaf_index, leaf)`` for every non-blank leaf, in index order."""
        return [(i, node) for i, node in enumerate(self.nodes[::2]) if isinstance(node, LeafNode)]

    # --- tree hash (RFC 9420 §7.8) ---------------------------------------------------

    def node_hashes(self, hasher: Hasher) -> list[bytes]:
        """Tree hash of every node (index-aligned), computed bottom-up."""
        return self._hashes(hasher, 0, len(self.nodes), frozenset())

    def tree_hash(self, hasher: Hasher) -> bytes:
        """The root's tree hash: what ``GroupContext.tree_hash`` must equal."""
        return self.node_hashes(hasher)[self.root]

    def _hashes(self, hasher: Hasher, lo: int, hi: int, blanked: frozenset[int]) -> list[bytes]:
        """Tree hashes of nodes ``lo..hi-1`` (a whole subtree), leaves in ``blanked`` blank.

        Blanked leaves are also dropped from every ``unmerged_leaves`` list, which gives the
        "original sibling tree hash" of RFC 9420 §7.9.
        """
        nodes = self.nodes
        hashes: list[bytes] = [b""] * len(nodes)
        for x in range(lo, hi, 2):
            node = nodes[x]
            leaf_index = (x >> 1).to_bytes(4, "big")
            if node is None or (x >> 1) in blanked:
                hashes[x] = hasher(_LEAF_TAG + leaf_index + _ABSENT)
            else:
                hashes[x] = hasher(_LEAF_TAG + leaf_index + _PRESENT + node.raw)
        k = 1
        while (1 << k) <= hi - lo:
            half = 1 << (k - 1)
            for x in range(lo + (1 << k) - 1, hi, 1 << (k + 1)):
                node = nodes[x]
                if node is None:
                    body = _ABSENT
                elif blanked and blanked.intersection(node.unmerged_leaves):  # type: ignore[union-attr]
                    assert isinstance(node, ParentNode)
                    kept = tuple(u for u in node.unmerged_leaves if u not in blanked)
                    body = _PRESENT + _parent_bytes(node, kept)
                else:
                    body = _PRESENT + node.raw
                left, right = hashes[x - half], hashes[x + half]
                hashes[x] = hasher(
                    _PARENT_TAG
                    + body
                    + encode_varint(len(left))
                    + left
                    + encode_varint(len(right))
                    + right
                )
            k += 1
        return hashes

    # --- parent hashes (RFC 9420 §7.9) -----------------------------------------------

    def _resolution(self, x: int) -> list[int]:
        """Node indices in the resolution of ``x`` (unmerged leaves as leaf node indices)."""
        out: list[int] = []
        stack = [x]
        while stack:
            y = stack.pop()
            node = self.nodes[y]
            if node is not None:
                out.append(y)
                if isinstance(node, ParentNode):
                    out.extend(2 * u for u in node.unmerged_leaves)
                continue
            k = level(y)
            if k:
                half = 1 << (k - 1)
                stack.append(y + half)
                stack.append(y - half)
        return out

    def verify_parent_hashes(self, hasher: Hasher) -> None:
        """Check every non-blank parent is parent-hash valid (RFC 9420 §7.9.2, top-down).

        For each non-blank parent P, exactly one node D in the resolution of one child C
        (S being the other child) must carry ``parent_hash == ParentHash(P, S)`` with P's
        unmerged leaves under C equal to resolution(C) minus D.
        """
        plain = self.node_hashes(hasher)
        for p in range(1, len(self.nodes), 2):
            node = self.nodes[p]
            if node is None:
                continue
            assert isinstance(node, ParentNode)
            half = 1 << (level(p) - 1)
            matches = 0
            for child, sibling in ((p - half, p + half), (p + half, p - half)):
                span = (1 << level(sibling)) - 1
                lo, hi = sibling - span, sibling + span + 1
                blanked = frozenset(u for u in node.unmerged_leaves if lo <= 2 * u < hi)
                sibling_hash = (
                    self._hashes(hasher, lo, hi, blanked)[sibling] if blanked else plain[sibling]
                )
                expected = hasher(
                    encode_varint(len(node.encryption_key))
                    + node.encryption_key
                    + encode_varint(len(node.parent_hash))
                    + node.parent_hash
                    + encode_varint(len(sibling_hash))
                    + sibling_hash
                )
                c_span = (1 << level(child)) - 1
                under_child = {
                    2 * u for u in node.unmerged_leaves if child - c_span <= 2 * u <= child + c_span
                }
                resolution = self._resolution(child)
                for d in resolution:
                    d_node = self.nodes[d]
                    if d_node is None or d_node.parent_hash != expected:
                        continue
                    if set(resolution) - {d} == under_child:
                        matches += 1
            if matches != 1:
                raise ParentHashInvalid(
                    f"parent node {p} is not parent-hash valid ({matches} matching descendants)"
                )


def _parent_bytes(node: ParentNode, unmerged: tuple[int, ...]) -> bytes:
    """TLS encoding of ``node`` with a replaced ``unmerged_leaves`` list."""
    body = b"".join(u.to_bytes(4, "big") for u in unmerged)
    return (
        encode_varint(len(node.encryption_key))
        + node.encryption_key
        + encode_varint(len(node.parent_hash))
        + node.parent_hash
        + encode_varint(len(body))
        + body
    )


__all__ = [
    "Hasher",
    "RatchetTree",
    "full_width",
    "level",
]

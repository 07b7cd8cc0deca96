"""Level 5 checks a tree's leaf signatures as one batch, split over threads once it is
large: the verdict and the failure reported (the first failing item in order) must not
depend on the split."""

from __future__ import annotations

from dataclasses import replace

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from invitekit.mls import VerifyLevel, parse_group_info
from invitekit.mls.errors import InvalidSigner, SignatureInvalid
from invitekit.mls.schema import LeafNode
from invitekit.mls.suites import PARALLEL_MIN, first_invalid_signature, sign_content, suite

from .conftest import by_name, rebuild, rine_key

ED25519_SUITE = suite(0x0001)
LABEL = "LeafNodeTBS"


def signed_items(count: int) -> list[tuple[bytes, bytes, bytes]]:
    items = []
    for i in range(count):
        key = ed25519.Ed25519PrivateKey.from_private_bytes(i.to_bytes(32, "big"))
        content = b"leaf %d" % i
        signature = key.sign(sign_content(LABEL, content))
        items.append((key.public_key().public_bytes_raw(), content, signature))
    return items


def with_bad_signature(items: list[tuple[bytes, bytes, bytes]], *positions: int) -> None:
    for p in positions:
        key, content, signature = items[p]
        items[p] = (key, content, bytes([signature[0] ^ 1]) + signature[1:])


@pytest.mark.parametrize("count", [PARALLEL_MIN - 1, PARALLEL_MIN, 4 * PARALLEL_MIN + 3])
def test_every_good_signature_passes(count: int) -> None:
    assert first_invalid_signature(ED25519_SUITE, LABEL, signed_items(count)) is None


@pytest.mark.parametrize(
    ("count", "bad", "first"),
    [
        (PARALLEL_MIN - 1, (5, 40), 5),  # one thread
        (200, (199,), 199),  # the last item, in the last share
        (200, (150, 10), 10),  # the caller's share fails too: the earlier one is reported
        (200, (120, 190), 120),  # two pool shares fail
        (259, (0, 258), 0),
    ],
)
def test_first_failure_in_order_whatever_the_split(
    count: int, bad: tuple[int, ...], first: int
) -> None:
    items = signed_items(count)
    with_bad_signature(items, *bad)
    found = first_invalid_signature(ED25519_SUITE, LABEL, items)
    assert found is not None
    assert found[0] == first
    assert isinstance(found[1], SignatureInvalid)


def test_a_malformed_key_is_an_invalid_signer_in_a_large_batch() -> None:
    items = signed_items(300)
    _, content, signature = items[222]
    items[222] = (b"\x00" * 31, content, signature)
    found = first_invalid_signature(ED25519_SUITE, LABEL, items)
    assert found is not None
    assert found[0] == 222
    assert isinstance(found[1], InvalidSigner)


def test_a_tampered_leaf_in_a_1001_member_tree_is_named() -> None:
    """Two leaves of the large rine fixture get a changed encryption key (tree hash fixed
    and the GroupInfo re-signed, so levels 1–3 pass); the lower index is named."""
    fx = by_name("rine-classic-large")
    view = parse_group_info(fx.data)
    assert view.tree is not None
    nodes = list(view.tree.nodes[: view.tree.wire_length])
    for leaf_index in (900, 611):
        leaf = nodes[2 * leaf_index]
        assert isinstance(leaf, LeafNode)
        key = bytearray(leaf.encryption_key)
        key[-1] ^= 0x01
        nodes[2 * leaf_index] = replace(leaf, encryption_key=bytes(key))
    forged = parse_group_info(
        rebuild(
            view, rine_key("rine-classic-large/creator"), nodes=tuple(nodes), fix_tree_hash=True
        )
    )
    forged.verify(VerifyLevel.TREE)
    with pytest.raises(SignatureInvalid, match=r"^leaf 611: "):
        forged.verify_leaf_signatures()

"""One tampered byte fails exactly the level that covers it, with a typed error.

Tampered trees are re-signed with the fixture's real signing key (rine's seed is the Ed25519
key) so that the signature level passes and the tree levels are what catch the change."""

from __future__ import annotations

from dataclasses import replace

import pytest

from invitekit.mls import VerifyLevel, parse_group_info
from invitekit.mls.errors import (
    InvalidSigner,
    ParentHashInvalid,
    SignatureInvalid,
    TreeHashMismatch,
)
from invitekit.mls.schema import LeafNode, ParentNode

from .conftest import by_name, rebuild, rine_key

CASES = [
    ("rine-classic-small", "rine-classic-small/creator"),
    ("rine-xwing-small", "rine-xwing-small/creator"),
    ("rine-classic-epochs-e5", "rine-classic-epochs/creator"),
    ("rine-classic-epochs-e5-joiner", "rine-classic-epochs/joiner"),
]


def flip(data: bytes, offset: int) -> bytes:
    return data[:offset] + bytes((data[offset] ^ 0x01,)) + data[offset + 1 :]


@pytest.mark.parametrize(("name", "signer"), CASES)
def test_rebuild_with_real_key_reproduces_a_valid_group_info(name: str, signer: str) -> None:
    fx = by_name(name)
    view = parse_group_info(fx.data)
    again = rebuild(view, rine_key(signer))
    parse_group_info(again).verify(VerifyLevel.PARENT_HASHES)
    assert again == fx.data  # Ed25519 is deterministic: our encoder + signer reproduce it


@pytest.mark.parametrize(("name", "signer"), CASES)
def test_signature_byte_fails_level_2(name: str, signer: str) -> None:
    data = by_name(name).data
    view = parse_group_info(flip(data, len(data) - 1))  # the signature is the last field
    view.verify(VerifyLevel.PARSE)
    with pytest.raises(SignatureInvalid):
        view.verify(VerifyLevel.SIGNATURE)


@pytest.mark.parametrize(("name", "signer"), CASES)
def test_leaf_byte_fails_level_2_then_level_3_once_resigned(name: str, signer: str) -> None:
    fx = by_name(name)
    view = parse_group_info(fx.data)
    assert view.tree is not None
    leaf = view.tree.leaf(1) or view.tree.leaf(0)
    assert leaf is not None
    tampered = flip(fx.data, fx.data.index(leaf.encryption_key) + 5)
    bad = parse_group_info(tampered)
    with pytest.raises(SignatureInvalid):  # the ratchet tree is a signed GroupInfo extension
        bad.verify(VerifyLevel.SIGNATURE)
    resigned = parse_group_info(rebuild(bad, rine_key(signer)))
    resigned.verify(VerifyLevel.SIGNATURE)
    with pytest.raises(TreeHashMismatch):
        resigned.verify(VerifyLevel.TREE)


@pytest.mark.parametrize(("name", "signer"), CASES)
def test_parent_node_byte_fails_level_3_then_level_4(name: str, signer: str) -> None:
    fx = by_name(name)
    view = parse_group_info(fx.data)
    assert view.tree is not None
    parents = [(i, n) for i, n in enumerate(view.tree.nodes) if isinstance(n, ParentNode)]
    assert parents
    index, parent = parents[0]
    key = bytearray(parent.encryption_key)
    key[3] ^= 0x80
    nodes = list(view.tree.nodes[: view.tree.wire_length])
    nodes[index] = replace(parent, encryption_key=bytes(key))
    stale = parse_group_info(rebuild(view, rine_key(signer), nodes=tuple(nodes)))
    stale.verify(VerifyLevel.SIGNATURE)
    with pytest.raises(TreeHashMismatch):
        stale.verify(VerifyLevel.TREE)
    consistent = parse_group_info(
        rebuild(view, rine_key(signer), nodes=tuple(nodes), fix_tree_hash=True)
    )
    consistent.verify(VerifyLevel.TREE)
    with pytest.raises(ParentHashInvalid):
        consistent.verify(VerifyLevel.PARENT_HASHES)


def test_group_context_byte_fails_level_2() -> None:
    data = by_name("rine-classic-small").data
    view = parse_group_info(flip(data, 12))  # inside group_id
    with pytest.raises(SignatureInvalid):
        view.verify(VerifyLevel.SIGNATURE)


def test_signer_pointing_at_a_blank_leaf_is_invalid_signer() -> None:
    fx = by_name("rine-classic-epochs-e4")  # leaf 2 was removed
    view = parse_group_info(fx.data)
    assert view.tree is not None
    assert view.tree.leaf(2) is None
    gi = replace(view.group_info, signer=2)
    data = replace(view.message, group_info=gi).to_bytes()
    with pytest.raises(InvalidSigner):
        parse_group_info(data).verify(VerifyLevel.SIGNATURE)
    gi = replace(view.group_info, signer=10_000)
    with pytest.raises(InvalidSigner):
        parse_group_info(replace(view.message, group_info=gi).to_bytes()).verify(
            VerifyLevel.SIGNATURE
        )


def test_wrong_signer_key_fails_level_2() -> None:
    fx = by_name("rine-classic-small")
    view = parse_group_info(fx.data)
    forged = rebuild(view, rine_key("someone-else"))
    with pytest.raises(SignatureInvalid):
        parse_group_info(forged).verify(VerifyLevel.SIGNATURE)


def test_leaf_signature_key_swap_is_caught() -> None:
    # Replacing the signer's signature key with the forger's key changes the tree, so the
    # forger can sign, but the tree hash no longer matches the context.
    fx = by_name("rine-classic-small")
    view = parse_group_info(fx.data)
    assert view.tree is not None
    forger = rine_key("forger")
    from cryptography.hazmat.primitives import serialization

    raw_pub = forger.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    nodes = list(view.tree.nodes[: view.tree.wire_length])
    signer = nodes[0]
    assert isinstance(signer, LeafNode)
    nodes[0] = replace(signer, signature_key=raw_pub)
    forged = parse_group_info(rebuild(view, forger, nodes=tuple(nodes)))
    forged.verify(VerifyLevel.SIGNATURE)
    with pytest.raises(TreeHashMismatch):
        forged.verify(VerifyLevel.TREE)


@pytest.mark.parametrize(("name", "signer"), CASES)
def test_leaf_content_with_consistent_tree_hash_fails_leaf_signatures(
    name: str, signer: str
) -> None:
    fx = by_name(name)
    view = parse_group_info(fx.data)
    assert view.tree is not None
    nodes = list(view.tree.nodes[: view.tree.wire_length])
    leaf = nodes[2]
    assert isinstance(leaf, LeafNode)
    key = bytearray(leaf.encryption_key)
    key[0] ^= 0x01
    nodes[2] = replace(leaf, encryption_key=bytes(key))
    forged = parse_group_info(
        rebuild(view, rine_key(signer), nodes=tuple(nodes), fix_tree_hash=True)
    )
    forged.verify(VerifyLevel.TREE)
    with pytest.raises(SignatureInvalid):
        forged.verify_leaf_signatures()

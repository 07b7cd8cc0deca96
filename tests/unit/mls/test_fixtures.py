"""Every committed fixture (real bytes from rine/mls-rs and ts-mls) decodes, verifies at all
levels, round-trips byte for byte, and matches what its producer reported."""

from __future__ import annotations

import hashlib

from invitekit.mls import ParseOptions, VerifyLevel, parse_group_info
from invitekit.mls.schema import EXTENSION_RATCHET_TREE, RATCHET_TREE
from invitekit.mls.tls import encode

from .conftest import Fixture, all_fixture_paths, group_context_slice


def options(fx: Fixture) -> ParseOptions:
    return ParseOptions(accept_unprefixed_external_pub=fx.unprefixed)


def test_fixture_set_is_complete() -> None:
    names = {p.stem for p in all_fixture_paths()}
    for required in (
        "rine-classic-small",
        "rine-classic-mid",
        "rine-classic-large",
        "rine-xwing-small",
        "rine-xwing-mid",
        "rine-xwing-large",
        "tsmls-small",
        "tsmls-mid",
        "tsmls-large",
        "tsmls-small-tsmls",
    ):
        assert required in names
    assert sum(n.startswith("rine-classic-epochs-e") for n in names) >= 6
    assert sum(n.startswith("tsmls-epochs-e") for n in names) >= 4


def test_decodes_and_verifies_all_levels(fixture: Fixture) -> None:
    view = parse_group_info(fixture.data, options(fixture))
    view.verify(VerifyLevel.LEAF_SIGNATURES)  # levels 1-3 plus the two extras
    assert view.external_pub is not None
    assert len(view.external_pub) == view.suite.kem_public_key_length


def test_matches_producer_report(fixture: Fixture) -> None:
    sc = fixture.sidecar
    view = parse_group_info(fixture.data, options(fixture))
    assert view.epoch == sc["epoch"]
    assert view.group_id.hex() == sc["group_id_hex"]
    assert view.cipher_suite == sc["cipher_suite"]
    members = [[index, leaf.credential.identity.hex()] for index, leaf in view.members()]
    assert len(members) == sc["member_count"]
    assert members == sc["members"]
    assert hashlib.sha256(fixture.data).hexdigest() == sc["sha256_of_file"]
    if "digest_reported_hex" in sc:  # ts-mls reports its own GroupContext digest and tree hash
        assert view.digest.hex() == sc["digest_reported_hex"]
        assert view.context.tree_hash.hex() == sc["tree_hash_reported_hex"]


def test_digest_is_hash_of_independently_sliced_group_context(fixture: Fixture) -> None:
    view = parse_group_info(fixture.data, options(fixture))
    gc = group_context_slice(fixture.data)
    assert view.group_context_bytes == gc
    assert view.digest == hashlib.sha256(gc).digest()  # every fixture suite hashes with SHA-256
    assert view.computed_tree_hash() == view.context.tree_hash


def test_reencoding_gives_identical_bytes(fixture: Fixture) -> None:
    view = parse_group_info(fixture.data, options(fixture))
    assert view.message.to_bytes() == fixture.data
    assert view.group_info.to_bytes() == view.group_info.raw == fixture.data[4:]
    assert view.context.to_bytes() == view.context.raw
    assert view.tree is not None
    (tree_ext,) = [
        e for e in view.group_info.extensions if e.extension_type == EXTENSION_RATCHET_TREE
    ]
    assert encode(RATCHET_TREE, view.tree.nodes[: view.tree.wire_length]) == tree_ext.extension_data
    for node in view.tree.nodes:
        if node is not None:
            assert node.to_bytes() == node.raw


def test_signer_is_the_exporting_member(fixture: Fixture) -> None:
    view = parse_group_info(fixture.data, options(fixture))
    expected = fixture.sidecar.get("exporter_leaf_index", fixture.sidecar.get("signer_leaf_index"))
    assert view.signer_index == expected

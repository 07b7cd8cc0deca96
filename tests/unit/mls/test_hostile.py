"""Hostile input: every failure is a typed MlsError (never IndexError/MemoryError), fast."""

from __future__ import annotations

import contextlib
import time
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from invitekit.mls import Limits, ParseOptions, VerifyLevel, parse_group_info
from invitekit.mls.errors import (
    InvalidStructure,
    InvalidVarint,
    LimitExceeded,
    MissingExtension,
    MlsDecodeError,
    MlsError,
    TrailingBytes,
    Truncated,
    UnknownEnumValue,
    UnsupportedMessage,
)
from invitekit.mls.schema import (
    EXTENSION_EXTERNAL_PUB,
    EXTENSION_RATCHET_TREE,
    RATCHET_TREE,
    Extension,
    LeafNode,
)
from invitekit.mls.tls import decode_exact, encode, encode_varint

from .conftest import by_name

SMALL = by_name("rine-classic-small").data
TS_SMALL = by_name("tsmls-small").data
GROUP_ID_LENGTH_AT = 8  # MLSMessage(4) + GroupContext.version(2) + cipher_suite(2)


def with_extensions(data: bytes, extensions: tuple[Extension, ...]) -> bytes:
    view = parse_group_info(data)
    gi = replace(view.group_info, extensions=extensions)
    return replace(view.message, group_info=gi).to_bytes()


def tree_ext(data: bytes) -> Extension:
    view = parse_group_info(data)
    return next(e for e in view.group_info.extensions if e.extension_type == EXTENSION_RATCHET_TREE)


@pytest.mark.parametrize("data", [SMALL, TS_SMALL], ids=["rine", "ts-mls"])
def test_every_truncation_is_a_decode_error(data: bytes) -> None:
    start = time.perf_counter()
    for cut in range(len(data)):
        with pytest.raises(MlsDecodeError):
            parse_group_info(data[:cut])
    assert time.perf_counter() - start < 5.0


def test_trailing_bytes() -> None:
    with pytest.raises(TrailingBytes):
        parse_group_info(SMALL + b"\x00")


def test_non_minimal_varint() -> None:
    length = SMALL[GROUP_ID_LENGTH_AT]
    assert length < 0x40
    data = SMALL[:GROUP_ID_LENGTH_AT] + bytes((0x40, length)) + SMALL[GROUP_ID_LENGTH_AT + 1 :]
    with pytest.raises(InvalidVarint):
        parse_group_info(data)
    data = SMALL[:GROUP_ID_LENGTH_AT] + (0x80000000 | length).to_bytes(4, "big")
    with pytest.raises(InvalidVarint):
        parse_group_info(data + SMALL[GROUP_ID_LENGTH_AT + 1 :])


def test_reserved_varint_prefix() -> None:
    data = SMALL[:GROUP_ID_LENGTH_AT] + b"\xc0" + SMALL[GROUP_ID_LENGTH_AT + 1 :]
    with pytest.raises(InvalidVarint):
        parse_group_info(data)


def test_over_long_and_huge_lengths_are_truncation_not_allocation() -> None:
    for prefix in (b"\x3f", b"\x7f\xff", b"\xbf\xff\xff\xff"):
        data = SMALL[:GROUP_ID_LENGTH_AT] + prefix + SMALL[GROUP_ID_LENGTH_AT + 1 :]
        with pytest.raises(Truncated):
            parse_group_info(data)


def test_huge_declared_tree_is_bounded() -> None:
    blanks = encode_varint(200_001) + b"\x00" * 200_001
    with pytest.raises(LimitExceeded):
        decode_exact(RATCHET_TREE, blanks)
    ext = tuple(
        replace(e, extension_data=blanks) if e.extension_type == EXTENSION_RATCHET_TREE else e
        for e in parse_group_info(SMALL).group_info.extensions
    )
    start = time.perf_counter()
    with pytest.raises(LimitExceeded):
        parse_group_info(with_extensions(SMALL, ext))
    assert time.perf_counter() - start < 2.0


def test_limits_are_configurable() -> None:
    with pytest.raises(LimitExceeded):
        parse_group_info(SMALL, ParseOptions(limits=Limits(max_input_bytes=100)))
    with pytest.raises(LimitExceeded):
        parse_group_info(SMALL, ParseOptions(limits=Limits(max_tree_nodes=3)))
    with pytest.raises(LimitExceeded):
        parse_group_info(SMALL, ParseOptions(limits=Limits(max_vector_items=1)))


def test_wrong_message_kind() -> None:
    with pytest.raises(UnsupportedMessage):
        parse_group_info(b"\x00\x02" + SMALL[2:])  # version
    with pytest.raises(UnsupportedMessage):
        parse_group_info(SMALL[:2] + b"\x00\x01" + SMALL[4:])  # public message


def test_unknown_credential_type() -> None:
    view = parse_group_info(SMALL)
    leaf = view.tree.leaf(0) if view.tree else None
    assert leaf is not None
    assert leaf.credential.identity is not None
    at = SMALL.index(leaf.credential.raw)
    data = SMALL[:at] + b"\x00\x07" + SMALL[at + 2 :]
    with pytest.raises(UnknownEnumValue):
        parse_group_info(data)


def test_unknown_leaf_node_source() -> None:
    view = parse_group_info(SMALL)
    leaf = view.tree.leaf(1) if view.tree else None
    assert isinstance(leaf, LeafNode)
    at = (
        SMALL.index(leaf.raw)
        + len(encode_varint(len(leaf.encryption_key)))
        + len(leaf.encryption_key)
        + len(encode_varint(len(leaf.signature_key)))
        + len(leaf.signature_key)
        + len(leaf.credential.raw)
        + len(leaf.capabilities.raw)
    )
    assert SMALL[at] == leaf.leaf_node_source
    with pytest.raises(UnknownEnumValue):
        parse_group_info(SMALL[:at] + b"\x04" + SMALL[at + 1 :])


def test_unknown_node_type_and_bad_optional() -> None:
    ext = tree_ext(SMALL)
    # extension data = varint(len) | presence | node_type | ...
    body = ext.extension_data[1 << (ext.extension_data[0] >> 6) :]
    inner = SMALL.index(ext.extension_data) + len(ext.extension_data) - len(body)
    assert SMALL[inner] == 1
    assert SMALL[inner + 1] == 1
    with pytest.raises(UnknownEnumValue):
        parse_group_info(SMALL[: inner + 1] + b"\x03" + SMALL[inner + 2 :])
    with pytest.raises(InvalidStructure):
        parse_group_info(SMALL[:inner] + b"\x02" + SMALL[inner + 1 :])


def test_tree_shape_rules() -> None:
    view = parse_group_info(SMALL)
    assert view.tree is not None
    nodes = view.tree.nodes[: view.tree.wire_length]

    def with_tree(tree_nodes: tuple[object, ...]) -> bytes:
        data = encode(RATCHET_TREE, tree_nodes)
        return with_extensions(
            SMALL,
            tuple(
                replace(e, extension_data=data) if e.extension_type == EXTENSION_RATCHET_TREE else e
                for e in view.group_info.extensions
            ),
        )

    with pytest.raises(InvalidStructure):  # trailing blank node
        parse_group_info(with_tree((*nodes, None)))
    with pytest.raises(InvalidStructure):  # a leaf in a parent position
        parse_group_info(with_tree((nodes[0], nodes[0])))
    with pytest.raises(InvalidStructure):  # empty tree
        parse_group_info(with_tree(()))


def test_duplicate_and_missing_extensions() -> None:
    exts = parse_group_info(SMALL).group_info.extensions
    with pytest.raises(InvalidStructure):
        parse_group_info(with_extensions(SMALL, (*exts, exts[0])))
    no_pub = tuple(e for e in exts if e.extension_type != EXTENSION_EXTERNAL_PUB)
    with pytest.raises(MissingExtension):
        parse_group_info(with_extensions(SMALL, no_pub))
    parse_group_info(with_extensions(SMALL, no_pub), ParseOptions(require_external_pub=False))
    no_tree = tuple(e for e in exts if e.extension_type != EXTENSION_RATCHET_TREE)
    with pytest.raises(MissingExtension):
        parse_group_info(with_extensions(SMALL, no_tree))
    view = parse_group_info(
        with_extensions(SMALL, no_tree), ParseOptions(require_ratchet_tree=False)
    )
    with pytest.raises(MissingExtension):
        view.verify(VerifyLevel.SIGNATURE)


def test_external_pub_layouts() -> None:
    quirk = by_name("tsmls-small-tsmls").data
    with pytest.raises(MlsDecodeError):
        parse_group_info(quirk)  # strict: bare key is not opaque<V>
    view = parse_group_info(quirk, ParseOptions(accept_unprefixed_external_pub=True))
    assert view.external_pub_encoding == "unprefixed"
    # a prefixed key of the wrong length is rejected even in lenient mode
    exts = parse_group_info(SMALL).group_info.extensions
    short = tuple(
        replace(e, extension_data=encode_varint(31) + b"\x01" * 31)
        if e.extension_type == EXTENSION_EXTERNAL_PUB
        else e
        for e in exts
    )
    with pytest.raises(InvalidStructure):
        parse_group_info(with_extensions(SMALL, short))
    # lenient mode reads exactly-Npk-byte data as a bare key; an RFC-correct encoding is
    # always Npk + prefix bytes long, so lenient mode never misreads a correct one
    lenient = parse_group_info(
        with_extensions(SMALL, short), ParseOptions(accept_unprefixed_external_pub=True)
    )
    assert lenient.external_pub == encode_varint(31) + b"\x01" * 31
    correct = parse_group_info(SMALL, ParseOptions(accept_unprefixed_external_pub=True))
    assert correct.external_pub_encoding == "prefixed"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    edits=st.lists(
        st.tuples(st.integers(0, len(SMALL) - 1), st.integers(0, 255), st.sampled_from("rid")),
        min_size=1,
        max_size=4,
    )
)
def test_fuzz_mutations_raise_only_typed_errors(edits: list[tuple[int, int, str]]) -> None:
    data = bytearray(SMALL)
    for position, value, kind in edits:
        at = min(position, len(data) - 1)
        if kind == "r":
            data[at] = value
        elif kind == "i":
            data.insert(at, value)
        else:
            del data[at]
    with contextlib.suppress(MlsError):
        parse_group_info(bytes(data)).verify(VerifyLevel.PARENT_HASHES)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=512))
def test_fuzz_random_bytes(data: bytes) -> None:
    with contextlib.suppress(MlsError):
        parse_group_info(b"\x00\x01\x00\x04" + data).verify(VerifyLevel.PARENT_HASHES)

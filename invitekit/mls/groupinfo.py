"""Decode an MLSMessage(GroupInfo), derive what XIP-82 needs, verify it in three levels.

Levels (:class:`VerifyLevel`):

1. ``PARSE`` — strict decode of the message, the GroupContext, every extension invitekit
   interprets (``ratchet_tree``, ``external_pub``, ``app_data_dictionary``), the tree shape.
2. ``SIGNATURE`` — the GroupInfo signature: VerifyWithLabel(signer leaf's signature_key,
   "GroupInfoTBS", every GroupInfo field before ``signature``).
3. ``TREE`` — the tree hash recomputed from the embedded ratchet tree equals
   ``GroupContext.tree_hash``.
4. ``PARENT_HASHES`` — (extra) every non-blank parent node is parent-hash valid.
5. ``LEAF_SIGNATURES`` — (extra) every leaf's LeafNodeTBS signature verifies under its
   own ``signature_key`` (one signature check per member: the costliest level).

The XIP's ``group_state_hash`` is :attr:`GroupInfoView.digest`: the suite's hash over the
exact TLS bytes of the GroupContext (``GroupContext.raw``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from .appdata import decode_app_data_dictionary
from .errors import (
    InvalidSigner,
    InvalidStructure,
    MissingExtension,
    TreeHashMismatch,
    UnsupportedMessage,
)
from .schema import (
    EXTENSION_APP_DATA_DICTIONARY,
    EXTENSION_EXTERNAL_PUB,
    EXTENSION_RATCHET_TREE,
    PROTOCOL_VERSIONS,
    RATCHET_TREE,
    SOURCE_KEY_PACKAGE,
    WIRE_FORMAT_GROUP_INFO,
    AppDataDictionary,
    Extension,
    ExternalPub,
    GroupContext,
    GroupInfo,
    LeafNode,
    MlsMessage,
    header_mismatch,
)
from .suites import (
    SUITES,
    CipherSuite,
    Signed,
    first_invalid_signature,
    suite,
    verify_with_label,
)
from .tls import DEFAULT_LIMITS, Limits, decode_exact, decode_struct, encode_varint
from .tree import RatchetTree

GROUP_INFO_TBS_LABEL = "GroupInfoTBS"


class VerifyLevel(enum.IntEnum):
    """How much of a GroupInfo to check; each level includes the ones below it."""

    PARSE = 1
    SIGNATURE = 2
    TREE = 3
    PARENT_HASHES = 4
    LEAF_SIGNATURES = 5


class ExternalPubEncoding(enum.StrEnum):
    """How the ``external_pub`` extension data was laid out."""

    PREFIXED = "prefixed"  # RFC 9420: opaque external_pub<V>
    UNPREFIXED = "unprefixed"  # raw key bytes, no length (accepted only when asked)


@dataclass(frozen=True, slots=True)
class ParseOptions:
    """Decoder options. Strict by default.

    * ``require_ratchet_tree`` / ``require_external_pub``: an external joiner needs both.
    * ``accept_unprefixed_external_pub``: also accept ``external_pub`` extension data that
      is the bare HPKE key with no ``opaque<V>`` length (seen in some ts-mls versions). The
      two layouts are told apart by length (the suite's KEM key length), never guessed.
    """

    limits: Limits = DEFAULT_LIMITS
    require_ratchet_tree: bool = True
    require_external_pub: bool = True
    accept_unprefixed_external_pub: bool = False


DEFAULT_OPTIONS = ParseOptions()


def _unique_extensions(extensions: tuple[Extension, ...], where: str) -> dict[int, Extension]:
    by_type: dict[int, Extension] = {}
    for ext in extensions:
        if ext.extension_type in by_type:
            raise InvalidStructure(f"duplicate extension type {ext.extension_type} in {where}")
        by_type[ext.extension_type] = ext
    return by_type


@dataclass(frozen=True)
class GroupInfoView:
    """A decoded, shape-checked GroupInfo (level 1) with its derived values."""

    message: MlsMessage
    raw: bytes = field(repr=False)
    tree: RatchetTree | None = field(repr=False)
    external_pub: bytes | None = field(repr=False)
    external_pub_encoding: ExternalPubEncoding | None
    app_data: AppDataDictionary | None = field(repr=False)

    # --- plain accessors -----------------------------------------------------------

    @property
    def group_info(self) -> GroupInfo:
        """The GroupInfo struct."""
        return self.message.group_info

    @property
    def context(self) -> GroupContext:
        """The GroupContext struct."""
        return self.message.group_info.group_context

    @property
    def epoch(self) -> int:
        """GroupContext.epoch."""
        return self.context.epoch

    @property
    def group_id(self) -> bytes:
        """GroupContext.group_id."""
        return self.context.group_id

    @property
    def cipher_suite(self) -> int:
        """GroupContext.cipher_suite (the raw code point)."""
        return self.context.cipher_suite

    @property
    def suite(self) -> CipherSuite:
        """The suite's parameters; raises UnsupportedCipherSuite for unknown suites."""
        return suite(self.context.cipher_suite)

    @property
    def group_context_bytes(self) -> bytes:
        """The exact TLS encoding of the GroupContext as it appeared in the input."""
        return self.context.raw

    @property
    def digest(self) -> bytes:
        """XIP-82 ``group_state_hash``: Hash(TLS-serialized GroupContext) with the suite hash."""
        return self.suite.hash(self.context.raw)

    @property
    def signer_index(self) -> int:
        """GroupInfo.signer (a leaf index)."""
        return self.group_info.signer

    def signer_leaf(self) -> LeafNode:
        """The non-blank leaf GroupInfo.signer names, or raise InvalidSigner."""
        tree = self._require_tree()
        leaf = tree.leaf(self.group_info.signer)
        if leaf is None:
            raise InvalidSigner(f"signer {self.group_info.signer} is not a non-blank leaf")
        return leaf

    def members(self) -> list[tuple[int, LeafNode]]:
        """``(leaf_index, LeafNode)`` of every member in the embedded tree."""
        return self._require_tree().members()

    def _require_tree(self) -> RatchetTree:
        if self.tree is None:
            raise MissingExtension("GroupInfo carries no ratchet_tree extension")
        return self.tree

    # --- verification --------------------------------------------------------------

    def group_info_tbs(self) -> bytes:
        """GroupInfoTBS: the GroupInfo's bytes up to (excluding) the signature field."""
        gi = self.group_info
        sig_field = len(encode_varint(len(gi.signature))) + len(gi.signature)
        return gi.raw[: len(gi.raw) - sig_field]

    def verify_signature(self) -> None:
        """Level 2: raise SignatureInvalid/InvalidSigner unless the signature verifies."""
        leaf = self.signer_leaf()
        verify_with_label(
            self.suite,
            leaf.signature_key,
            GROUP_INFO_TBS_LABEL,
            self.group_info_tbs(),
            self.group_info.signature,
        )

    def computed_tree_hash(self) -> bytes:
        """Tree hash recomputed from the embedded ratchet tree."""
        return self._require_tree().tree_hash(self.suite.hasher)

    def verify_tree_hash(self) -> None:
        """Level 3: raise TreeHashMismatch unless the recomputed hash equals the context's."""
        if self.computed_tree_hash() != self.context.tree_hash:
            raise TreeHashMismatch("ratchet tree does not hash to GroupContext.tree_hash")

    def verify_parent_hashes(self) -> None:
        """Level 4: raise ParentHashInvalid unless every non-blank parent is valid."""
        self._require_tree().verify_parent_hashes(self.suite.hasher)

    def verify_leaf_signatures(self, *, threads: int | None = None) -> None:
        """Level 5: every LeafNode's signature over its LeafNodeTBS (RFC 9420 §7.2).

        LeafNodeTBS is the leaf's bytes before ``signature``, followed, for the ``update``
        and ``commit`` sources, by ``opaque group_id<V>`` and ``uint32 leaf_index``. The
        error names the lowest failing leaf index. ``threads``: as in
        :func:`~invitekit.mls.suites.first_invalid_signature`.
        """
        context = encode_varint(len(self.group_id)) + self.group_id
        indices: list[int] = []
        signed: list[Signed] = []
        for index, leaf in self.members():
            sig_field = len(encode_varint(len(leaf.signature))) + len(leaf.signature)
            tbs = leaf.raw[: len(leaf.raw) - sig_field]
            if leaf.leaf_node_source != SOURCE_KEY_PACKAGE:
                tbs += context + index.to_bytes(4, "big")
            indices.append(index)
            signed.append((leaf.signature_key, tbs, leaf.signature))
        failure = first_invalid_signature(self.suite, "LeafNodeTBS", signed, threads=threads)
        if failure is not None:
            position, error = failure
            raise type(error)(f"leaf {indices[position]}: {error}")

    def verify(self, level: VerifyLevel = VerifyLevel.TREE) -> None:
        """Run every check up to ``level`` (parse is done on construction)."""
        if level >= VerifyLevel.SIGNATURE:
            self.verify_signature()
        if level >= VerifyLevel.TREE:
            self.verify_tree_hash()
        if level >= VerifyLevel.PARENT_HASHES:
            self.verify_parent_hashes()
        if level >= VerifyLevel.LEAF_SIGNATURES:
            self.verify_leaf_signatures()


def _external_pub(
    ext: Extension, suite_id: int, options: ParseOptions
) -> tuple[bytes, ExternalPubEncoding]:
    data = ext.extension_data
    if options.accept_unprefixed_external_pub:
        expected = suite(suite_id).kem_public_key_length
        if len(data) == expected:
            return data, ExternalPubEncoding.UNPREFIXED
    key = decode_struct(ExternalPub, data, options.limits).external_pub
    known = SUITES.get(suite_id)
    if known is not None and len(key) != known.kem_public_key_length:
        raise InvalidStructure(
            f"external_pub is {len(key)} bytes; suite 0x{suite_id:04x} keys are "
            f"{known.kem_public_key_length}"
        )
    return key, ExternalPubEncoding.PREFIXED


def parse_group_info(data: bytes, options: ParseOptions = DEFAULT_OPTIONS) -> GroupInfoView:
    """Level 1: decode an MLSMessage carrying a GroupInfo, strictly, and check its shape.

    Raises an :class:`~invitekit.mls.errors.MlsDecodeError` subclass on any defect:
    truncation, trailing bytes, bad varints, unknown layout-deciding enums, duplicate
    extensions, a malformed or trailing-blank tree, a missing required extension.
    """
    data = bytes(data)
    if len(data) >= 4:
        version = int.from_bytes(data[0:2], "big")
        wire_format = int.from_bytes(data[2:4], "big")
        if version not in PROTOCOL_VERSIONS or wire_format != WIRE_FORMAT_GROUP_INFO:
            raise UnsupportedMessage(header_mismatch(version, wire_format, WIRE_FORMAT_GROUP_INFO))
    message = decode_struct(MlsMessage, data, options.limits)
    gi = message.group_info
    gi_ext = _unique_extensions(gi.extensions, "GroupInfo")
    gc_ext = _unique_extensions(gi.group_context.extensions, "GroupContext")

    tree: RatchetTree | None = None
    if EXTENSION_RATCHET_TREE in gi_ext:
        nodes = decode_exact(
            RATCHET_TREE, gi_ext[EXTENSION_RATCHET_TREE].extension_data, options.limits
        )
        tree = RatchetTree.from_wire(nodes)
        for index, node in enumerate(tree.nodes):
            if isinstance(node, LeafNode):
                _unique_extensions(node.extensions, f"leaf {index // 2}")
    elif options.require_ratchet_tree:
        raise MissingExtension("GroupInfo carries no ratchet_tree extension")

    external_pub: bytes | None = None
    encoding: ExternalPubEncoding | None = None
    if EXTENSION_EXTERNAL_PUB in gi_ext:
        external_pub, encoding = _external_pub(
            gi_ext[EXTENSION_EXTERNAL_PUB], gi.group_context.cipher_suite, options
        )
    elif options.require_external_pub:
        raise MissingExtension("GroupInfo carries no external_pub extension")

    app_data: AppDataDictionary | None = None
    if EXTENSION_APP_DATA_DICTIONARY in gc_ext:
        app_data = decode_app_data_dictionary(gc_ext[EXTENSION_APP_DATA_DICTIONARY].extension_data)

    return GroupInfoView(
        message=message,
        raw=data,
        tree=tree,
        external_pub=external_pub,
        external_pub_encoding=encoding,
        app_data=app_data,
    )


def verify_group_info(
    data: bytes, level: VerifyLevel = VerifyLevel.TREE, options: ParseOptions = DEFAULT_OPTIONS
) -> GroupInfoView:
    """Parse and verify up to ``level``; returns the view or raises a typed MlsError."""
    view = parse_group_info(data, options)
    view.verify(level)
    return view


__all__ = [
    "DEFAULT_OPTIONS",
    "GROUP_INFO_TBS_LABEL",
    "ExternalPubEncoding",
    "GroupInfoView",
    "ParseOptions",
    "VerifyLevel",
    "parse_group_info",
    "verify_group_info",
]

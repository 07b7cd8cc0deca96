"""RFC 9420 proposals, ``Commit`` and ``UpdatePath`` as layout tables.

Every proposal type of RFC 9420 §12.1 decodes by value (``Add`` §12.1.1 through
``GroupContextExtensions`` §12.1.7), plus ``AppDataUpdate`` (0x0008) of
draft-ietf-mls-extensions. ``ProposalOrRef`` (§12.4) carries a proposal by value or a
``ProposalRef`` (a ``HashReference``, ``opaque<V>``) by reference.

A ``Proposal`` has no length prefix: its type decides its layout, so an unknown proposal
type makes the rest of the commit unreadable and is rejected (``UnknownEnumValue``), never
skipped. ``AppDataUpdate`` is ``uint16 component_id ‖ uint8 op ‖ (op == update: opaque
update<V>)`` with no outer length; a producer that wraps it in an extra ``opaque<V>`` (as
ts-mls does for custom proposals) yields bytes that either fail here or decode to a
different component and are refused by the validator.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .schema import EXTENSIONS, PROTOCOL_VERSIONS, Extension, LeafNode
from .tls import (
    OPAQUE,
    U16,
    U32,
    U64,
    Enum,
    Field,
    Layout,
    Optional,
    Select,
    Struct,
    Vector,
    codec_for,
)

# --- registries -----------------------------------------------------------------------

PROPOSAL_ADD = 1
PROPOSAL_UPDATE = 2
PROPOSAL_REMOVE = 3
PROPOSAL_PSK = 4
PROPOSAL_REINIT = 5
PROPOSAL_EXTERNAL_INIT = 6
PROPOSAL_GROUP_CONTEXT_EXTENSIONS = 7
#: draft-ietf-mls-extensions ``app_data_update``.
PROPOSAL_APP_DATA_UPDATE = 8
PROPOSAL_TYPES = {
    PROPOSAL_ADD: "add",
    PROPOSAL_UPDATE: "update",
    PROPOSAL_REMOVE: "remove",
    PROPOSAL_PSK: "psk",
    PROPOSAL_REINIT: "reinit",
    PROPOSAL_EXTERNAL_INIT: "external_init",
    PROPOSAL_GROUP_CONTEXT_EXTENSIONS: "group_context_extensions",
    PROPOSAL_APP_DATA_UPDATE: "app_data_update",
}
PSK_EXTERNAL = 1
PSK_RESUMPTION = 2
PSK_TYPES = {PSK_EXTERNAL: "external", PSK_RESUMPTION: "resumption"}
RESUMPTION_USAGES = {1: "application", 2: "reinit", 3: "branch"}
APP_DATA_OP_UPDATE = 1
APP_DATA_OP_REMOVE = 2
APP_DATA_OPS = {APP_DATA_OP_UPDATE: "update", APP_DATA_OP_REMOVE: "remove"}
BY_VALUE = 1
BY_REFERENCE = 2
PROPOSAL_OR_REF_TYPES = {BY_VALUE: "proposal", BY_REFERENCE: "reference"}


# --- key packages and paths -------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyPackage(Struct):
    """RFC 9420 §10 ``KeyPackage``; the signature covers every field before it."""

    version: int
    cipher_suite: int
    init_key: bytes
    leaf_node: LeafNode
    extensions: tuple[Extension, ...]
    signature: bytes

    LAYOUT: ClassVar[Layout] = (
        Field("version", Enum(2, PROTOCOL_VERSIONS, "protocol version")),
        Field("cipher_suite", U16),
        Field("init_key", OPAQUE),
        Field("leaf_node", codec_for(LeafNode)),
        Field("extensions", EXTENSIONS),
        Field("signature", OPAQUE),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class HpkeCiphertext(Struct):
    """RFC 9420 §7.6 ``HPKECiphertext``."""

    kem_output: bytes
    ciphertext: bytes

    LAYOUT: ClassVar[Layout] = (Field("kem_output", OPAQUE), Field("ciphertext", OPAQUE))


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdatePathNode(Struct):
    """RFC 9420 §7.6 ``UpdatePathNode``: a public key and its encrypted path secrets."""

    encryption_key: bytes
    encrypted_path_secret: tuple[HpkeCiphertext, ...]

    LAYOUT: ClassVar[Layout] = (
        Field("encryption_key", OPAQUE),
        Field("encrypted_path_secret", Vector(codec_for(HpkeCiphertext))),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdatePath(Struct):
    """RFC 9420 §7.6 ``UpdatePath``: the committer's new leaf and its direct path."""

    leaf_node: LeafNode
    nodes: tuple[UpdatePathNode, ...]

    LAYOUT: ClassVar[Layout] = (
        Field("leaf_node", codec_for(LeafNode)),
        Field("nodes", Vector(codec_for(UpdatePathNode))),
    )


# --- proposal bodies ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class PreSharedKeyId(Struct):
    """RFC 9420 §8.4 ``PreSharedKeyID`` (external or resumption) with its nonce."""

    psktype: int
    psk_id: bytes | None = None
    usage: int | None = None
    psk_group_id: bytes | None = None
    psk_epoch: int | None = None
    psk_nonce: bytes

    LAYOUT: ClassVar[Layout] = (
        Field("psktype", Enum(1, PSK_TYPES, "PSK type")),
        Select(
            "psktype",
            {
                PSK_EXTERNAL: (Field("psk_id", OPAQUE),),
                PSK_RESUMPTION: (
                    Field("usage", Enum(1, RESUMPTION_USAGES, "resumption PSK usage")),
                    Field("psk_group_id", OPAQUE),
                    Field("psk_epoch", U64),
                ),
            },
        ),
        Field("psk_nonce", OPAQUE),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class ReInit(Struct):
    """RFC 9420 §12.1.5 ``ReInit``."""

    group_id: bytes
    version: int
    cipher_suite: int
    extensions: tuple[Extension, ...]

    LAYOUT: ClassVar[Layout] = (
        Field("group_id", OPAQUE),
        Field("version", Enum(2, PROTOCOL_VERSIONS, "protocol version")),
        Field("cipher_suite", U16),
        Field("extensions", EXTENSIONS),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class AppDataUpdate(Struct):
    """draft-ietf-mls-extensions ``AppDataUpdate``: a component and an update or a remove."""

    component_id: int
    op: int
    update: bytes | None = None

    LAYOUT: ClassVar[Layout] = (
        Field("component_id", U16),
        Field("op", Enum(1, APP_DATA_OPS, "AppDataUpdate operation")),
        Select("op", {APP_DATA_OP_UPDATE: (Field("update", OPAQUE),), APP_DATA_OP_REMOVE: ()}),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Proposal(Struct):
    """RFC 9420 §12.1 ``Proposal``: exactly one body field is set, chosen by the type."""

    proposal_type: int
    key_package: KeyPackage | None = None
    leaf_node: LeafNode | None = None
    removed: int | None = None
    psk: PreSharedKeyId | None = None
    reinit: ReInit | None = None
    kem_output: bytes | None = None
    extensions: tuple[Extension, ...] | None = None
    app_data_update: AppDataUpdate | None = None

    LAYOUT: ClassVar[Layout] = (
        Field("proposal_type", Enum(2, PROPOSAL_TYPES, "proposal type")),
        Select(
            "proposal_type",
            {
                PROPOSAL_ADD: (Field("key_package", codec_for(KeyPackage)),),
                PROPOSAL_UPDATE: (Field("leaf_node", codec_for(LeafNode)),),
                PROPOSAL_REMOVE: (Field("removed", U32),),
                PROPOSAL_PSK: (Field("psk", codec_for(PreSharedKeyId)),),
                PROPOSAL_REINIT: (Field("reinit", codec_for(ReInit)),),
                PROPOSAL_EXTERNAL_INIT: (Field("kem_output", OPAQUE),),
                PROPOSAL_GROUP_CONTEXT_EXTENSIONS: (Field("extensions", EXTENSIONS),),
                PROPOSAL_APP_DATA_UPDATE: (Field("app_data_update", codec_for(AppDataUpdate)),),
            },
        ),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class ProposalOrRef(Struct):
    """RFC 9420 §12.4 ``ProposalOrRef``: a proposal by value or a ``ProposalRef``."""

    type: int
    proposal: Proposal | None = None
    reference: bytes | None = None

    LAYOUT: ClassVar[Layout] = (
        Field("type", Enum(1, PROPOSAL_OR_REF_TYPES, "ProposalOrRef type")),
        Select(
            "type",
            {
                BY_VALUE: (Field("proposal", codec_for(Proposal)),),
                BY_REFERENCE: (Field("reference", OPAQUE),),
            },
        ),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Commit(Struct):
    """RFC 9420 §12.4 ``Commit``: proposals, then an optional ``UpdatePath``."""

    proposals: tuple[ProposalOrRef, ...]
    path: UpdatePath | None

    LAYOUT: ClassVar[Layout] = (
        Field("proposals", Vector(codec_for(ProposalOrRef))),
        Field("path", Optional(codec_for(UpdatePath))),
    )


__all__ = [
    "PROPOSAL_TYPES",
    "AppDataUpdate",
    "Commit",
    "HpkeCiphertext",
    "KeyPackage",
    "PreSharedKeyId",
    "Proposal",
    "ProposalOrRef",
    "ReInit",
    "UpdatePath",
    "UpdatePathNode",
]

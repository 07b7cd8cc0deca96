"""RFC 9420 structures needed to read a GroupInfo, declared as layout tables.

Each class is a frozen value whose ``LAYOUT`` *is* its wire format (RFC 9420 section in the
docstring). Enum-typed fields that choose a layout (credential type, leaf node source, node
type, protocol version, wire format) reject unknown values; ``ExtensionType`` and
``CipherSuite`` values are open (unknown ones are carried opaquely).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .tls import (
    OPAQUE,
    U16,
    U16_LIST,
    U32,
    U32_LIST,
    U64,
    Enum,
    Field,
    Layout,
    Optional,
    Select,
    Struct,
    Tagged,
    Vector,
    codec_for,
)

# --- registries (RFC 9420 §17 and the MLS extensions draft) -------------------------

PROTOCOL_VERSIONS = {1: "mls10"}
WIRE_FORMATS = {
    1: "mls_public_message",
    2: "mls_private_message",
    3: "mls_welcome",
    4: "mls_group_info",
    5: "mls_key_package",
}
WIRE_FORMAT_GROUP_INFO = 4


def header_mismatch(version: int, wire_format: int, expected_wire_format: int) -> str:
    """Why an ``MLSMessage`` header is not the expected one, worded without contradiction:
    an unknown protocol version, or an mls10 message of another wire format."""
    expected = WIRE_FORMATS[expected_wire_format]
    if version not in PROTOCOL_VERSIONS:
        return f"unsupported MLS protocol version {version} (only mls10, version 1, is read)"
    got = WIRE_FORMATS.get(wire_format, "unknown")
    return (
        f"the message is mls10 but its wire format is {got} ({wire_format}), "
        f"not {expected} ({expected_wire_format})"
    )


EXTENSION_APPLICATION_ID = 0x0001
EXTENSION_RATCHET_TREE = 0x0002
EXTENSION_REQUIRED_CAPABILITIES = 0x0003
EXTENSION_EXTERNAL_PUB = 0x0004
EXTENSION_EXTERNAL_SENDERS = 0x0005
#: draft-ietf-mls-extensions "app_data_dictionary" (0x0006 suggested; openmls uses 6).
EXTENSION_APP_DATA_DICTIONARY = 0x0006
EXTENSION_NAMES = {
    EXTENSION_APPLICATION_ID: "application_id",
    EXTENSION_RATCHET_TREE: "ratchet_tree",
    EXTENSION_REQUIRED_CAPABILITIES: "required_capabilities",
    EXTENSION_EXTERNAL_PUB: "external_pub",
    EXTENSION_EXTERNAL_SENDERS: "external_senders",
    EXTENSION_APP_DATA_DICTIONARY: "app_data_dictionary",
}
CREDENTIAL_BASIC = 1
CREDENTIAL_X509 = 2
CREDENTIAL_TYPES = {CREDENTIAL_BASIC: "basic", CREDENTIAL_X509: "x509"}
SOURCE_KEY_PACKAGE = 1
SOURCE_UPDATE = 2
SOURCE_COMMIT = 3
LEAF_NODE_SOURCES = {
    SOURCE_KEY_PACKAGE: "key_package",
    SOURCE_UPDATE: "update",
    SOURCE_COMMIT: "commit",
}
NODE_LEAF = 1
NODE_PARENT = 2


# --- structures ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Extension(Struct):
    """RFC 9420 §7.2 ``Extension``: a type and opaque data (interpreted per type elsewhere)."""

    extension_type: int
    extension_data: bytes

    LAYOUT: ClassVar[Layout] = (
        Field("extension_type", U16),
        Field("extension_data", OPAQUE),
    )


EXTENSIONS = Vector(codec_for(Extension))


@dataclass(frozen=True, slots=True, kw_only=True)
class Credential(Struct):
    """RFC 9420 §5.3 ``Credential``: basic (an identity) or x509 (a DER certificate chain)."""

    credential_type: int
    identity: bytes | None = None
    certificates: tuple[bytes, ...] | None = None

    LAYOUT: ClassVar[Layout] = (
        Field("credential_type", Enum(2, CREDENTIAL_TYPES, "credential type")),
        Select(
            "credential_type",
            {
                CREDENTIAL_BASIC: (Field("identity", OPAQUE),),
                CREDENTIAL_X509: (Field("certificates", Vector(OPAQUE)),),
            },
        ),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Capabilities(Struct):
    """RFC 9420 §7.2 ``Capabilities``: five vectors of uint16 code points."""

    versions: tuple[int, ...]
    cipher_suites: tuple[int, ...]
    extensions: tuple[int, ...]
    proposals: tuple[int, ...]
    credentials: tuple[int, ...]

    LAYOUT: ClassVar[Layout] = (
        Field("versions", U16_LIST),
        Field("cipher_suites", U16_LIST),
        Field("extensions", U16_LIST),
        Field("proposals", U16_LIST),
        Field("credentials", U16_LIST),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Lifetime(Struct):
    """RFC 9420 §7.2 ``Lifetime``: validity window in seconds since the Unix epoch."""

    not_before: int
    not_after: int

    LAYOUT: ClassVar[Layout] = (Field("not_before", U64), Field("not_after", U64))


@dataclass(frozen=True, slots=True, kw_only=True)
class LeafNode(Struct):
    """RFC 9420 §7.2 ``LeafNode``; ``lifetime``/``parent_hash`` depend on the source."""

    encryption_key: bytes
    signature_key: bytes
    credential: Credential
    capabilities: Capabilities
    leaf_node_source: int
    lifetime: Lifetime | None = None
    parent_hash: bytes | None = None
    extensions: tuple[Extension, ...]
    signature: bytes

    LAYOUT: ClassVar[Layout] = (
        Field("encryption_key", OPAQUE),
        Field("signature_key", OPAQUE),
        Field("credential", codec_for(Credential)),
        Field("capabilities", codec_for(Capabilities)),
        Field("leaf_node_source", Enum(1, LEAF_NODE_SOURCES, "leaf node source")),
        Select(
            "leaf_node_source",
            {
                SOURCE_KEY_PACKAGE: (Field("lifetime", codec_for(Lifetime)),),
                SOURCE_UPDATE: (),
                SOURCE_COMMIT: (Field("parent_hash", OPAQUE),),
            },
        ),
        Field("extensions", EXTENSIONS),
        Field("signature", OPAQUE),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class ParentNode(Struct):
    """RFC 9420 §7.1 ``ParentNode``."""

    encryption_key: bytes
    parent_hash: bytes
    unmerged_leaves: tuple[int, ...]

    LAYOUT: ClassVar[Layout] = (
        Field("encryption_key", OPAQUE),
        Field("parent_hash", OPAQUE),
        Field("unmerged_leaves", U32_LIST),
    )


Node = LeafNode | ParentNode
#: RFC 9420 §12.4.3.3 ``Node``: a NodeType octet, then a LeafNode or a ParentNode.
NODE = Tagged({NODE_LEAF: LeafNode, NODE_PARENT: ParentNode}, "node")
#: RFC 9420 §12.4.3.3 ``optional<Node> ratchet_tree<V>`` (the ratchet_tree extension data).
RATCHET_TREE = Vector(Optional(NODE), tree=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupContext(Struct):
    """RFC 9420 §8.1 ``GroupContext``; its ``raw`` bytes are what the blob digest covers."""

    version: int
    cipher_suite: int
    group_id: bytes
    epoch: int
    tree_hash: bytes
    confirmed_transcript_hash: bytes
    extensions: tuple[Extension, ...]

    LAYOUT: ClassVar[Layout] = (
        Field("version", Enum(2, PROTOCOL_VERSIONS, "protocol version")),
        Field("cipher_suite", U16),
        Field("group_id", OPAQUE),
        Field("epoch", U64),
        Field("tree_hash", OPAQUE),
        Field("confirmed_transcript_hash", OPAQUE),
        Field("extensions", EXTENSIONS),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupInfo(Struct):
    """RFC 9420 §12.4.3 ``GroupInfo``; the signature covers every field before it."""

    group_context: GroupContext
    extensions: tuple[Extension, ...]
    confirmation_tag: bytes
    signer: int
    signature: bytes

    LAYOUT: ClassVar[Layout] = (
        Field("group_context", codec_for(GroupContext)),
        Field("extensions", EXTENSIONS),
        Field("confirmation_tag", OPAQUE),
        Field("signer", U32),
        Field("signature", OPAQUE),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class MlsMessage(Struct):
    """RFC 9420 §6 ``MLSMessage``, restricted to version mls10 carrying a GroupInfo."""

    version: int
    wire_format: int
    group_info: GroupInfo

    LAYOUT: ClassVar[Layout] = (
        Field("version", Enum(2, PROTOCOL_VERSIONS, "protocol version")),
        Field("wire_format", Enum(2, {WIRE_FORMAT_GROUP_INFO: "mls_group_info"}, "wire format")),
        Select(
            "wire_format",
            {WIRE_FORMAT_GROUP_INFO: (Field("group_info", codec_for(GroupInfo)),)},
        ),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class ExternalPub(Struct):
    """RFC 9420 §12.4.3.2 ``ExternalPub``: ``HPKEPublicKey external_pub`` (an ``opaque<V>``)."""

    external_pub: bytes

    LAYOUT: ClassVar[Layout] = (Field("external_pub", OPAQUE),)


@dataclass(frozen=True, slots=True, kw_only=True)
class ComponentData(Struct):
    """draft-ietf-mls-extensions ``ComponentData``: a uint16 ComponentID and opaque data."""

    component_id: int
    data: bytes

    LAYOUT: ClassVar[Layout] = (Field("component_id", U16), Field("data", OPAQUE))


@dataclass(frozen=True, slots=True, kw_only=True)
class AppDataDictionary(Struct):
    """draft-ietf-mls-extensions ``AppDataDictionary`` (entries sorted, ids unique)."""

    component_data: tuple[ComponentData, ...]

    LAYOUT: ClassVar[Layout] = (Field("component_data", Vector(codec_for(ComponentData))),)


__all__ = [
    "NODE",
    "RATCHET_TREE",
    "AppDataDictionary",
    "Capabilities",
    "ComponentData",
    "Credential",
    "Extension",
    "ExternalPub",
    "GroupContext",
    "GroupInfo",
    "LeafNode",
    "Lifetime",
    "MlsMessage",
    "Node",
    "ParentNode",
]

"""RFC 9420 §6 message framing: ``MLSMessage(PublicMessage)`` and its signature.

Layouts (RFC 9420 §6, §6.1, §6.2):

* ``Sender``: a ``SenderType`` octet, then ``uint32 leaf_index`` (member) or
  ``uint32 sender_index`` (external) or nothing (``new_member_proposal``,
  ``new_member_commit``);
* ``FramedContent``: group id, epoch, sender, authenticated data, a ``ContentType`` octet and
  the application data, proposal or commit it selects;
* ``PublicMessage``: the ``FramedContent``, then ``FramedContentAuthData`` (the signature,
  plus the confirmation tag when the content is a commit), then the membership tag when the
  sender is a member.

``FramedContentAuthData`` and the membership tag are selected by fields *inside*
``FramedContent``, which a flat layout table cannot name, so ``PublicMessage`` has a small
codec of its own on top of the table-driven ``FramedContent``.

The framing signature is ``SignWithLabel(., "FramedContentTBS", FramedContentTBS)`` with
``FramedContentTBS = version ‖ wire_format ‖ FramedContent ‖ GroupContext`` (the context only
for ``member`` and ``new_member_commit`` senders). The confirmation tag and the membership tag
are MACs under epoch secrets: only a member's MLS stack can check them, never this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from .errors import Truncated, UnsupportedMessage
from .proposals import Commit, Proposal
from .schema import PROTOCOL_VERSIONS, header_mismatch
from .suites import CipherSuite, verify_with_label
from .tls import (
    DEFAULT_LIMITS,
    OPAQUE,
    U32,
    U64,
    Codec,
    Enum,
    Field,
    Layout,
    Limits,
    Select,
    Struct,
    codec_for,
    decode_exact,
)

FRAMED_CONTENT_TBS_LABEL = "FramedContentTBS"
WIRE_FORMAT_PUBLIC_MESSAGE = 1
MLS10 = 1

SENDER_MEMBER = 1
SENDER_EXTERNAL = 2
SENDER_NEW_MEMBER_PROPOSAL = 3
SENDER_NEW_MEMBER_COMMIT = 4
SENDER_TYPES = {
    SENDER_MEMBER: "member",
    SENDER_EXTERNAL: "external",
    SENDER_NEW_MEMBER_PROPOSAL: "new_member_proposal",
    SENDER_NEW_MEMBER_COMMIT: "new_member_commit",
}
CONTENT_APPLICATION = 1
CONTENT_PROPOSAL = 2
CONTENT_COMMIT = 3
CONTENT_TYPES = {
    CONTENT_APPLICATION: "application",
    CONTENT_PROPOSAL: "proposal",
    CONTENT_COMMIT: "commit",
}
#: Senders whose FramedContentTBS includes the GroupContext (RFC 9420 §6.1).
_CONTEXT_SENDERS = frozenset({SENDER_MEMBER, SENDER_NEW_MEMBER_COMMIT})


@dataclass(frozen=True, slots=True, kw_only=True)
class Sender(Struct):
    """RFC 9420 §6 ``Sender``."""

    sender_type: int
    leaf_index: int | None = None
    sender_index: int | None = None

    LAYOUT: ClassVar[Layout] = (
        Field("sender_type", Enum(1, SENDER_TYPES, "sender type")),
        Select(
            "sender_type",
            {
                SENDER_MEMBER: (Field("leaf_index", U32),),
                SENDER_EXTERNAL: (Field("sender_index", U32),),
                SENDER_NEW_MEMBER_PROPOSAL: (),
                SENDER_NEW_MEMBER_COMMIT: (),
            },
        ),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class FramedContent(Struct):
    """RFC 9420 §6 ``FramedContent``; ``raw`` is what FramedContentTBS embeds."""

    group_id: bytes
    epoch: int
    sender: Sender
    authenticated_data: bytes
    content_type: int
    application_data: bytes | None = None
    proposal: Proposal | None = None
    commit: Commit | None = None

    LAYOUT: ClassVar[Layout] = (
        Field("group_id", OPAQUE),
        Field("epoch", U64),
        Field("sender", codec_for(Sender)),
        Field("authenticated_data", OPAQUE),
        Field("content_type", Enum(1, CONTENT_TYPES, "content type")),
        Select(
            "content_type",
            {
                CONTENT_APPLICATION: (Field("application_data", OPAQUE),),
                CONTENT_PROPOSAL: (Field("proposal", codec_for(Proposal)),),
                CONTENT_COMMIT: (Field("commit", codec_for(Commit)),),
            },
        ),
    )


@dataclass(frozen=True, slots=True)
class PublicMessage:
    """RFC 9420 §6.2 ``PublicMessage``: content, auth data and the optional membership tag.

    ``confirmation_tag`` is set iff the content is a commit; ``membership_tag`` iff the
    sender is a member.
    """

    content: FramedContent
    signature: bytes
    confirmation_tag: bytes | None
    membership_tag: bytes | None
    raw: bytes = field(default=b"", repr=False, compare=False)

    def to_bytes(self) -> bytes:
        """Re-encode from the field values."""
        out = bytearray()
        PUBLIC_MESSAGE.encode(self, out)
        return bytes(out)


class _PublicMessageCodec(Codec):
    """Decodes the auth data and membership tag that ``FramedContent`` selects."""

    __slots__ = ()

    def decode(self, buf: bytes, pos: int, end: int, limits: Limits) -> tuple[Any, int]:
        start = pos
        content, pos = codec_for(FramedContent).decode(buf, pos, end, limits)
        signature, pos = OPAQUE.decode(buf, pos, end, limits)
        confirmation_tag = membership_tag = None
        if content.content_type == CONTENT_COMMIT:
            confirmation_tag, pos = OPAQUE.decode(buf, pos, end, limits)
        if content.sender.sender_type == SENDER_MEMBER:
            membership_tag, pos = OPAQUE.decode(buf, pos, end, limits)
        message = PublicMessage(
            content, signature, confirmation_tag, membership_tag, raw=buf[start:pos]
        )
        return message, pos

    def encode(self, value: PublicMessage, out: bytearray) -> None:
        codec_for(FramedContent).encode(value.content, out)
        OPAQUE.encode(value.signature, out)
        if value.content.content_type == CONTENT_COMMIT:
            OPAQUE.encode(value.confirmation_tag or b"", out)
        if value.content.sender.sender_type == SENDER_MEMBER:
            OPAQUE.encode(value.membership_tag or b"", out)


PUBLIC_MESSAGE = _PublicMessageCodec()


def decode_public_message(data: bytes, limits: Limits = DEFAULT_LIMITS) -> PublicMessage:
    """Decode an ``MLSMessage`` that must be version mls10 carrying a ``PublicMessage``.

    Raises :class:`UnsupportedMessage` for any other version or wire format (a
    ``PrivateMessage`` can only be read with the epoch's secrets) and an
    :class:`~invitekit.mls.errors.MlsDecodeError` for malformed or trailing bytes.
    """
    data = bytes(data)
    if len(data) < 4:
        raise Truncated("MLSMessage header: input ends")
    version = int.from_bytes(data[0:2], "big")
    wire_format = int.from_bytes(data[2:4], "big")
    if version not in PROTOCOL_VERSIONS or wire_format != WIRE_FORMAT_PUBLIC_MESSAGE:
        raise UnsupportedMessage(header_mismatch(version, wire_format, WIRE_FORMAT_PUBLIC_MESSAGE))
    message: PublicMessage = decode_exact(PUBLIC_MESSAGE, data[4:], limits)
    return message


def encode_public_message(message: PublicMessage) -> bytes:
    """``MLSMessage`` bytes (mls10, ``mls_public_message``) carrying ``message``."""
    header = MLS10.to_bytes(2, "big") + WIRE_FORMAT_PUBLIC_MESSAGE.to_bytes(2, "big")
    return header + message.to_bytes()


def framed_content_tbs(content: FramedContent, group_context: bytes) -> bytes:
    """RFC 9420 §6.1 ``FramedContentTBS`` for a PublicMessage.

    ``group_context`` is the TLS encoding of the GroupContext of ``content.epoch``; it is
    appended only for ``member`` and ``new_member_commit`` senders.
    """
    head = MLS10.to_bytes(2, "big") + WIRE_FORMAT_PUBLIC_MESSAGE.to_bytes(2, "big")
    body = content.raw or content.to_bytes()
    if content.sender.sender_type in _CONTEXT_SENDERS:
        return head + body + group_context
    return head + body


def verify_framing_signature(
    message: PublicMessage, cs: CipherSuite, signature_key: bytes, group_context: bytes
) -> None:
    """VerifyWithLabel over FramedContentTBS; raises SignatureInvalid or InvalidSigner."""
    verify_with_label(
        cs,
        signature_key,
        FRAMED_CONTENT_TBS_LABEL,
        framed_content_tbs(message.content, group_context),
        message.signature,
    )


__all__ = [
    "CONTENT_TYPES",
    "SENDER_TYPES",
    "FramedContent",
    "PublicMessage",
    "Sender",
    "decode_public_message",
    "encode_public_message",
    "framed_content_tbs",
    "verify_framing_signature",
]

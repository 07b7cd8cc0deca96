"""Invite links: the payload rides in the URL fragment, which browsers never send.

Canonical form: ``https://<host>/<path>#<base64url-nopad(payload)>``.

Compact profile (for smaller QR codes): ``HTTPS://<HOST>/<PATH>#<BASE32-NOPAD(payload)>`` —
every character is in the QR alphanumeric set except ``#``, so the QR encoder can spend
5.5 bits per character instead of 8. A link whose scheme is written exactly ``HTTPS`` is read
as compact; any other spelling of the scheme is canonical.

:func:`parse_invite_text` also accepts bare base64url (padded or not), hex and base32.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from . import encoding
from .errors import InvalidInviteEncoding, InvalidLinkBase, InviteKitError
from .payload import InvitePayload, decode_payload
from .pointer import validate_https_url
from .wire import Dialect

#: Characters QR alphanumeric mode can carry.
QR_ALPHANUMERIC = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")
COMPACT_SCHEME = "HTTPS"
MAX_INVITE_TEXT = 16 * 1024


def _checked_base(base: str) -> tuple[str, str]:
    """Split a link base into (host[:port], path) after validating it."""
    try:
        validate_https_url(base)
    except InviteKitError as exc:
        raise InvalidLinkBase(f"link base: {exc}") from None
    parts = urlsplit(base)
    if parts.query or parts.fragment or "#" in base:
        raise InvalidLinkBase("link base must not carry a query or a fragment")
    if parts.username is not None or parts.password is not None:
        raise InvalidLinkBase("link base must not carry credentials")
    return parts.netloc, parts.path or "/"


def make_link(
    payload: InvitePayload | bytes,
    base: str,
    *,
    compact: bool = False,
    dialect: Dialect = Dialect.TYPED,
) -> str:
    """The invite link for ``payload`` (an object, or already-serialized payload bytes)."""
    data = payload.to_bytes(dialect) if isinstance(payload, InvitePayload) else bytes(payload)
    netloc, path = _checked_base(base)
    if not compact:
        return f"https://{netloc}{path}#{encoding.b64url_encode(data)}"
    prefix = f"{COMPACT_SCHEME}://{netloc.upper()}{path}"
    if not set(prefix) <= QR_ALPHANUMERIC:
        raise InvalidLinkBase(
            "compact links need a host and path made of A-Z 0-9 $%*+-./: (upper-case the path)"
        )
    return f"{prefix}#{encoding.b32_encode(data)}"


def split_compact_link(link: str) -> tuple[str, str]:
    """(prefix, fragment) of a compact link, for encoders that segment by character set."""
    prefix, sep, fragment = link.partition("#")
    if not sep or not prefix.startswith(COMPACT_SCHEME + "://"):
        raise InvalidInviteEncoding("not a compact invite link")
    return prefix, fragment


def payload_bytes_from_link(link: str) -> bytes:
    """The payload bytes in an invite link's fragment (canonical or compact)."""
    link = encoding.strip_whitespace(link)
    prefix, sep, fragment = link.partition("#")
    if not sep or not fragment:
        raise InvalidInviteEncoding("invite link has no fragment")
    scheme = prefix.split(":", 1)[0]
    if scheme.lower() != "https":
        raise InvalidInviteEncoding("invite links must use https")
    try:
        validate_https_url(prefix)
    except InviteKitError:
        raise InvalidInviteEncoding("invite link is not a valid https URL") from None
    if scheme == COMPACT_SCHEME:
        return encoding.b32_decode(fragment)
    return encoding.b64url_decode(fragment)


def _candidates(text: str) -> list[bytes]:
    """Every reading of ``text`` as payload bytes, most specific alphabet first."""
    if "#" in text or "://" in text:
        return [payload_bytes_from_link(text)]
    readings: list[bytes] = []
    for enc in (encoding.TextEncoding.HEX, encoding.TextEncoding.BASE64URL,
                encoding.TextEncoding.BASE32):
        try:
            readings.append(encoding.decode(text, enc))
        except InvalidInviteEncoding:
            continue
    return readings


def parse_invite_text(text: str) -> InvitePayload:
    """Parse an invite from a link, base64url, hex or base32 text.

    Bare text can be valid in more than one alphabet (hex digits are also base64url); the
    first reading that parses as a valid payload wins, trying hex, base64url, base32 in turn.
    The error of the last reading tried is raised when none parses.
    """
    if len(text) > MAX_INVITE_TEXT:
        raise InvalidInviteEncoding("invite text is too long")
    text = encoding.strip_whitespace(text)
    if not text:
        raise InvalidInviteEncoding("invite text is empty")
    readings = _candidates(text)
    if not readings:
        raise InvalidInviteEncoding("text is not an invite link, base64url, hex or base32")
    last: InviteKitError | None = None
    for data in readings:
        try:
            return decode_payload(data)
        except InviteKitError as exc:
            last = exc
    assert last is not None
    raise last


def as_payload(invite: str | bytes | InvitePayload) -> InvitePayload:
    """A payload from link or encoded text, raw payload bytes, or a payload object."""
    if isinstance(invite, InvitePayload):
        return invite
    if isinstance(invite, bytes):
        return decode_payload(invite)
    return parse_invite_text(invite)


__all__ = [
    "COMPACT_SCHEME",
    "MAX_INVITE_TEXT",
    "QR_ALPHANUMERIC",
    "as_payload",
    "make_link",
    "parse_invite_text",
    "payload_bytes_from_link",
    "split_compact_link",
]

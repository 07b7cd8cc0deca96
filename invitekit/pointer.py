"""ServicePointer: where a blob slot lives (an https URL or application-defined bytes)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from .errors import EmptyServicePointer, InvalidServiceUrl, MalformedMessage
from .proto import external_invite_pb2 as pb

MAX_URL_LENGTH = 2048


@dataclass(frozen=True)
class HttpsPointer:
    """An absolute ``https`` URL (RFC 3986). Invariant: validated on construction."""

    url: str

    def __post_init__(self) -> None:
        validate_https_url(self.url)


@dataclass(frozen=True)
class OpaquePointer:
    """Bytes only the application can resolve (NFC tags, custom resolvers)."""

    data: bytes

    def __post_init__(self) -> None:
        if not self.data:
            raise EmptyServicePointer("opaque service pointer is empty")


ServicePointer = HttpsPointer | OpaquePointer


def service_identity(url: str) -> str:
    """The one rule for "same service": base URLs compare after dropping a trailing ``/``."""
    return url.rstrip("/")


def dedupe_services(urls: Iterable[str]) -> tuple[str, ...]:
    """``urls`` in first-seen order, one per :func:`service_identity`."""
    seen: dict[str, str] = {}
    for url in urls:
        seen.setdefault(service_identity(url), url)
    return tuple(seen.values())


def pointer_label(pointer: ServicePointer) -> str:
    """A stable label for a pointer: its URL, or ``opaque:<hex>``."""
    if isinstance(pointer, HttpsPointer):
        return pointer.url
    return "opaque:" + pointer.data.hex()


def validate_https_url(url: str) -> None:
    """Raise :class:`InvalidServiceUrl` unless ``url`` is an absolute https URL with a host."""
    if not url or len(url) > MAX_URL_LENGTH:
        raise InvalidServiceUrl("service URL is empty or longer than 2048 characters")
    if any(ord(c) <= 0x20 or ord(c) == 0x7F for c in url):
        raise InvalidServiceUrl("service URL contains whitespace or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise InvalidServiceUrl("service URL does not parse") from None
    if parts.scheme.lower() != "https":
        raise InvalidServiceUrl("service URL scheme must be https")
    host = parts.hostname
    if not host:
        raise InvalidServiceUrl("service URL has no host")
    if port == 0:
        raise InvalidServiceUrl("service URL has port 0")
    if parts.netloc.startswith("[") and not _is_ipv6(host):
        raise InvalidServiceUrl("service URL has a malformed IPv6 host")


def _is_ipv6(host: str) -> bool:
    try:
        ipaddress.IPv6Address(host)
    except ValueError:
        return False
    return True


def pointer_to_proto(pointer: ServicePointer) -> pb.ServicePointer:
    """The typed-dialect submessage for ``pointer``."""
    if isinstance(pointer, HttpsPointer):
        return pb.ServicePointer(https_url=pointer.url)
    return pb.ServicePointer(opaque=pointer.data)


def pointer_from_proto(message: pb.ServicePointer) -> ServicePointer:
    """Validate a typed ServicePointer; an empty oneof is a parse failure (fail closed)."""
    which = message.WhichOneof("location")
    if which == "https_url":
        return HttpsPointer(message.https_url)
    if which == "opaque":
        return OpaquePointer(message.opaque)
    raise EmptyServicePointer("service pointer is present but has no location set")


def pointer_to_legacy(pointer: ServicePointer) -> bytes:
    """Legacy dialect: the pointer is raw bytes (a URL is written as its UTF-8 text)."""
    if isinstance(pointer, HttpsPointer):
        return pointer.url.encode()
    return pointer.data


def pointer_from_legacy(raw: bytes) -> ServicePointer:
    """Legacy raw pointer bytes: UTF-8 text starting ``https://`` is a URL, else opaque."""
    if raw[:8].lower() == b"https://":
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedMessage("legacy service pointer is not valid UTF-8") from None
        return HttpsPointer(text)
    return OpaquePointer(raw)


__all__ = [
    "MAX_URL_LENGTH",
    "HttpsPointer",
    "OpaquePointer",
    "ServicePointer",
    "dedupe_services",
    "pointer_from_legacy",
    "pointer_from_proto",
    "pointer_label",
    "pointer_to_legacy",
    "pointer_to_proto",
    "service_identity",
    "validate_https_url",
]

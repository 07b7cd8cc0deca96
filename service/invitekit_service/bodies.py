"""Upload bodies: a per-process bound on body bytes in flight with per-client and
per-network shares, and a body read deadline.

Invariants: the bytes reserved for bodies being read never exceed ``limit``; the bytes one
client reserves never exceed its share (``client_limit``), and the bytes one network (an IPv4
/24, an IPv6 /48) reserves never exceed the network's (``network_limit``), both fractions of
``limit`` — so one address cannot hold the budget, and a handful of addresses in one network
cannot either. A body is refused before a single byte of it is read when its reservation does
not fit: 429 ``rate-limited`` (scope ``client-body-bytes`` or ``network-body-bytes``) past a
share, 503 ``unavailable`` past the global bound. Every reservation is returned when the read
ends however it ends, and a body that does not arrive within ``body_timeout_s`` is answered
408 and its connection closed. Bookkeeping is two dictionary entries per client or network
with a body in flight (removed when it reaches zero): constant per request, never per byte.
"""

from __future__ import annotations

import asyncio
import ctypes
import ipaddress
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from aiohttp import web

from invitekit.protocol import ProblemCode

from .problems import Problem

_CHUNK = 64 * 1024


def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim`` (hands freed heap memory back to the OS), if present."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        trim: Callable[[int], int] = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    return trim


def _address(client: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The client identity as an IP address (an IPv4-mapped IPv6 address as IPv4)."""
    try:
        ip = ipaddress.ip_address(client)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def client_key(client: str) -> str:
    """The unit one body share belongs to: the IPv4 address, or the IPv6 /64 (one host's
    usual allocation; an address anywhere in it is the same client)."""
    ip = _address(client)
    if ip is None:
        return client
    if isinstance(ip, ipaddress.IPv6Address):
        return str(ipaddress.ip_network((ip, 64), strict=False))
    return str(ip)


def network_key(client: str) -> str:
    """The network a client belongs to for the network share: IPv4 /24, IPv6 /48 (a client
    identity that is not an address is its own network)."""
    ip = _address(client)
    if ip is None:
        return client
    prefix = 24 if isinstance(ip, ipaddress.IPv4Address) else 48
    return str(ipaddress.ip_network((ip, prefix), strict=False))


def _take(held: dict[str, int], key: str, size: int) -> None:
    held[key] = held.get(key, 0) + size


def _give(held: dict[str, int], key: str, size: int) -> None:
    left = held.get(key, 0) - size
    if left > 0:
        held[key] = left
    else:
        held.pop(key, None)


class BodyBudget:
    """Bytes reserved by bodies being read in this process (never above ``limit``), by one
    client (never above ``client_limit``) and by one network (never above ``network_limit``).

    When the last reservation is returned after at least ``trim_after`` bytes were in flight,
    freed memory is handed back to the OS (glibc keeps freed body buffers otherwise).
    """

    def __init__(
        self,
        limit: int,
        *,
        client_limit: int | None = None,
        network_limit: int | None = None,
        trim_after: int = 8 << 20,
    ) -> None:
        self.limit = limit
        self.client_limit = min(limit, client_limit if client_limit is not None else limit)
        self.network_limit = min(
            limit, max(self.client_limit, network_limit if network_limit is not None else limit)
        )
        self.in_flight = 0
        self.trim_after = trim_after
        self._clients: dict[str, int] = {}
        self._networks: dict[str, int] = {}
        self._high_water = 0
        self._trim = _malloc_trim()

    @classmethod
    def shares(
        cls, limit: int, *, client_share: float, network_share: float, max_body: int
    ) -> BodyBudget:
        """A budget whose client and network limits are fractions of ``limit``; a client's
        share is never below one body of ``max_body`` (else it could not upload at all)."""
        client = max(int(limit * client_share), min(max_body, limit))
        return cls(limit, client_limit=client, network_limit=int(limit * network_share))

    @property
    def clients(self) -> int:
        """Clients with a body in flight (the bookkeeping's size)."""
        return len(self._clients)

    @contextmanager
    def reserve(self, size: int, client: str = "") -> Iterator[None]:
        """Hold ``size`` bytes for ``client``'s body being read, or raise a problem: 429
        past the client's or its network's share, 503 past the global bound."""
        who, network = client_key(client), network_key(client)
        if self._clients.get(who, 0) + size > self.client_limit:
            raise _share_refused("client-body-bytes")
        if self._networks.get(network, 0) + size > self.network_limit:
            raise _share_refused("network-body-bytes")
        if self.in_flight + size > self.limit:
            raise Problem(
                ProblemCode.UNAVAILABLE,
                "too many upload bytes in flight",
                headers={"Retry-After": "1"},
                close=True,
            )
        self.in_flight += size
        _take(self._clients, who, size)
        _take(self._networks, network, size)
        self._high_water = max(self._high_water, self.in_flight)
        try:
            yield
        finally:
            self.in_flight -= size
            _give(self._clients, who, size)
            _give(self._networks, network, size)
            if self.in_flight == 0 and self._high_water >= self.trim_after:
                self._high_water = 0
                if self._trim is not None:
                    self._trim(0)


def _share_refused(scope: str) -> Problem:
    return Problem(
        ProblemCode.RATE_LIMITED,
        f"{scope} share in flight exhausted",
        headers={"Retry-After": "1"},
        extra={"scope": scope},
        close=True,
    )


async def read_body(
    request: web.Request,
    budget: BodyBudget,
    *,
    client: str,
    max_bytes: int,
    timeout_s: float,
) -> bytes:
    """The whole body: at most ``max_bytes`` (413), within ``timeout_s`` (408), within
    ``client``'s shares (429) and the budget (503)."""
    declared = request.content_length
    if declared is not None and declared > max_bytes:
        raise Problem(ProblemCode.PAYLOAD_TOO_LARGE, close=True)
    with budget.reserve(max_bytes if declared is None else declared, client):
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(timeout_s):
                while chunk := await request.content.read(_CHUNK):
                    size += len(chunk)
                    if size > max_bytes:
                        raise Problem(ProblemCode.PAYLOAD_TOO_LARGE, close=True)
                    chunks.append(chunk)
        except TimeoutError:
            raise Problem(
                ProblemCode.REQUEST_TIMEOUT, "body not received in time", close=True
            ) from None
        return b"".join(chunks)


__all__ = ["BodyBudget", "client_key", "network_key", "read_body"]

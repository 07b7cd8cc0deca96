"""Byte budgets with per-client and per-network shares: the one rule behind the bound on
upload bodies being read (:mod:`.bodies`) and on response bytes held in memory
(:mod:`.responses`).

Invariants: the bytes reserved never exceed ``limit``; one client (an IPv4 address, an IPv6
/64) never holds more than ``client_limit`` and one network (IPv4 /24, IPv6 /48) never more
than ``network_limit``, both fractions of ``limit`` — so one address cannot hold the budget,
and a handful of addresses in one network cannot either. A reservation that does not fit is
refused before any work: 429 ``rate-limited`` with scope ``client-<what>-bytes`` or
``network-<what>-bytes`` past a share, 503 ``unavailable`` past the global bound, both with
``Retry-After: 1``. Every reservation is returned however its request ends. Bookkeeping is two
dictionary entries per client or network with bytes held (removed at zero): constant per
request, never per byte.
"""

from __future__ import annotations

import ctypes
import ipaddress
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from invitekit.protocol import ProblemCode

from .problems import Problem


def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim`` (hands freed heap memory back to the OS), if present."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        trim: Callable[[int], int] = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    return trim


def share_keys(client: str) -> tuple[str, str]:
    """The units ``client`` is counted under, from one parse of its address: the client (the
    IPv4 address, or the IPv6 /64, one host's usual allocation: an address anywhere in it
    is the same client) and its network (IPv4 /24, IPv6 /48). An IPv4-mapped IPv6 address
    counts as IPv4; a client identity that is not an address is its own client and network.
    """
    try:
        ip = ipaddress.ip_address(client)
    except ValueError:
        return client, client
    if isinstance(ip, ipaddress.IPv6Address):
        mapped = ip.ipv4_mapped
        if mapped is None:
            n = int(ip)
            return (
                f"{ipaddress.IPv6Address(n >> 64 << 64)}/64",
                f"{ipaddress.IPv6Address(n >> 80 << 80)}/48",
            )
        ip = mapped
    return str(ip), f"{ipaddress.IPv4Address(int(ip) & 0xFFFF_FF00)}/24"


def client_key(client: str) -> str:
    """The unit one client is counted by, for every per-client budget (:func:`share_keys`):
    an IPv4 address (or a non-address identity) is itself, with no parse."""
    return client if ":" not in client else share_keys(client)[0]


def network_key(client: str) -> str:
    """The network a client belongs to for the network share (:func:`share_keys`)."""
    return share_keys(client)[1]


def _take(held: dict[str, int], key: str, size: int) -> None:
    held[key] = held.get(key, 0) + size


def _give(held: dict[str, int], key: str, size: int) -> None:
    left = held.get(key, 0) - size
    if left > 0:
        held[key] = left
    else:
        held.pop(key, None)


class SharedBudget:
    """Bytes held in this process for ``what`` (``body``, ``response``): at most ``limit``
    in all, ``client_limit`` per client, ``network_limit`` per network.

    ``close``: a refusal also closes the connection (an upload whose body is not read).
    ``trim_after``: when the last reservation is returned after at least that many bytes
    were held, freed memory is handed back to the OS (glibc keeps freed buffers otherwise).
    """

    def __init__(
        self,
        limit: int,
        *,
        what: str,
        client_limit: int | None = None,
        network_limit: int | None = None,
        close: bool = False,
        trim_after: int | None = None,
    ) -> None:
        self.limit = limit
        self.what = what
        self.client_limit = min(limit, client_limit if client_limit is not None else limit)
        self.network_limit = min(
            limit, max(self.client_limit, network_limit if network_limit is not None else limit)
        )
        self.close = close
        self.trim_after = trim_after
        self.in_flight = 0
        self._clients: dict[str, int] = {}
        self._networks: dict[str, int] = {}
        self._high_water = 0
        self._trim = _malloc_trim() if trim_after is not None else None

    @classmethod
    def shares(
        cls,
        limit: int,
        *,
        what: str,
        client_share: float,
        network_share: float,
        client_floor: int,
        close: bool = False,
        trim_after: int | None = None,
    ) -> SharedBudget:
        """A budget whose client and network limits are fractions of ``limit``; a client's
        share is never below ``client_floor`` (one request's worth: else it could not be
        served at all)."""
        client = max(int(limit * client_share), min(client_floor, limit))
        return cls(
            limit,
            what=what,
            client_limit=client,
            network_limit=int(limit * network_share),
            close=close,
            trim_after=trim_after,
        )

    @property
    def clients(self) -> int:
        """Clients holding bytes now (the bookkeeping's size)."""
        return len(self._clients)

    def held_by(self, client: str) -> int:
        """Bytes ``client`` (its address, or IPv6 /64) holds now."""
        return self._clients.get(client_key(client), 0)

    @contextmanager
    def reserve(self, size: int, client: str = "") -> Iterator[None]:
        """Hold ``size`` bytes for one request of ``client``, or raise its problem: 429 past
        the client's or its network's share, 503 past the global bound."""
        who, network = share_keys(client)
        if self._clients.get(who, 0) + size > self.client_limit:
            raise self._refused(f"client-{self.what}-bytes")
        if self._networks.get(network, 0) + size > self.network_limit:
            raise self._refused(f"network-{self.what}-bytes")
        if self.in_flight + size > self.limit:
            raise Problem(
                ProblemCode.UNAVAILABLE,
                f"too many {self.what} bytes in flight",
                headers={"Retry-After": "1"},
                close=self.close,
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
            if (
                self.in_flight == 0
                and self.trim_after is not None
                and self._high_water >= self.trim_after
            ):
                self._high_water = 0
                if self._trim is not None:
                    self._trim(0)

    def _refused(self, scope: str) -> Problem:
        return Problem(
            ProblemCode.RATE_LIMITED,
            f"{scope} share in flight exhausted",
            headers={"Retry-After": "1"},
            extra={"scope": scope},
            close=self.close,
        )


__all__ = ["SharedBudget", "client_key", "network_key", "share_keys"]

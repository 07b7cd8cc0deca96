"""Who one client is, for every per-client budget: an IPv4 address, an IPv6 /64; and its
network for the network shares: IPv4 /24, IPv6 /48. Expected units are written out by hand."""

from __future__ import annotations

import pytest
from invitekit_service.budgets import client_key, share_keys


@pytest.mark.parametrize(
    ("address", "client", "network"),
    [
        ("192.0.2.77", "192.0.2.77", "192.0.2.0/24"),
        ("::ffff:192.0.2.77", "192.0.2.77", "192.0.2.0/24"),  # IPv4-mapped counts as IPv4
        ("2001:db8:1:2::1", "2001:db8:1:2::/64", "2001:db8:1::/48"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64", "2001:db8:1::/48"),
        ("2001:db8:1:3::1", "2001:db8:1:3::/64", "2001:db8:1::/48"),
        ("unknown", "unknown", "unknown"),  # not an address: its own client and network
    ],
)
def test_client_and_network_units(address: str, client: str, network: str) -> None:
    assert share_keys(address) == (client, network)
    assert client_key(address) == client

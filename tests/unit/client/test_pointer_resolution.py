"""Join step 1's fetch target (XIP "Join-side flow"): an https pointer is used as is; an
opaque or absent pointer goes to the application's resolver, and without one the join
fails closed with a typed error (no fetch target)."""

from __future__ import annotations

import asyncio

import pytest

from invitekit.client.errors import UnresolvablePointer
from invitekit.drivers.io import resolve_pointer
from invitekit.pointer import HttpsPointer, OpaquePointer


def test_https_pointer_is_the_target() -> None:
    url = "https://svc.example/v1"
    assert asyncio.run(resolve_pointer(HttpsPointer(url), None)) == (url,)


def test_absent_or_opaque_pointer_needs_the_applications_resolver() -> None:
    seen: list[OpaquePointer | None] = []

    async def resolver(pointer: OpaquePointer | None) -> list[str]:
        seen.append(pointer)
        return ["https://own.example/v1"]

    assert asyncio.run(resolve_pointer(None, resolver)) == ("https://own.example/v1",)
    opaque = OpaquePointer(b"svc:1")
    assert asyncio.run(resolve_pointer(opaque, resolver)) == ("https://own.example/v1",)
    assert seen == [None, opaque]
    for pointer in (None, opaque):
        with pytest.raises(UnresolvablePointer):
            asyncio.run(resolve_pointer(pointer, None))

"""Shared pieces of the resource-bound tests (issue "Bounded under abuse"): large blobs, the
service's memory (current and peak RSS from /proc), and an honest uploader from its own
address whose success rate is the figure each attack is judged by."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import aiohttp

from invitekit.blob import seal
from invitekit.protocol import b64url

MIB = 1 << 20


def big_blob(size: int, epoch: int = 1) -> bytes:
    """A sealed open-slot blob of about ``size`` bytes (a little below it)."""
    return seal(os.urandom(max(1, size - 256)), bytes(32), epoch=epoch,
                group_state_hash=os.urandom(32)).to_bytes()


def open_path(slot: bytes | None = None) -> str:
    """An open slot's path (a fresh random slot unless given)."""
    return f"/v1/slots/{b64url(slot or os.urandom(16))}/open"


def memory(pid: int) -> dict[str, int]:
    """``rss`` and ``peak`` (VmHWM: the highest RSS since the process started), bytes."""
    found: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                found["rss"] = int(line.split()[1]) * 1024
            elif line.startswith("VmHWM:"):
                found["peak"] = int(line.split()[1]) * 1024
    return found


def session_from(src: str, *, limit: int = 100, timeout_s: float = 120) -> aiohttp.ClientSession:
    """A client session whose connections come from loopback address ``src``."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(local_addr=(src, 0), limit=limit),
        timeout=aiohttp.ClientTimeout(total=timeout_s),
    )


@dataclass
class Honest:
    """An honest client from its own address: small open-slot uploads (to one slot, or a
    fresh slot each, to stay inside the per-slot share), each checked afterwards."""

    base_url: str
    src: str = "127.0.9.9"
    slot: bytes = field(default_factory=lambda: os.urandom(16))
    fresh_slots: bool = False
    statuses: dict[int, int] = field(default_factory=dict)
    acknowledged: list[tuple[str, str]] = field(default_factory=list)

    @property
    def sent(self) -> int:
        return sum(self.statuses.values())

    @property
    def accepted(self) -> int:
        return self.statuses.get(201, 0) + self.statuses.get(200, 0)

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    async def upload(self, http: aiohttp.ClientSession) -> int:
        body = big_blob(2048, epoch=len(self.acknowledged) + 1)
        path = open_path(None if self.fresh_slots else self.slot)
        async with http.post(self.base_url + path + "/blobs", data=body) as r:
            data = await r.json(content_type=None)
            self.statuses[r.status] = self.statuses.get(r.status, 0) + 1
            if r.status in (200, 201):
                self.acknowledged.append((path, data["sha256"]))
            return r.status

    async def all_still_there(self, http: aiohttp.ClientSession) -> int:
        """How many acknowledged uploads are missing (the open slot keeps the newest 8)."""
        missing = 0
        kept = self.acknowledged if self.fresh_slots else self.acknowledged[-8:]
        for path, sha in kept:
            async with http.head(self.base_url + path + "/blobs/" + sha) as r:
                missing += r.status != 200
        return missing


__all__ = ["MIB", "Honest", "big_blob", "memory", "open_path", "session_from"]

"""Raw-socket clients for the abuse tests: idle, slow-loris and slow-body connections from
chosen loopback source addresses (127.0.0.x), and probes that must keep answering."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from dataclasses import dataclass, field

import aiohttp

from invitekit.blob import seal
from invitekit.lane import LaneSigner
from invitekit.protocol import b64url


def source(i: int) -> str:
    """The i-th loopback source address (127.0.0.2 …), all routed to lo on Linux."""
    return f"127.0.{(i // 250) % 250}.{2 + i % 250}"


async def open_raw(port: int, src: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A TCP connection to the service from ``src``."""
    return await asyncio.open_connection("127.0.0.1", port, local_addr=(src, 0))


async def read_status(reader: asyncio.StreamReader, timeout: float) -> str:
    """The status code of the response's first line (``"200"``, ``"429"`` …), or
    ``"closed"`` when none came within ``timeout`` seconds (a close, a reset or silence)."""
    try:
        line = await asyncio.wait_for(reader.readline(), timeout=timeout)
    except (TimeoutError, ConnectionError, OSError):
        line = b""
    return line.split(b" ")[1].decode() if line.count(b" ") >= 2 else "closed"


@dataclass
class Held:
    """Connections the test holds open (closed by :meth:`close`)."""

    writers: list[asyncio.StreamWriter] = field(default_factory=list)
    readers: list[asyncio.StreamReader] = field(default_factory=list)

    async def close(self) -> None:
        for w in self.writers:
            w.close()
        for w in self.writers:
            with contextlib.suppress(Exception):
                await w.wait_closed()

    async def closed_by_server(self) -> int:
        """How many of the held connections the server has closed (EOF or reset)."""
        closed = 0
        for r in self.readers:
            try:
                data = await asyncio.wait_for(r.read(65536), timeout=0.01)
            except TimeoutError:
                continue
            except (ConnectionError, OSError):
                closed += 1
                continue
            if data == b"" or r.at_eof():
                closed += 1
            else:  # an answer (408/400) then the close
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(r.read(), timeout=1)
                closed += 1
        return closed


async def hold_idle(port: int, count: int, sources: int) -> Held:
    """``count`` connections that never send a byte."""
    held = Held()
    for i in range(count):
        try:
            r, w = await open_raw(port, source(i % sources))
        except OSError:
            break
        held.readers.append(r)
        held.writers.append(w)
    return held


async def hold_partial(port: int, count: int, sources: int, first: bytes) -> Held:
    """``count`` connections that sent ``first`` and then go silent."""
    held = Held()
    for i in range(count):
        r, w = await open_raw(port, source(i % sources))
        w.write(first)
        await w.drain()
        held.readers.append(r)
        held.writers.append(w)
    return held


@dataclass
class Probe:
    """An honest client from its own address: health, a read, a signed lane upload."""

    base_url: str
    src: str = "127.0.3.1"
    key: bytes = field(default_factory=lambda: os.urandom(32))
    slot: bytes = field(default_factory=lambda: os.urandom(16))
    epoch: int = 0
    answered: int = 0
    failed: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.signer = LaneSigner(self.key)

    @property
    def lane_path(self) -> str:
        return f"/v1/slots/{b64url(self.slot)}/lanes/{b64url(self.signer.lane_id)}"

    def session(self) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(local_addr=(self.src, 0), force_close=True),
            timeout=aiohttp.ClientTimeout(total=60),
        )

    async def round(self) -> None:
        """One health check, one upload and one read; failures are recorded, not raised."""
        self.epoch += 1
        body = seal(os.urandom(64), self.key, epoch=self.epoch,
                    group_state_hash=os.urandom(32)).to_bytes()
        sig = {"Invitekit-Signature": b64url(self.signer.sign(self.slot, body))}
        async with self.session() as http:
            for method, path, data, headers, want in (
                ("GET", "/healthz", None, {}, 200),
                ("POST", self.lane_path + "/blobs", body, sig, 201),
                ("GET", self.lane_path + "/head", None, {}, 200),
            ):
                try:
                    async with http.request(
                        method, self.base_url + path, data=data, headers=headers
                    ) as r:
                        got = await r.read()
                        if r.status != want:
                            self.failed.append(f"{method} {path[:20]}: {r.status}")
                        elif method == "GET" and path.endswith("/head") and got != body:
                            self.failed.append("head is not the honest blob")
                        else:
                            self.answered += 1
                except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                    self.failed.append(f"{method} {path[:20]}: {type(exc).__name__}")


def rss_bytes(pid: int) -> int:
    """Resident set size of a process (Linux /proc)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise LookupError("no VmRSS")


def open_fds(pid: int) -> int:
    """Descriptors a process holds."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def nofile_limit(pid: int) -> tuple[int, int]:
    """A process's RLIMIT_NOFILE (soft, hard)."""
    import resource

    soft, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
    return soft, hard


def free_socket_budget() -> None:
    """Raise this test process's own descriptor limit so it can hold many connections."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


__all__ = [
    "Held",
    "Probe",
    "free_socket_budget",
    "hold_idle",
    "hold_partial",
    "nofile_limit",
    "open_fds",
    "open_raw",
    "rss_bytes",
    "socket",
    "source",
]

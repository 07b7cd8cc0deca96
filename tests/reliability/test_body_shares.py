"""Request bodies in flight: one address (or a handful) cannot starve everyone's uploads.

Attackers hold connections that each announce a body of ``max_body_bytes`` (4 MiB) and send
one byte, the service's default 64 MiB in-flight bound. While they hold them, an honest
client from another network makes 20 small uploads, and a neighbour in the attacker's own
/24 makes 5. On the code with a single per-process budget, one address with 16 such
connections took all of it and every other upload got 503 until the body timeout.

CI and issue size are the same (16 connections per address, 20 honest uploads).
"""

from __future__ import annotations

import asyncio
import contextlib

import aiohttp
import pytest

from .abuse import Held, open_raw
from .bounds import MIB, Honest, memory, open_path, session_from
from .harness import record_figures

BODY = 4 << 20


async def hold_bodies(port: int, sources: list[str], per_source: int) -> Held:
    """``per_source`` connections from each address, each announcing BODY bytes, sending one."""
    held = Held()
    for src in sources:
        for _ in range(per_source):
            r, w = await open_raw(port, src)
            w.write(
                f"POST {open_path()}/blobs HTTP/1.1\r\nHost: x\r\n"
                "Content-Type: application/octet-stream\r\n"
                f"Content-Length: {BODY}\r\n\r\n".encode() + b"\x0a"
            )
            with contextlib.suppress(ConnectionError, OSError):
                await w.drain()
            held.readers.append(r)
            held.writers.append(w)
    return held


async def answers(held: Held) -> dict[str, int]:
    """The status each held connection got so far ('held' when still waiting)."""
    got: dict[str, int] = {}
    for r in held.readers:
        try:
            line = await asyncio.wait_for(r.readline(), timeout=0.2)
        except TimeoutError:
            line = b"held"
        except (ConnectionError, OSError):
            line = b"closed"
        key = line.split(b" ")[1].decode() if line.count(b" ") >= 2 else line.decode() or "closed"
        got[key] = got.get(key, 0) + 1
    return got


async def in_flight(http: aiohttp.ClientSession, base: str) -> float:
    async with http.get(base + "/metrics") as r:
        for line in (await r.text()).splitlines():
            if line.startswith("invitekit_body_bytes_in_flight "):
                return float(line.split()[1])
    raise AssertionError("gauge not exported")


@pytest.mark.parametrize(
    "attackers",
    [["127.0.6.6"], [f"127.0.{20 + i}.6" for i in range(5)]],
    ids=["one-address", "five-networks"],
)
async def test_held_bodies_do_not_starve_other_uploads(make_service, attackers) -> None:  # type: ignore[no-untyped-def]
    # the default bound and shares; body timeout long enough to hold through the test
    svc = make_service("--no-access-log", "--body-timeout-s", "120")
    honest = Honest(svc.base_url, fresh_slots=True)
    neighbour = Honest(svc.base_url, src="127.0.6.99", fresh_slots=True)
    before = memory(svc.pid)
    held = await hold_bodies(svc.proc.port, attackers, per_source=16)
    try:
        async with session_from(honest.src) as http, session_from(neighbour.src) as near:
            await asyncio.sleep(0.5)  # every held request has reached the service
            reserved = await in_flight(http, svc.base_url)
            for _ in range(20):
                await honest.upload(http)
            for _ in range(5):
                await neighbour.upload(near)
            during = await answers(held)
            missing = await honest.all_still_there(http) + await neighbour.all_still_there(near)
    finally:
        await held.close()
    after = memory(svc.pid)
    figures = {
        "attack_addresses": len(attackers), "held_connections": 16 * len(attackers),
        "reserved_mib": reserved / MIB, "attacker_answers": during,
        "honest": f"{honest.accepted}/{honest.sent}",
        "neighbour": f"{neighbour.accepted}/{neighbour.sent}",
        "rss_before_mib": round(before["rss"] / MIB, 1),
        "rss_peak_mib": round(after["peak"] / MIB, 1),
        "rss_after_mib": round(after["rss"] / MIB, 1), "lost": missing,
    }
    record_figures(f"body-shares-{len(attackers)}", figures)
    assert honest.accepted == honest.sent == 20, honest.statuses
    assert neighbour.accepted == neighbour.sent == 5, neighbour.statuses
    assert missing == 0
    # each address held one body's reservation at most (its share: 64 MiB / 16 = 4 MiB);
    # everything past it was refused at once as the client's own budget, never a 5xx
    assert reserved <= len(attackers) * BODY, figures
    assert during.get("429", 0) == 15 * len(attackers), figures
    assert not any(k.startswith("5") for k in during), figures

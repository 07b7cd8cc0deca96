"""The crash-durability workload: many clients, random SIGKILLs, a recorded history.

Lane writers race for each lane's next epoch (racers at one epoch seal the same group
state with different nonces: each is its own entry, by whole-blob identity), sometimes
re-send the last blob byte for byte (``idempotent``), fork, or go stale. Open-slot writers
upload fresh blobs, re-send identical bytes, and re-send the same blob in the other
protobuf dialect (which must coalesce). Readers list whole slots. A killer SIGKILLs the
real service process at random moments, checks the database's integrity while it is
down, restarts the service on the same port and reads every slot at once; with a database
server, every third disruption crashes the server instead (``pg_ctl stop -m immediate``)
and starts it again while the service and the clients keep going. Every request and read
goes into the history that :mod:`tests.reliability.history` checks.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp

from invitekit.blob import parse_blob, seal
from invitekit.lane import LaneSigner
from invitekit.protocol import b64url, parse_b64url
from invitekit.wire import Dialect

from .harness import Service, fields_identity, now, session
from .history import LANE, OPEN, Attempt, Entry, Observation, Report, check

LANE_HISTORY = 8
OPEN_RETENTION = 8


@dataclass(frozen=True)
class CrashConfig:
    """The size of one run (the CI profile is the default)."""

    seconds: float = 20.0
    lanes: int = 6
    writers_per_lane: int = 3
    open_slots: int = 16
    open_writers: int = 10
    readers: int = 4
    kill_after: tuple[float, float] = (0.4, 2.5)
    min_kills: int = 2  # the run goes on (past ``seconds``) until this many kills
    seed: int = 0


@dataclass
class _Lane:
    name: str
    key: bytes
    slot: bytes
    signer: LaneSigner
    head: int = 0
    last: bytes | None = None

    @property
    def path(self) -> str:
        return f"/v1/slots/{b64url(self.slot)}/lanes/{b64url(self.signer.lane_id)}"


@dataclass
class _Open:
    name: str
    key: bytes
    slot: bytes
    sent: list[bytes] = field(default_factory=list)

    @property
    def path(self) -> str:
        return f"/v1/slots/{b64url(self.slot)}/open"


def _state(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()


def _blob(key: bytes, epoch: int, state: bytes, dialect: Dialect = Dialect.TYPED) -> bytes:
    body = os.urandom(48 + epoch % 64)
    return seal(body, key, epoch=epoch, group_state_hash=state).to_bytes(dialect)


@dataclass
class CrashRun:
    """One run against one service (see module doc)."""

    service: Service
    config: CrashConfig
    attempts: list[Attempt] = field(default_factory=list)
    observations: list[Observation] = field(default_factory=list)
    integrity_checks: int = 0
    sabotaged: int = 0
    disruptions: int = 0
    server_restarts: int = 0
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    # called while the service is down after a kill (the checker's negative control)
    sabotage: Callable[[CrashRun], None] | None = None

    def __post_init__(self) -> None:
        self.rng = random.Random(self.config.seed)
        self.lanes = [
            _Lane(f"lane{i}", k := os.urandom(32), os.urandom(16), LaneSigner(k))
            for i in range(self.config.lanes)
        ]
        self.opens = [
            _Open(f"open{i}", os.urandom(32), os.urandom(16))
            for i in range(self.config.open_slots)
        ]

    # --- requests ------------------------------------------------------------------

    async def _upload(
        self, http: aiohttp.ClientSession, slot: str, kind: str, path: str, body: bytes,
        headers: dict[str, str],
    ) -> Attempt:
        blob = parse_blob(body).blob
        start = now()
        status: int | None = None
        outcome = receipt_sha = None
        head_epoch = None
        try:
            async with http.post(
                self.service.base_url + path + "/blobs", data=body, headers=headers
            ) as r:
                status = r.status
                data = await r.json(content_type=None)
        except aiohttp.ClientConnectorError:
            status = 0  # never connected: nothing was sent
        except (aiohttp.ClientError, TimeoutError, ValueError):
            status = None  # sent, answer lost: may or may not be stored
        else:
            if 200 <= status < 300:
                outcome, receipt_sha = data["outcome"], data["sha256"]
                head = data.get("head")
                head_epoch = None if head is None else int(head["epoch"])
            elif isinstance(data, dict):
                outcome = str(data.get("type", "")).rsplit(":", 1)[-1]
                head = data.get("head")
                head_epoch = int(head["epoch"]) if isinstance(head, dict) else None
        attempt = Attempt(
            slot=slot,
            kind=kind,
            sha256=hashlib.sha256(body).hexdigest(),
            fields=fields_identity(body),
            epoch=blob.epoch,
            state=blob.group_state_hash.hex(),
            start=start,
            end=now(),
            status=status,
            outcome=outcome,
            receipt_sha256=receipt_sha,
            head_epoch=head_epoch,
        )
        self.attempts.append(attempt)
        if not status:
            await asyncio.sleep(0.02)  # the service is down: do not spin
        return attempt

    async def _read(
        self, http: aiohttp.ClientSession, slot: str, kind: str, path: str, after_restart: bool
    ) -> bool:
        limit = LANE_HISTORY if kind == LANE else OPEN_RETENTION
        start = now()
        try:
            async with http.get(
                self.service.base_url + path + "/blobs", params={"limit": str(limit)}
            ) as r:
                if r.status != 200:
                    assert r.status == 503, r.status  # never a 500
                    return False
                data = await r.json()
        except (aiohttp.ClientError, TimeoutError):
            await asyncio.sleep(0.02)
            return False
        entries = []
        for item in data["items"]:
            raw = parse_b64url(item["blob"])
            assert raw is not None
            entries.append(
                Entry(
                    sha256=item["sha256"],
                    fields=fields_identity(raw),
                    epoch=int(item["epoch"]),
                    state=(parse_b64url(item["group_state_hash"]) or b"").hex(),
                )
            )
        self.observations.append(
            Observation(slot, kind, start, now(), tuple(entries), after_restart)
        )
        return True

    # --- roles ---------------------------------------------------------------------

    async def lane_writer(self, http: aiohttp.ClientSession, lane: _Lane) -> None:
        while not self.stop.is_set():
            roll = self.rng.random()
            if roll < 0.08 and lane.last is not None:
                body = lane.last  # identical re-send: idempotent
            elif roll < 0.16 and lane.head > 0:
                body = _blob(lane.key, lane.head, _state(f"fork{self.rng.random()}"))
            elif roll < 0.20 and lane.head > 1:
                body = _blob(lane.key, lane.head - 1, _state(f"{lane.name}:{lane.head - 1}"))
            else:
                epoch = lane.head + (2 if roll > 0.97 else 1)
                body = _blob(lane.key, epoch, _state(f"{lane.name}:{epoch}"))
            sig = {"Invitekit-Signature": b64url(lane.signer.sign(lane.slot, body))}
            a = await self._upload(http, lane.name, LANE, lane.path, body, sig)
            if a.status in (200, 201) and a.head_epoch is not None:
                lane.head = max(lane.head, a.head_epoch)
                if a.status == 201:
                    lane.last = body
            elif a.status == 409 and a.head_epoch is not None:
                lane.head = max(lane.head, a.head_epoch)

    async def open_writer(self, http: aiohttp.ClientSession) -> None:
        while not self.stop.is_set():
            slot = self.rng.choice(self.opens)
            roll = self.rng.random()
            if roll < 0.10 and slot.sent:
                body = self.rng.choice(slot.sent)  # identical bytes: coalesced
            elif roll < 0.18 and slot.sent:
                blob = parse_blob(self.rng.choice(slot.sent))
                other = Dialect.LEGACY if blob.dialect is Dialect.TYPED else Dialect.TYPED
                body = blob.blob.to_bytes(other)  # same fields, other bytes: coalesced
            else:
                epoch = self.rng.randint(1, 40)
                body = _blob(slot.key, epoch, _state(f"{slot.name}:{self.rng.random()}"))
            a = await self._upload(http, slot.name, OPEN, slot.path, body, {})
            if a.acked and len(slot.sent) < 64:
                slot.sent.append(body)

    async def warm_up(self, http: aiohttp.ClientSession) -> None:
        """Before the first kill, make sure every path is taken at least once: on each open
        slot an upload, its identical re-send and its other-dialect re-send (both must
        coalesce); on each lane an upload and its identical re-send (idempotent)."""
        for slot in self.opens:
            body = _blob(slot.key, 1, _state(f"{slot.name}:warm"))
            other = parse_blob(body).blob.to_bytes(Dialect.LEGACY)
            for b in (body, body, other):
                a = await self._upload(http, slot.name, OPEN, slot.path, b, {})
                assert a.acked, a
            slot.sent.append(body)
        for lane in self.lanes:
            body = _blob(lane.key, 1, _state(f"{lane.name}:1"))
            sig = {"Invitekit-Signature": b64url(lane.signer.sign(lane.slot, body))}
            for _ in range(2):
                a = await self._upload(http, lane.name, LANE, lane.path, body, sig)
                assert a.acked, a
            lane.head, lane.last = 1, body

    async def reader(self, http: aiohttp.ClientSession) -> None:
        while not self.stop.is_set():
            if self.rng.random() < 0.5:
                lane = self.rng.choice(self.lanes)
                await self._read(http, lane.name, LANE, lane.path, False)
            else:
                slot = self.rng.choice(self.opens)
                await self._read(http, slot.name, OPEN, slot.path, False)

    async def sweep(self, http: aiohttp.ClientSession, *, after_restart: bool) -> None:
        """Read every slot once (retrying while the service comes up)."""
        targets = [(x.name, LANE, x.path) for x in self.lanes]
        targets += [(x.name, OPEN, x.path) for x in self.opens]
        for name, kind, path in targets:
            for _ in range(200):
                if await self._read(http, name, kind, path, after_restart):
                    break

    async def killer(self, http: aiohttp.ClientSession) -> None:
        low, high = self.config.kill_after
        while not self.stop.is_set():
            await asyncio.sleep(self.rng.uniform(low, high))
            if self.stop.is_set():
                return
            self.disruptions += 1
            if self.service.backend.has_server and self.disruptions % 3 == 2:
                # every third disruption crashes the database server instead (and restarts
                # it) while the service and the clients keep going
                await self.service.backend.restart_server()
                self.server_restarts += 1
                continue
            self.service.kill9()
            self.service.backend.integrity_check(self.service.database_url)
            self.integrity_checks += 1
            if self.sabotage is not None:
                self.sabotage(self)
            await self.service.astart()
            await self.sweep(http, after_restart=True)

    # --- the run -------------------------------------------------------------------

    async def run(self) -> Report:
        cfg = self.config
        async with session() as http:
            await self.warm_up(http)
            tasks = [
                asyncio.create_task(self.lane_writer(http, lane))
                for lane in self.lanes
                for _ in range(cfg.writers_per_lane)
            ]
            tasks += [asyncio.create_task(self.open_writer(http)) for _ in range(cfg.open_writers)]
            tasks += [asyncio.create_task(self.reader(http)) for _ in range(cfg.readers)]
            killer = asyncio.create_task(self.killer(http))
            await asyncio.sleep(cfg.seconds)
            def enough() -> bool:
                server_ok = self.server_restarts >= 1 or not self.service.backend.has_server
                return self.service.kills >= cfg.min_kills and server_ok

            while not enough() and not killer.done():
                await asyncio.sleep(0.2)
            self.stop.set()
            await killer
            await asyncio.gather(*tasks)
            if not self.service.alive():
                await self.service.astart()
            await self.sweep(http, after_restart=True)
        self.service.stop()
        self.service.backend.integrity_check(self.service.database_url)
        self.integrity_checks += 1
        return check(
            self.attempts,
            self.observations,
            lane_retention=LANE_HISTORY,
            open_retention=OPEN_RETENTION,
        )

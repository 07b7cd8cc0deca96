"""Performs a machine's needs over an :class:`~invitekit.client.InviteClient` (the only I/O).

Each need maps to one client call (or the caller's resolver, sleep or commit callback) and
its answer; nothing here decides anything a machine decides.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from ..client import InviteClient
from ..client.errors import ClientError, UnresolvablePointer
from ..engine import Finished, Machine, Need
from ..errors import FlowStateError
from ..needs import (
    BodyFetched,
    CandidatesFetched,
    CheckExists,
    Commit,
    CommitReport,
    CommitRequest,
    Existence,
    FetchBody,
    FetchCandidates,
    FetchSlot,
    ResolveTargets,
    Slept,
    SlotFetched,
    TargetsResolved,
    Upload,
    Uploaded,
    Wait,
)
from ..pointer import HttpsPointer, OpaquePointer, ServicePointer, dedupe_services

T = TypeVar("T")

Sleep = Callable[[float], Awaitable[None]]
#: Resolves an application-defined pointer (``None``: the payload had none) to base URLs.
Resolver = Callable[[OpaquePointer | None], Awaitable[Sequence[str]]]
#: Builds and publishes the external commit from the chosen GroupInfo (join steps 7–8);
#: the request also carries the joiner's own membership proposal when the join knows it.
CommitFn = Callable[[CommitRequest], Awaitable[CommitReport]]


async def resolve_pointer(
    pointer: ServicePointer | None, resolver: Resolver | None
) -> tuple[str, ...]:
    """Base URLs for a pointer: the URL itself, or the application's resolver's answer.

    Raises :class:`~invitekit.client.errors.UnresolvablePointer` when the pointer is opaque
    or absent and no resolver was given.
    """
    if isinstance(pointer, HttpsPointer):
        return (pointer.url,)
    if resolver is None:
        what = "an opaque service pointer" if pointer is not None else "no service pointer"
        raise UnresolvablePointer(f"the invite carries {what} and no resolver was given")
    return tuple(await resolver(pointer))


@dataclass
class NeedPerformer:
    """Answers needs with the client, the resolver, ``sleep`` and the commit callback."""

    client: InviteClient
    resolver: Resolver | None = None
    sleep: Sleep = asyncio.sleep
    commit: CommitFn | None = None

    async def perform(self, need: Need[Any]) -> object:
        """Do what ``need`` asks; return the answer the machine expects."""
        if isinstance(need, FetchCandidates):
            return await self._fetch_candidates(need)
        if isinstance(need, Commit):
            if self.commit is None:
                raise FlowStateError("the machine asked for a commit but got no commit callback")
            return await self.commit(need.request)
        if isinstance(need, ResolveTargets):
            return await self._resolve(need)
        if isinstance(need, Wait):
            await self.sleep(need.seconds)
            return Slept()
        if isinstance(need, CheckExists):
            try:
                present = await self.client.exists(
                    need.service, need.external_group_id, need.epoch, need.digest,
                    kind=need.kind, key=need.symmetric_key,
                )
            except ClientError as exc:
                return Existence(None, exc.code)
            return Existence(present)
        if isinstance(need, FetchSlot):
            fetched = await self.client.fetch(
                need.service, need.external_group_id,
                kind=need.kind, key=need.symmetric_key, lazy=True,
            )
            return SlotFetched(fetched.candidates, fetched.error, fetched.listed)
        if isinstance(need, FetchBody):
            try:
                raw = await self.client.fetch_body(need.listed, max_bytes=need.max_bytes)
            except ClientError as exc:
                return BodyFetched(None, exc.code)
            return BodyFetched(raw)
        if isinstance(need, Upload):
            return await self._upload(need)
        raise FlowStateError(f"no driver for {type(need).__name__}")

    async def _fetch_candidates(self, need: FetchCandidates) -> CandidatesFetched:
        services = dedupe_services(await resolve_pointer(need.pointer, self.resolver))
        merged = await self.client.fetch_merged(
            services,
            need.external_group_id,
            kinds=need.kinds,
            key=need.symmetric_key,
            max_candidates=need.max_candidates,
            max_blob_bytes=need.max_blob_bytes,
            lazy=True,
        )
        return CandidatesFetched(
            merged.candidates, services, merged.errors, len(merged.results), merged.listed
        )

    async def _resolve(self, need: ResolveTargets) -> TargetsResolved:
        if self.resolver is None:
            return TargetsResolved((), need.pointers)
        urls: list[str] = []
        for pointer in need.pointers:
            urls.extend(await self.resolver(pointer))
        return TargetsResolved(tuple(urls))

    async def _upload(self, need: Upload) -> Uploaded:
        kinds = need.kinds
        if len(need.services) == 1 and len(kinds) == 1:
            one = await self.client.upload(
                need.services[0], need.external_group_id, need.body,
                kind=kinds[0], key=need.symmetric_key,
            )
            return Uploaded((one,))
        many = await self.client.upload_many(
            need.services, need.external_group_id, need.body,
            kinds=kinds, key=need.symmetric_key,
        )
        return Uploaded(tuple(many))


async def drive(machine: Machine[T], performer: NeedPerformer) -> T:
    """Perform the machine's needs until it finishes; return its outcome."""
    need = machine.need
    while not isinstance(need, Finished):
        need = machine.send(await performer.perform(need))
    return need.outcome


__all__ = ["CommitFn", "NeedPerformer", "Resolver", "Sleep", "drive", "resolve_pointer"]

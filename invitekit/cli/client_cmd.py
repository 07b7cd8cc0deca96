"""``invitekit upload | fetch | join-check | refresh | mirror``: the client side on the CLI.

Each command is a thin shell over :mod:`invitekit.drivers`, :mod:`invitekit.mirror` and
:class:`invitekit.client.InviteClient`; ``--json`` prints machine-readable output. Bad
input is one line on stderr and exit status 2; ``join-check`` exits 1 when a joiner would
not get a joinable GroupInfo.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ..client import FetchPolicy, InviteClient
from ..drivers import (
    backstop_refresh,
    check_invite,
    committer_refresh,
    deep_check,
    resolve_pointer,
)
from ..envelope import Envelope, EnvelopeKey, envelope_of, open_envelope, parse_envelope
from ..errors import DecryptionFailed, InviteKitError
from ..join import JoinOptions, JoinOutcome
from ..lane import lane_id_for
from ..link import as_payload
from ..mirror import SlotMirrorReport, mirror_slots
from ..mls import VerifyLevel
from ..payload import InvitePayload
from ..pointer import HttpsPointer, ServicePointer
from ..policy import ExternalCommitPolicy, active_invite
from ..protocol import SlotKind
from ..refresh.reports import RefreshReport
from ..refresh.roles import BOTH_KINDS, RefreshRole
from ..sources import system_clock
from . import render
from .errors import EXIT_BAD_INPUT, cli_errors, fail, print_error
from .io import Input, emit_json, read_policy, read_source, read_text
from .options import (
    EnvelopeOpt,
    EpochStartOpt,
    JsonOpt,
    KindOpt,
    LoopbackOpt,
    OptionalEpochStartOpt,
    ServiceOpt,
    TimeoutOpt,
    parse_epoch_start_ns,
    parse_hex,
)
from .preflight import check_blob_live, preflight_seal
from .render import instant_text, outcome_json
from .services import check_urls, make_resolver

#: Exit status of ``upload`` and ``refresh`` when nothing was stored anywhere.
EXIT_NOTHING_STORED = 1

T = TypeVar("T")

PolicyFileOpt = Annotated[
    str | None, typer.Option("--policy", "-p", help="Policy entry file (- for stdin).")
]
GroupInfoOpt = Annotated[
    str | None, typer.Option("--group-info", "-g", help="MLSMessage(GroupInfo) file.")
]


def _run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def _kinds(values: Sequence[str] | None) -> tuple[SlotKind, ...]:
    """The ``--kind`` values; unset, both kinds (the XIP's open slot as well as the keyed
    lane, issue 8): :data:`~invitekit.refresh.roles.BOTH_KINDS`, what every command reads
    and writes by default."""
    if not values:
        return BOTH_KINDS
    try:
        return tuple(dict.fromkeys(SlotKind(v.lower()) for v in values))
    except ValueError:
        raise fail("bad-input", render.KIND_CHOICES) from None


def _client(loopback: bool, timeout: float) -> InviteClient:
    return InviteClient(
        FetchPolicy(allow_insecure_loopback=loopback, total_timeout_s=timeout)
    )


def _invite_text(invite: str) -> str:
    return read_text("-", Input.INVITE) if invite == "-" else invite


def _load_policy(source: str) -> ExternalCommitPolicy:
    policy = read_policy(source)
    active_invite(policy, "use a revoked policy")
    return policy


def _without_pointer(payload: InvitePayload, overrides: Sequence[str]) -> InvitePayload:
    """With ``--service``, the invite's own pointer is dropped: the overrides are the targets."""
    if not overrides:
        return payload
    return InvitePayload(payload.external_group_id, payload.symmetric_key, None)


def _targets_policy(policy: ExternalCommitPolicy, overrides: Sequence[str]) -> ExternalCommitPolicy:
    """With ``--service``, the policy's refresh pointers are ignored (local copy only)."""
    return replace(policy, refresh_pointers=()) if overrides else policy


def stored_somewhere(report: RefreshReport) -> bool:
    """False when the pass left the member's state nowhere (``nothing-stored``)."""
    return report.ok


def _print_outcome(outcome: JoinOutcome, as_json: bool) -> None:
    if as_json:
        emit_json(outcome_json(outcome))
    else:
        print(render.outcome_line(outcome))


def _print_refresh(report: RefreshReport, as_json: bool) -> None:
    if as_json:
        emit_json(report.to_json())
        return
    for line in render.refresh_lines(report):
        print(line)


# --- upload ----------------------------------------------------------------------------


@cli_errors
def upload_cmd(
    service: ServiceOpt = None,
    blob_file: Annotated[
        str | None, typer.Option("--blob", "-b", help="An already sealed blob file.")
    ] = None,
    group_info: GroupInfoOpt = None,
    policy_file: PolicyFileOpt = None,
    invite: Annotated[
        str | None, typer.Option("--invite", "-i", help="Invite (key and slot) for --blob.")
    ] = None,
    epoch_start_ns: OptionalEpochStartOpt = None,
    kind: KindOpt = None,
    envelope: EnvelopeOpt = Envelope.V1,
    as_json: JsonOpt = False,
    loopback: LoopbackOpt = False,
    timeout: TimeoutOpt = 30.0,
) -> None:
    """Upload a blob to one or more services: the open slot and the signed keyed lane.

    Either seal a GroupInfo under a policy (--group-info + --policy + --epoch-start-ns,
    in --envelope; the targets default to the policy's refresh pointers) or send a sealed --blob
    (--invite or --policy gives the slot and key; the blob must open under that key and
    be unexpired). Exits 1 when nothing was stored anywhere.
    """
    kinds = _kinds(kind)
    overrides = list(check_urls(service, loopback))
    if group_info is not None:
        if policy_file is None:
            raise fail("usage", render.GROUP_INFO_NEEDS_POLICY)
        if epoch_start_ns is None:
            raise fail("usage", render.GROUP_INFO_NEEDS_EPOCH_START)
        policy = _load_policy(policy_file)
        gi = read_source(group_info, Input.GROUP_INFO)
        start = parse_epoch_start_ns(epoch_start_ns)
        preflight_seal(gi, policy, start)
        targets = _targets_policy(policy, overrides)

        async def seal_and_send() -> RefreshReport:
            async with _client(loopback, timeout) as client:
                return await committer_refresh(
                    client, gi, targets, start, first_services=overrides, kinds=kinds,
                    resolver=make_resolver((), loopback, strict=False), envelope=envelope,
                )

        report = _run(seal_and_send())
        _print_refresh(report, as_json)
        if not stored_somewhere(report):
            raise typer.Exit(EXIT_NOTHING_STORED)
        return
    if blob_file is None:
        raise fail("usage", render.UPLOAD_NEEDS_INPUT)
    body = read_source(blob_file, Input.BLOB)
    blob = parse_envelope(body).blob  # refuse to send what is not a blob (any envelope)
    pointers: tuple[ServicePointer, ...] = ()
    if invite is not None:
        payload = as_payload(_invite_text(invite))
        slot, key = payload.external_group_id, payload.symmetric_key
        pointers = (payload.service_pointer,) if payload.service_pointer else ()
    elif policy_file is not None:
        policy = _load_policy(policy_file)
        active = active_invite(policy, "upload")
        slot, key = active.external_group_id, active.symmetric_key
        pointers = tuple(policy.refresh_pointers)
    else:
        raise fail("usage", render.BLOB_NEEDS_KEY)
    check_blob_live(blob)
    open_envelope(blob, key, system_clock())  # refuse a blob joiners could not open

    async def send() -> list[Any]:
        urls = list(overrides)
        if not urls:
            resolve = make_resolver((), loopback, strict=False)
            for pointer in pointers:
                urls.extend(
                    [pointer.url] if isinstance(pointer, HttpsPointer) else await resolve(pointer)
                )
        if not urls:
            raise fail("usage", render.NO_UPLOAD_TARGET)
        async with _client(loopback, timeout) as client:
            return await client.upload_many(urls, slot, body, kinds=kinds, key=key)

    results = _run(send())
    if as_json:
        emit_json({"results": [r.to_json() for r in results]})
    else:
        for r in results:
            print(f"{r.service} {r.kind}: {r.outcome}")
    if not any(r.ok for r in results):
        raise typer.Exit(EXIT_NOTHING_STORED)


# --- fetch -----------------------------------------------------------------------------


@cli_errors
def fetch_cmd(
    invite: Annotated[str, typer.Argument(help="Invite link or encoded payload (- for stdin).")],
    service: ServiceOpt = None,
    kind: KindOpt = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out-dir", "-o", help="Save each blob as <sha256>.bin.")
    ] = None,
    as_json: JsonOpt = False,
    loopback: LoopbackOpt = False,
    timeout: TimeoutOpt = 30.0,
) -> None:
    """Fetch an invite's candidate blobs (merged across services); show their metadata."""
    overrides = check_urls(service, loopback)
    payload = _without_pointer(as_payload(_invite_text(invite)), overrides)
    kinds = _kinds(kind)

    async def go() -> Any:
        urls = await resolve_pointer(payload.service_pointer, make_resolver(overrides, loopback))
        async with _client(loopback, timeout) as client:
            return await client.fetch_merged(
                urls, payload.external_group_id, kinds=kinds, key=payload.symmetric_key
            )

    merged = _run(go())
    key = EnvelopeKey(payload.symmetric_key)
    now = system_clock()
    rows: list[dict[str, Any]] = []
    for cand in merged.candidates:
        row: dict[str, Any] = {
            "sha256": cand.content_hash.hex(),
            "size": len(cand.raw),
            "sources": list(cand.sources),
        }
        try:
            blob = parse_envelope(cand.raw).blob
            row.update(
                envelope=envelope_of(blob).value,
                epoch=blob.epoch,
                group_state_hash=blob.group_state_hash.hex(),
                expires_at_ns=blob.expires_at_ns,
                expires_at=instant_text(blob.expires_at_ns),
                expired=blob.is_expired(now),
            )
            try:
                key.decrypt(blob)
                row["opens"] = True
            except DecryptionFailed:
                row["opens"] = False
        except InviteKitError as exc:
            row["error"] = exc.code
        rows.append(row)
        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
            (out_dir / f"{cand.content_hash.hex()}.bin").write_bytes(cand.raw)
    if as_json:
        emit_json({"candidates": rows, "errors": list(merged.errors)})
    else:
        for row in rows:
            print(render.candidate_line(row))
        for err in merged.errors:
            print(f"error: {err}", file=sys.stderr)
        if not rows:
            print(render.NO_CANDIDATES)


# --- join-check ------------------------------------------------------------------------


@cli_errors
def join_check_cmd(
    invite: Annotated[str, typer.Argument(help="Invite link or encoded payload (- for stdin).")],
    service: ServiceOpt = None,
    kind: KindOpt = None,
    level: Annotated[
        str, typer.Option(help="GroupInfo checks: parse, signature, tree or parent-hashes.")
    ] = "tree",
    policy_file: Annotated[
        str | None,
        typer.Option(
            "--policy", "-p",
            help="The group's policy entry, for GroupInfos that carry none (plain MLS "
            "stacks: the app knows it out of band).",
        ),
    ] = None,
    as_json: JsonOpt = False,
    loopback: LoopbackOpt = False,
    timeout: TimeoutOpt = 30.0,
) -> None:
    """Run the join flow up to (not including) the commit; print what a joiner would get."""
    known = read_policy(policy_file) if policy_file else None
    overrides = check_urls(service, loopback)
    payload = _without_pointer(as_payload(_invite_text(invite)), overrides)
    try:
        verify = VerifyLevel[level.upper().replace("-", "_")]
    except KeyError:
        raise fail("bad-input", render.LEVEL_CHOICES) from None
    options = JoinOptions(level=verify, fetch_kinds=_kinds(kind))

    async def go() -> JoinOutcome:
        async with _client(loopback, timeout) as client:
            return await check_invite(
                payload, client=client, resolver=make_resolver(overrides, loopback),
                options=options,
                policy_provider=(lambda _view: known) if known is not None else None,
            )

    outcome = _run(go())
    _print_outcome(outcome, as_json)
    if not outcome.ok:
        raise typer.Exit(1)


# --- refresh ---------------------------------------------------------------------------


@cli_errors
def refresh_cmd(
    group_info: Annotated[str, typer.Option("--group-info", "-g", help="Own GroupInfo file.")],
    policy_file: Annotated[str, typer.Option("--policy", "-p", help="Policy entry file.")],
    epoch_start_ns: EpochStartOpt,
    role: Annotated[str, typer.Option(help="committer, backstop or deep.")] = "committer",
    service: ServiceOpt = None,
    kind: KindOpt = None,
    envelope: EnvelopeOpt = Envelope.V1,
    as_json: JsonOpt = False,
    loopback: LoopbackOpt = False,
    timeout: TimeoutOpt = 30.0,
) -> None:
    """Keep the invite's slots fresh from a member's own GroupInfo (one refresh role).

    Exits 1 when, after the pass, no target holds the member's state (nothing stored
    anywhere).
    """
    policy = _load_policy(policy_file)
    gi = read_source(group_info, Input.GROUP_INFO)
    start = parse_epoch_start_ns(epoch_start_ns)
    kinds = _kinds(kind)
    extra = check_urls(service, loopback)
    roles = {"committer": RefreshRole.COMMITTER, "backstop": RefreshRole.BACKSTOP,
             "deep": RefreshRole.DEEP_CHECK}
    if role not in roles:
        raise fail("bad-input", render.ROLE_CHOICES)
    chosen = roles[role]
    preflight_seal(gi, policy, start)
    targets = _targets_policy(policy, extra)
    resolver = make_resolver((), loopback, strict=False)

    async def go() -> RefreshReport:
        async with _client(loopback, timeout) as client:
            if chosen is RefreshRole.COMMITTER:
                return await committer_refresh(
                    client, gi, targets, start, first_services=extra, kinds=kinds,
                    resolver=resolver, envelope=envelope,
                )
            if chosen is RefreshRole.BACKSTOP:
                return await backstop_refresh(
                    client, gi, targets, start, first_services=extra, kinds=kinds,
                    resolver=resolver, sleep=_no_sleep, envelope=envelope,
                )
            return await deep_check(
                client, gi, targets, start, first_services=extra, kinds=kinds, resolver=resolver,
                envelope=envelope,
            )

    report = _run(go())
    _print_refresh(report, as_json)
    if not stored_somewhere(report):
        raise typer.Exit(EXIT_NOTHING_STORED)


async def _no_sleep(_seconds: float) -> None:
    """The CLI runs one pass now: no start jitter."""


# --- mirror ----------------------------------------------------------------------------


@cli_errors
def mirror_cmd(
    source: Annotated[str, typer.Option("--from", help="Source service API root URL.")],
    to: Annotated[list[str], typer.Option("--to", help="Destination service (repeatable).")],
    slot: Annotated[
        list[str] | None,
        typer.Option("--slot-id", metavar="HEX", help="Slot id (external_group_id) as hex."),
    ] = None,
    lane: Annotated[
        list[str] | None, typer.Option("--lane", help="Keyed-lane id as hex (repeatable).")
    ] = None,
    invite: Annotated[
        list[str] | None,
        typer.Option("--invite", "-i", help="Invite: adds its slot and its lane (repeatable)."),
    ] = None,
    kind: KindOpt = None,
    concurrency: Annotated[int, typer.Option(help="Slots mirrored at once.")] = 4,
    as_json: JsonOpt = False,
    loopback: LoopbackOpt = False,
    timeout: TimeoutOpt = 30.0,
) -> None:
    """Copy slots verbatim (lane uploads with their stored signatures) to other services."""
    slots: list[bytes] = []
    lanes: list[bytes] = []
    for text in slot or ():
        slots.append(parse_hex(text, "--slot-id"))
    for text in lane or ():
        value = parse_hex(text, "--lane")
        if len(value) != 32:
            raise fail("bad-input", render.LANE_LENGTH)
        lanes.append(value)
    for text in invite or ():
        payload = as_payload(text)
        slots.append(payload.external_group_id)
        lanes.append(lane_id_for(payload.symmetric_key))
    if not slots:
        raise fail("usage", render.MIRROR_NEEDS_SLOTS)
    kinds = _kinds(kind)
    if not lanes and SlotKind.OPEN not in kinds:
        raise fail("usage", render.LANE_KIND_NEEDS_LANES)
    check_urls([source, *to], loopback)
    slots = list(dict.fromkeys(slots))
    console = Console(stderr=True)

    async def go() -> list[SlotMirrorReport]:
        async with _client(loopback, timeout) as client:
            with Progress(
                TextColumn("mirror"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                console=console, disable=len(slots) < 2, transient=True,
            ) as progress:
                task = progress.add_task("slots", total=len(slots))
                return await mirror_slots(
                    client, source, to, slots, kinds=kinds, lane_ids=list(dict.fromkeys(lanes)),
                    concurrency=concurrency, progress=lambda _r: progress.advance(task),
                )

    reports = _run(go())
    if as_json:
        emit_json({"slots": [r.to_json() for r in reports]})
    else:
        if not lanes:
            print(render.OPEN_SLOT_ONLY)
        for r in reports:
            print(render.mirror_line(r))
    if not all(r.ok for r in reports):
        raise typer.Exit(1)
    if all(r.read == 0 for r in reports):
        print_error("nothing-to-copy", render.NOTHING_TO_COPY)
        raise typer.Exit(1)


__all__ = [
    "EXIT_BAD_INPUT",
    "fetch_cmd",
    "join_check_cmd",
    "mirror_cmd",
    "refresh_cmd",
    "upload_cmd",
]

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
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ..blob import BlobKey, parse_blob
from ..client import FetchPolicy, InviteClient, SlotKind, api_root
from ..drivers import (
    backstop_refresh,
    check_invite,
    committer_refresh,
    deep_check,
    resolve_pointer,
)
from ..errors import DecryptionFailed, InviteKitError
from ..join import JoinOptions, JoinOutcome
from ..lane import lane_id_for
from ..link import as_payload
from ..mirror import SlotMirrorReport, mirror_slots
from ..mls import VerifyLevel
from ..payload import InvitePayload
from ..policy import ExternalCommitPolicy, active_invite, parse_policy_entry
from ..refresh import RefreshReport, RefreshRole
from ..sources import system_clock
from .errors import EXIT_BAD_INPUT, cli_errors, fail
from .io import emit_json, read_binary, read_source
from .render import describe_outcome, outcome_json

T = TypeVar("T")

ServiceOpt = Annotated[
    list[str] | None,
    typer.Option("--service", "-s", help="Service API root URL (repeatable). Overrides pointers."),
]
KindOpt = Annotated[
    list[str] | None,
    typer.Option("--kind", "-k", help="Slot kind: lane or open (repeatable)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
LoopbackOpt = Annotated[
    bool,
    typer.Option(
        "--allow-insecure-loopback",
        help="Allow plain http to 127.0.0.1/::1/localhost (local services and tests only).",
    ),
]
TimeoutOpt = Annotated[float, typer.Option("--timeout", help="Per-request timeout, seconds.")]
PolicyFileOpt = Annotated[
    str | None, typer.Option("--policy", "-p", help="Policy entry file (- for stdin).")
]
GroupInfoOpt = Annotated[
    str | None, typer.Option("--group-info", "-g", help="MLSMessage(GroupInfo) file.")
]
EpochStartOpt = Annotated[
    int | None,
    typer.Option("--epoch-start-ns", help="When the GroupInfo's epoch began (default: now)."),
]


def _run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def _kinds(values: Sequence[str] | None, default: tuple[SlotKind, ...]) -> tuple[SlotKind, ...]:
    if not values:
        return default
    try:
        return tuple(dict.fromkeys(SlotKind(v.lower()) for v in values))
    except ValueError:
        raise fail("bad-input", "--kind must be 'lane' or 'open'") from None


def _client(loopback: bool, timeout: float) -> InviteClient:
    return InviteClient(
        FetchPolicy(allow_insecure_loopback=loopback, total_timeout_s=timeout)
    )


def _check_urls(urls: Sequence[str] | None, loopback: bool) -> tuple[str, ...]:
    """Refuse bad service URLs up front (exit 2), under the same hygiene rules."""
    policy = FetchPolicy(allow_insecure_loopback=loopback)
    for url in urls or ():
        api_root(url, policy)
    return tuple(urls or ())


def _invite_text(invite: str) -> str:
    return sys.stdin.read() if invite == "-" else invite


def _load_policy(source: str) -> ExternalCommitPolicy:
    policy = parse_policy_entry(read_binary(source)).policy
    active_invite(policy, "use a revoked policy")
    return policy


async def _services(payload: InvitePayload, overrides: Sequence[str] | None) -> tuple[str, ...]:
    if overrides:
        return tuple(overrides)
    return await resolve_pointer(payload.service_pointer, None)


def _print_outcome(outcome: JoinOutcome, as_json: bool) -> None:
    if as_json:
        emit_json(outcome_json(outcome))
    else:
        print(f"{outcome.kind}: {describe_outcome(outcome)}")


def _print_refresh(report: RefreshReport, as_json: bool) -> None:
    if as_json:
        emit_json(report.to_json())
        return
    print(f"{report.role} refresh at epoch {report.epoch}:")
    for target in report.targets:
        outcomes = ", ".join(f"{u['kind']}={u['outcome']}" for u in target.to_json()["uploads"])
        note = target.error or (str(target.skipped) if target.skipped else "")
        extra = f" ({outcomes})" if outcomes else (f" ({note})" if note else "")
        print(f"  {target.service}: {target.action}{extra}")


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
    epoch_start_ns: EpochStartOpt = None,
    kind: KindOpt = None,
    as_json: JsonOpt = False,
    loopback: LoopbackOpt = False,
    timeout: TimeoutOpt = 30.0,
) -> None:
    """Upload a blob to one or more services (signed to the keyed lane, or the open slot).

    Either seal a GroupInfo under a policy (--group-info + --policy; the targets default
    to the policy's https refresh pointers) or send a sealed --blob (--invite or --policy
    gives the slot and key).
    """
    kinds = _kinds(kind, (SlotKind.LANE,))
    service = list(_check_urls(service, loopback))
    if group_info is not None:
        if policy_file is None:
            raise fail("bad-input", "--group-info needs --policy")
        policy = _load_policy(policy_file)
        gi = read_source(group_info)
        start = epoch_start_ns if epoch_start_ns is not None else system_clock()

        async def seal_and_send() -> RefreshReport:
            async with _client(loopback, timeout) as client:
                return await committer_refresh(
                    client, gi, policy, start, first_services=service or (), kinds=kinds
                )

        report = _run(seal_and_send())
        _print_refresh(report, as_json)
        if report.uploaded == 0:
            raise typer.Exit(1)
        return
    if blob_file is None:
        raise fail("bad-input", "give --blob, or --group-info with --policy")
    body = read_source(blob_file)
    parse_blob(body)  # refuse to send what is not a blob
    if invite is not None:
        payload = as_payload(_invite_text(invite))
        slot, key = payload.external_group_id, payload.symmetric_key
    elif policy_file is not None:
        active = active_invite(_load_policy(policy_file), "upload")
        slot, key = active.external_group_id, active.symmetric_key
    else:
        raise fail("bad-input", "--blob needs --invite or --policy (slot id and key)")
    if not service:
        raise fail("bad-input", "--blob needs at least one --service")

    async def send() -> list[Any]:
        async with _client(loopback, timeout) as client:
            return await client.upload_many(service, slot, body, kinds=kinds, key=key)

    results = _run(send())
    if as_json:
        emit_json({"results": [r.to_json() for r in results]})
    else:
        for r in results:
            print(f"{r.service} {r.kind}: {r.outcome}")
    if not any(r.ok for r in results):
        raise typer.Exit(1)


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
    payload = as_payload(_invite_text(invite))
    kinds = _kinds(kind, (SlotKind.LANE, SlotKind.OPEN))
    _check_urls(service, loopback)

    async def go() -> Any:
        urls = await _services(payload, service)
        async with _client(loopback, timeout) as client:
            return await client.fetch_merged(
                urls, payload.external_group_id, kinds=kinds, key=payload.symmetric_key
            )

    merged = _run(go())
    key = BlobKey(payload.symmetric_key)
    rows: list[dict[str, Any]] = []
    for cand in merged.candidates:
        row: dict[str, Any] = {
            "sha256": cand.content_hash.hex(),
            "size": len(cand.raw),
            "sources": list(cand.sources),
        }
        try:
            blob = parse_blob(cand.raw).blob
            row.update(
                epoch=blob.epoch,
                group_state_hash=blob.group_state_hash.hex(),
                expires_at_ns=blob.expires_at_ns,
            )
            try:
                key.decrypt(blob.nonce, blob.ciphertext, blob.aad)
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
            state = "opens" if row.get("opens") else row.get("error", "does not open")
            print(f"{row['sha256'][:16]}  epoch={row.get('epoch', '?')}  {row['size']} B  {state}")
        for err in merged.errors:
            print(f"error: {err}", file=sys.stderr)
        if not rows:
            print("no candidates")


# --- join-check ------------------------------------------------------------------------


@cli_errors
def join_check_cmd(
    invite: Annotated[str, typer.Argument(help="Invite link or encoded payload (- for stdin).")],
    service: ServiceOpt = None,
    kind: KindOpt = None,
    level: Annotated[
        str, typer.Option(help="GroupInfo checks: parse, signature, tree or parent-hashes.")
    ] = "tree",
    policy_file: PolicyFileOpt = None,
    as_json: JsonOpt = False,
    loopback: LoopbackOpt = False,
    timeout: TimeoutOpt = 30.0,
) -> None:
    """Run the join flow up to (not including) the commit; print what a joiner would get.

    --policy supplies the policy of a GroupInfo that carries none (without it such a
    GroupInfo is refused: no policy means external commits are off).
    """
    payload = as_payload(_invite_text(invite))
    supplied = _load_policy(policy_file) if policy_file is not None else None
    _check_urls(service, loopback)
    try:
        verify = VerifyLevel[level.upper().replace("-", "_")]
    except KeyError:
        raise fail("bad-input", "--level must be parse, signature, tree or parent-hashes") from None
    options = JoinOptions(level=verify, fetch_kinds=_kinds(kind, (SlotKind.LANE, SlotKind.OPEN)))

    async def go() -> JoinOutcome:
        urls = await _services(payload, service)

        async def resolver(_pointer: object) -> list[str]:
            return list(urls)

        async with _client(loopback, timeout) as client:
            return await check_invite(
                payload, client=client, resolver=resolver, options=options,
                policy_provider=None if supplied is None else (lambda _view: supplied),
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
    role: Annotated[str, typer.Option(help="committer, backstop or deep.")] = "committer",
    service: ServiceOpt = None,
    epoch_start_ns: EpochStartOpt = None,
    kind: KindOpt = None,
    as_json: JsonOpt = False,
    loopback: LoopbackOpt = False,
    timeout: TimeoutOpt = 30.0,
) -> None:
    """Keep the invite's slots fresh from a member's own GroupInfo (one refresh role)."""
    policy = _load_policy(policy_file)
    gi = read_source(group_info)
    start = epoch_start_ns if epoch_start_ns is not None else system_clock()
    kinds = _kinds(kind, (SlotKind.LANE,))
    extra = _check_urls(service, loopback)
    roles = {"committer": RefreshRole.COMMITTER, "backstop": RefreshRole.BACKSTOP,
             "deep": RefreshRole.DEEP_CHECK}
    if role not in roles:
        raise fail("bad-input", "--role must be committer, backstop or deep")
    chosen = roles[role]

    async def go() -> RefreshReport:
        async def resolver(_pointer: object) -> list[str]:
            return []

        async with _client(loopback, timeout) as client:
            if chosen is RefreshRole.COMMITTER:
                return await committer_refresh(
                    client, gi, policy, start, first_services=extra, kinds=kinds
                )
            if chosen is RefreshRole.BACKSTOP:
                return await backstop_refresh(
                    client, gi, policy, start, first_services=extra, kinds=kinds,
                    resolver=resolver, sleep=_no_sleep,
                )
            return await deep_check(
                client, gi, policy, start, first_services=extra, kinds=kinds, resolver=resolver
            )

    report = _run(go())
    _print_refresh(report, as_json)


async def _no_sleep(_seconds: float) -> None:
    """The CLI runs one pass now: no start jitter."""


# --- mirror ----------------------------------------------------------------------------


@cli_errors
def mirror_cmd(
    source: Annotated[str, typer.Option("--from", help="Source service API root URL.")],
    to: Annotated[list[str], typer.Option("--to", help="Destination service (repeatable).")],
    slot: Annotated[
        list[str] | None, typer.Option("--slot", help="Slot id (external_group_id) as hex.")
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
        slots.append(_hex(text, "--slot"))
    for text in lane or ():
        value = _hex(text, "--lane")
        if len(value) != 32:
            raise fail("bad-input", "--lane must be 32 bytes of hex")
        lanes.append(value)
    for text in invite or ():
        payload = as_payload(text)
        slots.append(payload.external_group_id)
        lanes.append(lane_id_for(payload.symmetric_key))
    if not slots:
        raise fail("bad-input", "give at least one --slot or --invite")
    _check_urls([source, *to], loopback)
    slots = list(dict.fromkeys(slots))
    kinds = _kinds(kind, (SlotKind.LANE, SlotKind.OPEN))
    console = Console(stderr=True)

    async def go() -> list[SlotMirrorReport]:
        async with _client(loopback, timeout) as client:
            with Progress(
                TextColumn("mirror"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                console=console, disable=as_json or len(slots) < 2, transient=True,
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
        for r in reports:
            copied = sum(1 for u in r.results if u.ok)
            status = r.error or f"{r.read} read, {copied}/{len(r.results)} accepted"
            print(f"{r.slot_id.hex()}: {status}")
    if not all(r.ok for r in reports):
        raise typer.Exit(1)


def _hex(text: str, flag: str) -> bytes:
    try:
        return bytes.fromhex(text.removeprefix("0x"))
    except ValueError:
        raise fail("bad-input", f"{flag} must be hex") from None


__all__ = [
    "EXIT_BAD_INPUT",
    "fetch_cmd",
    "join_check_cmd",
    "mirror_cmd",
    "refresh_cmd",
    "upload_cmd",
]

"""``invitekit policy enable|rotate|revoke``: EXTERNAL_COMMIT_POLICY lifecycle."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .. import policy as policy_mod
from ..encoding import TextEncoding, encode
from ..pointer import HttpsPointer, OpaquePointer, ServicePointer
from ..policy import ExternalCommitPolicy, parse_policy_entry
from ..times import parse_duration_ns, parse_instant_ns
from ..wire import Dialect
from .errors import cli_errors
from .io import emit_result, read_policy
from .options import ExpireInOpt, JsonOpt, parse_hex
from .render import policy_view

policy_app = typer.Typer(
    help="Enable, rotate or revoke a group's EXTERNAL_COMMIT_POLICY (component 0x800C).",
    no_args_is_help=True,
)

OutOption = Annotated[
    Path | None,
    typer.Option("--out", "-o", help="Write the policy entry bytes to this file."),
]
EncodingOption = Annotated[
    str,
    typer.Option(
        "--encoding",
        help="How to print the policy bytes when --out is not given: base64url, hex or base32.",
    ),
]
LegacyOption = Annotated[
    bool, typer.Option("--legacy", help="Write the legacy raw-bytes dialect (xmtp/proto v3.92).")
]
ShowSecretsOption = Annotated[
    bool, typer.Option("--show-secrets", help="Print the symmetric key instead of redacting it.")
]
CurrentOption = Annotated[
    str,
    typer.Option("--policy", "-p", help="Current policy entry: a file path, or - for stdin."),
]
InputEncodingOption = Annotated[
    str,
    typer.Option("--input-encoding", help="raw (default), hex, base64url or base32."),
]


def _finish(
    new: ExternalCommitPolicy,
    out: Path | None,
    encoding: str,
    legacy: bool,
    show: bool,
    as_json: bool,
) -> None:
    """Write or print the entry bytes, then print the summary (key redacted unless shown).

    Without ``--out`` the entry itself is printed (under ``entry``): it contains the key,
    so treat that output as secret.
    """
    data = new.to_entry_bytes(Dialect.LEGACY if legacy else Dialect.TYPED)
    summary = policy_view(parse_policy_entry(data), show)
    if out is not None:
        out.write_bytes(data)
        summary["written_to"] = str(out)
    else:
        text_encoding = TextEncoding("base64url" if encoding == "raw" else encoding)
        summary["entry"] = encode(data, text_encoding)
        summary["entry_encoding"] = text_encoding.value
    emit_result(summary, as_json)


def _pointer(text: str) -> ServicePointer:
    if text.startswith("opaque:"):
        return OpaquePointer(parse_hex(text[len("opaque:"):], "--refresh-pointer opaque:<hex>"))
    return HttpsPointer(text)


@policy_app.command("enable")
@cli_errors
def enable_cmd(
    out: OutOption = None,
    current: Annotated[
        str | None,
        typer.Option("--policy", "-p", help="Current policy (keeps its durable settings)."),
    ] = None,
    input_encoding: InputEncodingOption = "raw",
    expires_at: Annotated[
        str,
        typer.Option(
            "--expires-at", "--expires-at-ns", metavar="INSTANT|NS",
            help="Campaign end: an RFC 3339 instant (2027-01-31T00:00Z) or ns since the "
            "UNIX epoch (0: none).",
        ),
    ] = "0",
    expire_in: ExpireInOpt = None,
    max_uses: Annotated[
        int | None, typer.Option(help="Concurrent invited members allowed (0: unlimited).")
    ] = None,
    refresh_pointer: Annotated[
        list[str] | None,
        typer.Option(help="Refresh pointer: an https URL, or opaque:<hex>. Repeatable."),
    ] = None,
    slot_id: Annotated[
        str | None, typer.Option(help="external_group_id as hex (default: 16 random bytes).")
    ] = None,
    encoding: EncodingOption = "base64url",
    legacy: LegacyOption = False,
    show_secrets: ShowSecretsOption = False,
    as_json: JsonOpt = False,
) -> None:
    """Turn external commits on with a fresh key (and a fresh slot id unless given)."""
    base = read_policy(current, input_encoding) if current else None
    new = policy_mod.enable(
        base,
        expires_at_ns=parse_instant_ns(expires_at, "--expires-at"),
        expire_in_ns=None if expire_in is None else parse_duration_ns(expire_in),
        max_uses=max_uses,
        refresh_pointers=[_pointer(p) for p in refresh_pointer or []],
        external_group_id=parse_hex(slot_id, "--slot-id") if slot_id else None,
    )
    _finish(new, out, encoding, legacy, show_secrets, as_json)


@policy_app.command("rotate")
@cli_errors
def rotate_cmd(
    current: CurrentOption,
    out: OutOption = None,
    input_encoding: InputEncodingOption = "raw",
    new_slot: Annotated[
        bool, typer.Option("--new-slot", help="Also rotate external_group_id (a new slot).")
    ] = False,
    encoding: EncodingOption = "base64url",
    legacy: LegacyOption = False,
    show_secrets: ShowSecretsOption = False,
    as_json: JsonOpt = False,
) -> None:
    """Rotate the invite key (and, with --new-slot, the slot id)."""
    new = policy_mod.rotate(read_policy(current, input_encoding), new_slot=new_slot)
    _finish(new, out, encoding, legacy, show_secrets, as_json)


@policy_app.command("revoke")
@cli_errors
def revoke_cmd(
    current: CurrentOption,
    out: OutOption = None,
    input_encoding: InputEncodingOption = "raw",
    encoding: EncodingOption = "base64url",
    legacy: LegacyOption = False,
    as_json: JsonOpt = False,
) -> None:
    """Turn external commits off, clearing every per-invite field."""
    new = policy_mod.revoke(read_policy(current, input_encoding))
    _finish(new, out, encoding, legacy, False, as_json)


__all__ = [
    "enable_cmd",
    "policy_app",
    "revoke_cmd",
    "rotate_cmd",
]

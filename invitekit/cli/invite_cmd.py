"""``invitekit mint`` and ``invitekit inspect``."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from .. import link as link_mod
from .. import nfc, qr
from ..blob import EncryptedBlob, ParsedBlob
from ..encoding import b64url_encode
from ..envelope import parse_envelope
from ..errors import InviteKitError, UnsupportedVersion
from ..hpke_blob import HpkeBlob
from ..payload import InvitePayload, parse_payload
from ..pointer import OpaquePointer, ServicePointer
from ..policy import parse_policy_entry
from ..wire import Dialect
from . import render
from .errors import cli_errors, fail
from .io import Input, emit_result, read_binary, read_policy
from .options import JsonOpt, LoopbackOpt, parse_hex
from .render import blob_view, instant_text, payload_view, policy_view
from .services import service_pointer

Inspector = Callable[[bytes, bool], dict[str, Any]]


def _inspect_payload(data: bytes, show: bool) -> dict[str, Any]:
    return payload_view(parse_payload(data), show)


def _inspect_blob(data: bytes, show: bool) -> dict[str, Any]:
    """Any envelope, read through the one version dispatch."""
    parsed = parse_envelope(data)
    if isinstance(parsed.blob, EncryptedBlob):
        return blob_view(ParsedBlob(parsed.blob, parsed.dialect, parsed.raw))
    return _hpke_view(parsed.blob)


def _inspect_hpke_blob(data: bytes, show: bool) -> dict[str, Any]:
    parsed = parse_envelope(data)
    if not isinstance(parsed.blob, HpkeBlob):
        raise UnsupportedVersion(render.NOT_HPKE_BLOB)
    return _hpke_view(parsed.blob)


def _hpke_view(b: HpkeBlob) -> dict[str, Any]:
    return {
        "kind": "invitekit-hpke-blob",
        "extension": True,
        "variant": b.variant.value,
        "epoch": b.epoch,
        "group_state_hash": b.group_state_hash.hex(),
        "expires_at_ns": b.expires_at_ns,
        "expires_at": instant_text(b.expires_at_ns),
        "sealed_length": len(b.sealed),
    }


def _inspect_policy(data: bytes, show: bool) -> dict[str, Any]:
    parsed = parse_policy_entry(data)
    if not parsed.recognized:
        raise UnsupportedVersion(render.NOT_POLICY_V1)
    return policy_view(parsed, show)


#: Kinds ``inspect`` knows, tried in this order by ``--kind auto``. Other modules (the MLS
#: GroupInfo view) register themselves here.
INSPECTORS: dict[str, Inspector] = {
    "blob": _inspect_blob,
    "hpke-blob": _inspect_hpke_blob,
    "payload": _inspect_payload,
    "policy": _inspect_policy,
}


def _policy_invite(source: str, encoding: str) -> InvitePayload:
    return read_policy(source, encoding).invite()


@cli_errors
def mint(
    policy_file: Annotated[
        str | None, typer.Option("--policy", "-p", help="Policy entry file (or - for stdin).")
    ] = None,
    input_encoding: Annotated[
        str, typer.Option("--input-encoding", help="raw, hex, base64url or base32.")
    ] = "raw",
    key: Annotated[
        str | None, typer.Option(help="Symmetric key as hex, instead of --policy.")
    ] = None,
    slot_id: Annotated[
        str | None, typer.Option(help="external_group_id as hex, instead of --policy.")
    ] = None,
    service: Annotated[
        str | None,
        typer.Option(
            "--service", "-s",
            help="Blob service API root (the service pointer): https, or loopback http "
            "with --allow-insecure-loopback.",
        ),
    ] = None,
    opaque: Annotated[
        str | None, typer.Option(help="Opaque service pointer as hex, instead of --service.")
    ] = None,
    link_base: Annotated[
        str | None, typer.Option(help="Link base, e.g. https://example.org/i .")
    ] = None,
    compact: Annotated[
        bool, typer.Option(help="Compact link: upper-case host/path + base32 (smaller QR).")
    ] = False,
    qr_out: Annotated[
        Path | None, typer.Option("--qr", help="Write a QR code (.png or .svg).")
    ] = None,
    qr_error: Annotated[
        qr.ErrorCorrection, typer.Option(help="QR error correction: m (default) or q for print.")
    ] = qr.DEFAULT_ERROR,
    nfc_out: Annotated[
        Path | None, typer.Option("--nfc", help="Write the link as an NDEF URI record.")
    ] = None,
    legacy: Annotated[
        bool, typer.Option("--legacy", help="Encode the payload in the legacy dialect.")
    ] = False,
    loopback: LoopbackOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Mint an invite: payload bytes, link, QR code and NFC record.

    Everything printed is the invite capability itself: share it only where joining is meant.
    """
    if policy_file is not None:
        if key or slot_id:
            raise fail("bad-input", render.POLICY_OR_KEYS_NOT_BOTH)
        invite = _policy_invite(policy_file, input_encoding)
    elif key and slot_id:
        invite = InvitePayload(parse_hex(slot_id, "--slot-id"), parse_hex(key, "--key"))
    else:
        raise fail("bad-input", render.POLICY_OR_KEYS)
    if service and opaque:
        raise fail("bad-input", render.SERVICE_OR_OPAQUE)
    pointer: ServicePointer | None = None
    if service:
        pointer = service_pointer(service, loopback)
    elif opaque:
        pointer = OpaquePointer(parse_hex(opaque, "--opaque"))
    invite = InvitePayload(invite.external_group_id, invite.symmetric_key, pointer)
    data = invite.to_bytes(Dialect.LEGACY if legacy else Dialect.TYPED)
    result: dict[str, Any] = {"payload_base64url": b64url_encode(data), "payload_length": len(data)}
    link = link_mod.make_link(data, link_base, compact=compact) if link_base else None
    result["link"] = link
    if qr_out is not None:
        code = (
            qr.qr_for_link(link, error=qr_error) if link else qr.qr_for_bytes(data, error=qr_error)
        )
        qr.write_qr(code, qr_out)
        result["qr"] = {"path": str(qr_out), "version": qr.qr_version(code), "error": code.error}
    if nfc_out is not None:
        if link is None:
            raise fail("bad-input", render.NFC_NEEDS_LINK)
        nfc_out.write_bytes(nfc.ndef_uri_record(link))
        result["nfc"] = str(nfc_out)
    emit_result(result, as_json)


#: The shortest text that can carry a 32-byte invite key (base64url); an unreadable argument
#: this long without a ``/`` may be a mangled invite, and is not printed back.
_KEY_TEXT_MIN = 43


def _read_any(source: str) -> tuple[bytes, str | None]:
    """(bytes, text) of ``source``: a file, ``-``, or a literal link/base64url/hex string.

    An argument that is neither an existing path nor readable invite text is a missing
    file (``file-not-found``), not an unrecognized input; an existing path that is not a
    regular file (a directory, FIFO, device) is refused as such by :func:`read_binary`.
    """
    if source != "-" and not os.path.lexists(source):
        if len(source) > link_mod.MAX_INVITE_TEXT:
            raise FileNotFoundError(render.NO_FILE_TOO_LONG)
        if "://" not in source and "#" not in source:  # not a link: a path, or encoded text
            try:
                link_mod.parse_invite_text(source)
            except InviteKitError:
                shown = "/" in source or len(source) < _KEY_TEXT_MIN
                message = render.no_such_file(source) if shown else render.NO_FILE_NOT_SHOWN
                raise FileNotFoundError(message) from None
        return source.encode(), source
    data = read_binary(source, Input.ANY)
    try:
        return data, data.decode("ascii")
    except UnicodeDecodeError:
        return data, None


@cli_errors
def inspect(
    source: Annotated[
        str, typer.Argument(help="A file, - for stdin, or an invite link / base64url / hex.")
    ],
    kind: Annotated[
        str,
        typer.Option(
            "--type", metavar="TYPE", help="auto, or one of: blob, payload, policy, group-info."
        ),
    ] = "auto",
    show_secrets: Annotated[
        bool, typer.Option("--show-secrets", help="Print keys instead of redacting them.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Decode a payload, blob, policy entry or GroupInfo and print what it holds."""
    if kind != "auto" and kind not in INSPECTORS:
        raise fail("bad-input", render.unknown_type(kind, list(INSPECTORS)))
    data, text = _read_any(source)
    if text is not None and (kind in ("auto", "payload")):
        try:
            invite = link_mod.parse_invite_text(text)
        except InviteKitError:
            if kind == "payload" and (text.startswith("https") or "#" in text):
                raise
        else:
            emit_result(
                payload_view(parse_payload(invite.to_bytes()), show_secrets) | {"input": "text"},
                as_json,
            )
            return
    kinds = list(INSPECTORS) if kind == "auto" else [kind]
    errors: list[str] = []
    for name in kinds:
        try:
            view = INSPECTORS[name](data, show_secrets)
        except InviteKitError as exc:
            errors.append(f"{name}: {exc.code}")
        else:
            emit_result(view, as_json)
            return
    raise fail("unrecognized-input", render.unrecognized_input(errors))


__all__ = [
    "INSPECTORS",
    "Inspector",
    "inspect",
    "mint",
]

"""MLS commands for the ``invitekit`` CLI: ``seal`` and the GroupInfo branch of ``inspect``.

Registered by the CLI app (see ``invitekit/cli/__init__.py``)::

    app.command("seal")(mls_commands.seal)
    INSPECTORS["group-info"] = mls_commands.group_info_inspector
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ..encoding import b64url_encode
from ..envelope import Envelope, envelope_of
from ..errors import InviteKitError
from ..groupinfo_policy import external_commit_policy
from ..mls import ParseOptions, VerifyLevel, parse_group_info
from ..mls.groupinfo import GroupInfoView
from ..mls.schema import CREDENTIAL_BASIC, CREDENTIAL_TYPES, LEAF_NODE_SOURCES, LeafNode
from ..mls.suites import SUITES
from ..sealing import seal_group_info
from ..wire import Dialect
from .errors import cli_errors, fail
from .io import Input, emit_result, read_binary, read_policy
from .options import EnvelopeOpt, EpochStartOpt, JsonOpt, parse_epoch_start_ns
from .preflight import preflight_seal
from .render import instant_text, legacy_not_in, policy_view

#: inspect reads ts-mls-style bare external_pub too, and says which layout it saw.
_INSPECT_OPTIONS = ParseOptions(accept_unprefixed_external_pub=True)


def _member(index: int, leaf: LeafNode) -> dict[str, Any]:
    cred = leaf.credential
    entry: dict[str, Any] = {
        "leaf_index": index,
        "credential_type": CREDENTIAL_TYPES[cred.credential_type],
        "leaf_node_source": LEAF_NODE_SOURCES[leaf.leaf_node_source],
        "signature_key": leaf.signature_key.hex(),
    }
    if cred.credential_type == CREDENTIAL_BASIC:
        entry["identity"] = (cred.identity or b"").hex()
    else:
        entry["certificates"] = len(cred.certificates or ())
    return entry


def _levels(view: GroupInfoView) -> dict[str, str]:
    """Outcome of every verification level: "ok" or the typed error's code."""
    results = {"parse": "ok"}
    checks = (
        ("signature", view.verify_signature),
        ("tree_hash", view.verify_tree_hash),
        ("parent_hashes", view.verify_parent_hashes),
        ("leaf_signatures", view.verify_leaf_signatures),
    )
    for name, check in checks:
        try:
            check()
        except InviteKitError as exc:
            results[name] = exc.code
        else:
            results[name] = "ok"
    return results


def inspect_group_info(data: bytes, show_secrets: bool = False) -> dict[str, Any]:
    """A GroupInfo (MLSMessage bytes) as JSON-able data, with per-level verification results.

    Raises a typed MLS error only when the bytes do not decode (level 1); the other levels
    are reported, not raised. The policy's key is redacted unless ``show_secrets``.
    """
    view = parse_group_info(data, _INSPECT_OPTIONS)
    known = SUITES.get(view.cipher_suite)
    policy = external_commit_policy(view.app_data)
    return {
        "kind": "mls-group-info",
        "epoch": view.epoch,
        "group_id": view.group_id.hex(),
        "cipher_suite": view.cipher_suite,
        "cipher_suite_name": known.name if known else None,
        "group_state_hash": view.digest.hex() if known else None,
        "tree_hash": view.context.tree_hash.hex(),
        "signer": view.signer_index,
        "external_pub_encoding": view.external_pub_encoding,
        "group_context_extensions": [e.extension_type for e in view.context.extensions],
        "group_info_extensions": [e.extension_type for e in view.group_info.extensions],
        "member_count": len(view.members()) if view.tree else None,
        "members": [_member(i, leaf) for i, leaf in view.members()] if view.tree else None,
        "external_commit_policy": policy_view(policy, show_secrets) if policy else None,
        "verification": _levels(view) if known else {"parse": "ok"},
        "size": len(data),
    }


def group_info_inspector(data: bytes, show_secrets: bool) -> dict[str, Any]:
    """``inspect --kind group-info`` entry (the CLI's Inspector signature)."""
    return inspect_group_info(data, show_secrets)


@cli_errors
def seal(
    group_info_file: Annotated[
        str, typer.Argument(help="MLSMessage(GroupInfo) bytes: a file, or - for stdin.")
    ],
    policy_file: Annotated[
        str, typer.Option("--policy", "-p", help="Policy entry file (or - for stdin).")
    ],
    epoch_start_ns: EpochStartOpt,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write the blob here (else base64url).")
    ] = None,
    input_encoding: Annotated[
        str, typer.Option("--input-encoding", help="Policy file: raw, hex, base64url, base32.")
    ] = "raw",
    verify: Annotated[
        int, typer.Option(help="Verify the GroupInfo up to this level first (1-4).")
    ] = int(VerifyLevel.TREE),
    legacy: Annotated[
        bool, typer.Option("--legacy", help="Write the blob in the legacy dialect (v1 only).")
    ] = False,
    envelope: EnvelopeOpt = Envelope.V1,
    as_json: JsonOpt = False,
) -> None:
    """Seal a GroupInfo into an encrypted blob under the policy's invite key.

    Epoch, group_state_hash and the effective expiry are derived from the GroupInfo and
    the policy; nothing is taken on trust from the command line except the epoch start,
    which is required. A blob that would already be expired is refused. ``--envelope``
    picks the blob version: v1, the XIP's (the default, for every XIP-82 reader), or an
    invitekit HPKE extension that only invitekit readers open.
    """
    if legacy and not envelope.xip:
        raise fail("usage", legacy_not_in(envelope))
    group_info = read_binary(group_info_file, Input.GROUP_INFO)
    policy = read_policy(policy_file, input_encoding)
    started = parse_epoch_start_ns(epoch_start_ns)
    preflight_seal(group_info, policy, started)
    blob = seal_group_info(
        group_info, policy, started, verify=VerifyLevel(verify), envelope=envelope
    )
    data = blob.to_bytes(Dialect.LEGACY if legacy else Dialect.TYPED)
    result: dict[str, Any] = {
        "kind": "encrypted-group-info-blob",
        "envelope": envelope_of(blob).value,
        "epoch": blob.epoch,
        "group_state_hash": blob.group_state_hash.hex(),
        "expires_at_ns": blob.expires_at_ns,
        "expires_at": instant_text(blob.expires_at_ns),
        "length": len(data),
    }
    if out is not None:
        out.write_bytes(data)
        result["written_to"] = str(out)
    else:
        result["blob_base64url"] = b64url_encode(data)
    emit_result(result, as_json)


__all__ = [
    "group_info_inspector",
    "inspect_group_info",
    "seal",
]

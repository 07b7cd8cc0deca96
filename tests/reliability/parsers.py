"""Every parser the project exposes to outside bytes, with seeds, as one table.

A parser takes one input (bytes, or text for the text parsers) and either returns or raises
an :class:`~invitekit.errors.InviteKitError` (the MLS and protocol errors are subclasses).
Seeds are real, valid messages made by the library or taken from ``fixtures/`` (both
dialects where the format has two); the committed corpus in ``corpus/<parser>/`` adds the
inputs earlier runs kept.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from invitekit.blob import open_blob, parse_blob, seal
from invitekit.envelope import open_envelope, parse_envelope
from invitekit.hpke_blob import HpkeVariant, open_hpke, parse_hpke_blob, seal_hpke
from invitekit.lane import LaneSigner
from invitekit.link import make_link, parse_invite_text, payload_bytes_from_link
from invitekit.mls import ParseOptions, VerifyLevel, parse_group_info
from invitekit.mls.framing import decode_public_message
from invitekit.mls.schema import EXTENSION_RATCHET_TREE, RATCHET_TREE
from invitekit.mls.tls import decode_exact
from invitekit.mls.tree import RatchetTree
from invitekit.nfc import ndef_uri_record, parse_ndef_uri_record
from invitekit.payload import InvitePayload, parse_payload
from invitekit.pointer import HttpsPointer, OpaquePointer
from invitekit.policy import enable, parse_policy_entry, revoke
from invitekit.protocol import (
    CandidateListing,
    Presence,
    UploadReceipt,
    b64url,
    etag_matches,
    parse_content_address,
    parse_lane_id,
    parse_limit_query,
    parse_match_query,
    parse_signature_header,
    parse_slot_id,
    problem_code_of,
)
from invitekit.wire import Dialect
from invitekit.xmtp_components import decode_delta, decode_entry, decode_membership

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "fixtures"
CORPUS = Path(__file__).parent / "corpus"
KEY = bytes(range(32))
NOW = 1_900_000_000_000_000_000


@dataclass(frozen=True)
class Parser:
    """One parser: how to call it, and its seeds (``text``: the input is UTF-8 text)."""

    name: str
    call: Callable[[bytes], Any]
    seeds: tuple[bytes, ...]
    text: bool = False


LENIENT = ParseOptions(accept_unprefixed_external_pub=True)


def _group_info(data: bytes) -> None:
    """Strict parse, then the lenient one (both external_pub layouts), then verify."""
    from invitekit.mls.errors import MlsError

    with contextlib.suppress(MlsError):
        parse_group_info(data)
    view = parse_group_info(data, LENIENT)
    view.verify(VerifyLevel.TREE)


def _tree(data: bytes) -> None:
    nodes = decode_exact(RATCHET_TREE, data)
    RatchetTree.from_wire(nodes)


def _blob(data: bytes) -> None:
    parse_blob(data)
    open_blob(data, KEY, now_ns=NOW)


def _hpke(data: bytes) -> None:
    parse_hpke_blob(data)
    open_hpke(data, KEY, now_ns=NOW)


def _envelope(data: bytes) -> None:
    """The one version dispatch every reader and the service use."""
    parse_envelope(data)
    open_envelope(data, KEY, now_ns=NOW)


def _text(fn: Callable[[str], Any]) -> Callable[[bytes], Any]:
    return lambda data: fn(data.decode("utf-8", "surrogateescape"))


def _request(data: bytes) -> None:
    """The service's request parsers over one fuzzed string (path segments, headers, query)."""
    text = data.decode("utf-8", "replace")
    for fn in (parse_slot_id, parse_lane_id, parse_content_address, parse_signature_header):
        try:
            fn(text)
        except Exception as exc:  # the caller's contract check wants typed errors only
            _typed(exc)
    etag_matches(text, '"' + "a" * 64 + '"')
    halves = text.split("&")
    query = dict(part.partition("=")[::2] for part in halves)
    for fn2 in (
        lambda: parse_match_query(query, required=True),
        lambda: parse_match_query(query, required=False),
        lambda: parse_limit_query(query, cap=32, default=8),
    ):
        try:
            fn2()
        except Exception as exc:
            _typed(exc)


def _response(data: bytes) -> None:
    """The client's response parsers (listing, receipt, presence, problem) over one body."""
    for fn in (CandidateListing.items_from_json, UploadReceipt.outcome_from_json,
               Presence.present_from_json):
        try:
            fn(data)
        except Exception as exc:
            _typed(exc)
    for status in (400, 409, 503):
        problem_code_of(status, "application/problem+json", data)


def _typed(exc: Exception) -> None:
    from invitekit.errors import InviteKitError

    if not isinstance(exc, InviteKitError):
        raise exc


def _payload_seeds() -> tuple[bytes, ...]:
    slot = bytes(range(16))
    out = []
    for pointer in (None, HttpsPointer("https://blobs.example.org/v1"), OpaquePointer(b"\x01\x02")):
        p = InvitePayload(slot, KEY, pointer)
        out += [p.to_bytes(Dialect.TYPED), p.to_bytes(Dialect.LEGACY)]
    return tuple(out)


def _policy_seeds() -> tuple[bytes, ...]:
    zeros = bytes
    plain = enable(expires_at_ns=NOW, expire_in_ns=3600, random_bytes=zeros)
    rich = enable(max_uses=3, refresh_pointers=[HttpsPointer("https://m.example.org/v1"),
                                                OpaquePointer(b"\x07")], random_bytes=zeros)
    return (
        plain.to_entry_bytes(Dialect.TYPED),
        plain.to_entry_bytes(Dialect.LEGACY),
        rich.to_entry_bytes(),
        revoke(rich).to_entry_bytes(),
    )


def _blob_seeds() -> tuple[bytes, ...]:
    out = []
    for digest_len in (32, 48, 64):
        b = seal(b"g" * 60, KEY, epoch=7, group_state_hash=bytes(digest_len),
                 expires_at_ns=NOW + 10**12)
        out += [b.to_bytes(Dialect.TYPED), b.to_bytes(Dialect.LEGACY)]
    return tuple(out)


def _hpke_seeds() -> tuple[bytes, ...]:
    return tuple(
        seal_hpke(b"g" * 40, KEY, epoch=3, group_state_hash=bytes(32), variant=v).to_bytes()
        for v in HpkeVariant
    )


def _link_seeds() -> tuple[bytes, ...]:
    p = _payload_seeds()[2]
    return (
        make_link(p, "https://example.org/i").encode(),
        make_link(p, "https://EXAMPLE.ORG/I", compact=True).encode(),
        p.hex().encode(),
        b64url(p).encode(),
    )


def _small(paths: list[Path], limit: int = 40_000) -> tuple[bytes, ...]:
    return tuple(p.read_bytes() for p in paths if p.stat().st_size <= limit)


def _group_info_seeds() -> tuple[bytes, ...]:
    """Small real GroupInfos: rine and ts-mls groups, and the policy-carrying fixtures."""
    paths = sorted([*FIXTURES.glob("rine/*small*.bin"), *FIXTURES.glob("ts-mls/*small*.bin"),
                    *FIXTURES.glob("policy/*.bin")])
    return _small(paths)


def _tree_seeds() -> tuple[bytes, ...]:
    out = []
    for data in _group_info_seeds():
        for ext in parse_group_info(data, LENIENT).group_info.extensions:
            if ext.extension_type == EXTENSION_RATCHET_TREE:
                out.append(ext.extension_data)
    return tuple(out)


def _commit_seeds() -> tuple[bytes, ...]:
    """The fixtures' PublicMessage commits (key packages and GroupInfos left out)."""
    from invitekit.errors import InviteKitError

    out = []
    for p in sorted(FIXTURES.glob("commits/*/*.bin")):
        if p.stat().st_size > 40_000:
            continue
        try:
            decode_public_message(p.read_bytes())
        except InviteKitError:
            continue
        out.append(p.read_bytes())
    return tuple(out)


def _request_seeds() -> tuple[bytes, ...]:
    signer = LaneSigner(KEY)
    return (
        b64url(bytes(16)).encode(),
        b64url(signer.lane_id).encode(),
        ("ab" * 32).encode(),
        b64url(signer.sign(bytes(16), b"x")).encode(),
        b"epoch=18446744073709551615&group_state_hash=" + b64url(bytes(32)).encode(),
        b"limit=8",
    )


def _response_seeds() -> tuple[bytes, ...]:
    blob = _blob_seeds()[0]
    item = {
        "sha256": "ab" * 32, "epoch": 7, "group_state_hash": b64url(bytes(32)),
        "expires_at_ns": 0, "size": len(blob), "signature": None, "blob": b64url(blob),
    }
    listing = {"kind": "open", "slot": b64url(bytes(16)), "lane": None, "count": 1,
               "items": [item]}
    receipt = {"outcome": "created", "kind": "open", "sha256": "ab" * 32, "epoch": 7,
               "group_state_hash": b64url(bytes(32)), "expires_at_ns": 0,
               "location": "/x", "head": None}
    presence = {"present": True, "count": 1, "items": [{"sha256": "ab" * 32,
                                                         "nonce": b64url(bytes(12))}]}
    problem = {"type": "urn:invitekit:problem:stale", "title": "t", "status": 409}
    return tuple(json.dumps(x).encode() for x in (listing, receipt, presence, problem))


def _membership_seeds() -> tuple[bytes, ...]:
    return (b"\x00", b"\x02\x00\x00", bytes(40))


PARSERS: dict[str, Parser] = {
    p.name: p
    for p in (
        Parser("payload", parse_payload, _payload_seeds()),
        Parser("policy", parse_policy_entry, _policy_seeds()),
        Parser("blob", _blob, _blob_seeds()),
        Parser("hpke-blob", _hpke, _hpke_seeds()),
        Parser("envelope", _envelope, _blob_seeds() + _hpke_seeds()),
        Parser("link", _text(parse_invite_text), _link_seeds(), text=True),
        Parser("link-fragment", _text(payload_bytes_from_link), _link_seeds()[:2], text=True),
        Parser("ndef", parse_ndef_uri_record, (ndef_uri_record("https://example.org/i#abc"),)),
        Parser("group-info", _group_info, _group_info_seeds()),
        Parser("ratchet-tree", _tree, _tree_seeds()),
        Parser("commit", decode_public_message, _commit_seeds()),
        Parser("membership", decode_membership, _membership_seeds()),
        Parser("membership-delta", decode_delta, _membership_seeds()),
        Parser("membership-entry", decode_entry, _membership_seeds()),
        Parser("request", _request, _request_seeds(), text=True),
        Parser("response", _response, _response_seeds()),
    )
}


def corpus_inputs(name: str) -> list[tuple[str, bytes]]:
    """The kept inputs of one parser (``corpus/<name>/*``), sorted by file name."""
    folder = CORPUS / name
    if not folder.is_dir():
        return []
    return [(p.name, p.read_bytes()) for p in sorted(folder.iterdir()) if p.is_file()]


def keep(name: str, label: str, data: bytes) -> Path:
    """Add one input to the committed corpus (content-addressed file name)."""
    import hashlib

    folder = CORPUS / name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{label}-{hashlib.sha256(data).hexdigest()[:16]}.bin"
    path.write_bytes(data)
    return path

"""The service protocol module: encodings, paths, problem codes and bodies.

Known answers come from RFC 4648's test vectors, the prose of spec/SPEC.md and the
OpenAPI document, not from the code under test.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
import yaml

from invitekit import protocol
from invitekit.protocol import (
    BlobRecord,
    CandidateListing,
    HeadRef,
    InvalidRequest,
    InvalidResponse,
    Presence,
    ProblemCode,
    Route,
    SlotKind,
    UploadReceipt,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("raw", "text"),
    [(b"", ""), (b"f", "Zg"), (b"fo", "Zm8"), (b"foo", "Zm9v"), (b"foob", "Zm9vYg"),
     (b"\xfb\xff", "-_8")],
)
def test_b64url_rfc4648_vectors(raw: bytes, text: str) -> None:
    assert protocol.b64url(raw) == text
    assert protocol.parse_b64url(text) == raw


@pytest.mark.parametrize("text", ["Zg==", "Zm9v\n", "Zh", "Z", "Zm9v+", "Zm/v", " Zg"])
def test_parse_b64url_refuses_non_canonical_text(text: str) -> None:
    """Padding, whitespace, the standard alphabet and non-zero trailing bits ("Zh" decodes
    to b"f" too) are refused: one id has exactly one path."""
    assert protocol.parse_b64url(text) is None


def test_slot_paths_and_route_templates() -> None:
    slot, lane = b"\x00" * 4, b"\xff" * 32
    lane_text = "_" * 42 + "8"
    assert protocol.slot_path(slot, SlotKind.OPEN, None, Route.HEAD) == "/slots/AAAAAA/open/head"
    assert protocol.slot_path(slot, SlotKind.LANE, lane, Route.BLOBS) == (
        f"/slots/AAAAAA/lanes/{lane_text}/blobs"
    )
    digest = hashlib.sha256(b"x").digest()
    assert protocol.slot_path(slot, SlotKind.OPEN, None, Route.BLOB, sha256=digest).endswith(
        "/open/blobs/" + digest.hex()
    )
    with pytest.raises(protocol.ProtocolError):
        protocol.slot_path(slot, SlotKind.LANE, None, Route.HEAD)
    with pytest.raises(protocol.ProtocolError):
        protocol.slot_path(slot, SlotKind.OPEN, None, Route.BLOB)


def test_route_templates_are_the_openapi_paths() -> None:
    document = yaml.safe_load((REPO / "spec" / "openapi.yaml").read_text())
    documented = set(document["paths"])
    ours = {protocol.route_template(kind, route) for kind in SlotKind for route in Route}
    ours |= {protocol.HEALTHZ_PATH, protocol.READYZ_PATH, protocol.METRICS_PATH,
             protocol.OPENAPI_PATH}
    assert ours <= documented, ours - documented


def test_problem_codes_are_the_ones_the_spec_lists() -> None:
    spec = (REPO / "spec" / "SPEC.md").read_text()
    section = spec.split("### Errors", 1)[1].split("###", 1)[0]
    fields = {"type", "title", "status", "detail", "code", "head", "scope"}
    scopes = {
        "client-read",
        "client-write",
        "slot-client-write",
        "slot-write",
        "slot-client-write-bytes",
        "client-write-bytes",
    }
    listed = set(re.findall(r"`([a-z]+(?:-[a-z]+)*)`", section)) - fields - scopes
    assert {c.value for c in ProblemCode} == listed
    assert ProblemCode.STALE.type_uri == "urn:invitekit:problem:stale"
    assert ProblemCode.MISSING_SIGNATURE.status == 401
    assert ProblemCode.UNAVAILABLE.status == 503


def test_problem_bodies_round_trip_and_unknown_answers_fall_back() -> None:
    body = protocol.problem_json(ProblemCode.FORK, extra={"head": None})
    assert protocol.problem_code_of(409, protocol.PROBLEM_MEDIA_TYPE, body) == "fork"
    assert protocol.problem_code_of(502, "text/html", b"<h1>bad gateway</h1>") == "http-502"
    assert protocol.problem_code_of(400, protocol.PROBLEM_MEDIA_TYPE, b"{") == "http-400"


def test_request_parsers_name_their_problem() -> None:
    cases = [
        (lambda: protocol.parse_slot_id("AAA"), ProblemCode.INVALID_SLOT_ID),  # 2 bytes
        (lambda: protocol.parse_lane_id("AAAA"), ProblemCode.INVALID_LANE_ID),
        (lambda: protocol.parse_content_address("AB" * 32), ProblemCode.INVALID_CONTENT_ADDRESS),
        (lambda: protocol.parse_signature_header(None), ProblemCode.MISSING_SIGNATURE),
        (lambda: protocol.parse_signature_header("AAAA"), ProblemCode.BAD_SIGNATURE),
        (lambda: protocol.parse_match_query({"epoch": "1"}, required=False),
         ProblemCode.INVALID_QUERY),
        (lambda: protocol.parse_match_query({}, required=True), ProblemCode.INVALID_QUERY),
        (lambda: protocol.parse_match_query(
            {"epoch": str(1 << 64), "group_state_hash": "A" * 43}, required=False),
         ProblemCode.INVALID_QUERY),
        (lambda: protocol.parse_limit_query({"limit": "0"}, cap=8, default=8),
         ProblemCode.INVALID_QUERY),
    ]
    for call, code in cases:
        with pytest.raises(InvalidRequest) as caught:
            call()
        assert caught.value.problem is code
    digest = bytes(range(32))
    assert protocol.parse_match_query(HeadRef(7, digest).to_query(), required=True) == HeadRef(
        7, digest
    )
    assert protocol.parse_limit_query({}, cap=32, default=8) == 8


def test_listing_round_trip_and_fail_closed_reading() -> None:
    body = b"blob bytes"
    record = BlobRecord(body, b"\x01" * 64, 3, b"\x02" * 32, 0)
    listing = CandidateListing(SlotKind.LANE, b"slot", b"\x03" * 32, (record,))
    encoded = protocol.encode_json(listing.to_json())
    (item,) = CandidateListing.items_from_json(encoded)
    assert item == record
    assert listing.to_json()["items"][0]["sha256"] == hashlib.sha256(body).hexdigest()
    # A minimal (XIP-only) service sends the blob alone.
    (bare,) = CandidateListing.items_from_json(b'{"items":[{"blob":"YmxvYg"}]}')
    assert bare.body == b"blob"
    assert bare.epoch is None
    for bad in (
        b"[]",
        b'{"items":{}}',
        b'{"items":[{"blob":"YmxvYg=="}]}',  # padded
        b'{"items":[{"blob":"YmxvYg","sha256":"' + b"00" * 32 + b'"}]}',  # wrong digest
        b'{"items":[{"blob":"YmxvYg","epoch":-1}]}',
        b'{"items":[{"blob":"YmxvYg","epoch":true}]}',
    ):
        with pytest.raises(InvalidResponse):
            CandidateListing.items_from_json(bad)


def test_upload_receipt_and_presence_bodies() -> None:
    receipt = UploadReceipt(
        "created", SlotKind.OPEN, b"\x00" * 32, 1, b"\x01" * 32, 0, "/v1/x", None
    )
    assert UploadReceipt.outcome_from_json(protocol.encode_json(receipt.to_json())) == "created"
    with pytest.raises(InvalidResponse):
        UploadReceipt.outcome_from_json(b'{"outcome": 3}')
    assert Presence(()).to_json() == {"present": False, "count": 0, "items": []}
    assert Presence.present_from_json(b'{"present": true}') is True
    with pytest.raises(InvalidResponse):
        Presence.present_from_json(b'{"present": "yes"}')


def test_etag_matching() -> None:
    tag = protocol.etag_of(b"\xab" * 32)
    assert tag == '"' + "ab" * 32 + '"'
    assert protocol.etag_matches(f'W/{tag}, "other"', tag)
    assert protocol.etag_matches("*", tag)
    assert not protocol.etag_matches('"other"', tag)
    assert not protocol.etag_matches(None, tag)

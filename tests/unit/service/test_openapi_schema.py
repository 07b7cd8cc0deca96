"""Issue 12, schema drift: spec/openapi.yaml's parameter schemas accept exactly the strings
the service's parsers accept (the protocol module is what the service runs)."""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Callable
from functools import cache
from typing import Any

import pytest
import yaml
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from invitekit import protocol
from tests.integration.service.support import OPENAPI_PATH

MAX_CANDIDATES = 32  # the service default the limit pattern states


@cache
def _parameters() -> dict[str, Any]:
    document = yaml.safe_load(OPENAPI_PATH.read_text())
    return dict(document["components"]["parameters"])


def _schema_accepts(name: str, value: str) -> bool:
    schema = _parameters()[name]["schema"]
    if len(value) < schema.get("minLength", 0) or len(value) > schema.get("maxLength", 10**9):
        return False
    return re.search(_ecma(schema["pattern"]), value) is not None


def _ecma(pattern: str) -> str:
    """JSON Schema patterns are ECMA-262: a final ``$`` does not match before a newline."""
    return pattern[:-1] + r"\Z" if pattern.endswith("$") else pattern


def _reachable(name: str, value: str) -> bool:
    """HTTP strips a header value's surrounding whitespace before the service sees it."""
    return name != "signature" or value == value.strip()


def _accepts(parse: Callable[[str], object], value: str) -> bool:
    try:
        parse(value)
    except protocol.InvalidRequest:
        return False
    return True


def _limit(value: str) -> object:
    return protocol.parse_limit_query({"limit": value}, cap=MAX_CANDIDATES, default=8)


def _epoch(value: str) -> object:
    return protocol.parse_match_query(
        {"epoch": value, "group_state_hash": protocol.b64url(bytes(32))}, required=True
    )


def _digest(value: str) -> object:
    return protocol.parse_match_query({"epoch": "1", "group_state_hash": value}, required=True)


def _signature(value: str) -> object:
    return protocol.parse_signature_header(value)


PARSERS: dict[str, Callable[[str], object]] = {
    "slot": protocol.parse_slot_id,
    "lane": protocol.parse_lane_id,
    "sha256": protocol.parse_content_address,
    "limit": _limit,
    "epoch": _epoch,
    "groupStateHash": _digest,
    "signature": _signature,
}


_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _edge_cases() -> list[str]:
    values = ["", "0", "00", "1", "32", "33", "0032", "-1", "+1", " 1", "1 ", "a" * 64, "A" * 64]
    for n in (0, 1, 2, 3, 4, 5, 6, 31, 32, 33, 47, 48, 49, 63, 64, 65, 254, 255, 256):
        text = _b64(os.urandom(n))
        values += [text, text + "=", text + "A", text[:-1], text.upper(), text + "\n"]
        if text:
            last = _ALPHABET.index(text[-1])
            values.append(text[:-1] + _ALPHABET[last ^ 1])  # flips the lowest bit
            values.append(text.replace("-", "+").replace("_", "/"))
    values += [os.urandom(32).hex(), os.urandom(32).hex().upper(), os.urandom(31).hex() + "g0"]
    u64 = (1 << 64) - 1
    values += [str(u64), str(u64 + 1), "0" * 20, "0" * 19 + "1", "0" * 21, str(10**19), "9" * 20]
    values += ["0" * 18 + "32", "0" * 19 + "32", "0" * 19 + "9"]
    return values


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_schema_and_parser_agree_on_edge_cases(name: str) -> None:
    for value in filter(lambda v: _reachable(name, v), _edge_cases()):
        assert _schema_accepts(name, value) == _accepts(PARSERS[name], value), (name, value)


@pytest.mark.parametrize("name", sorted(PARSERS))
@settings(max_examples=120, deadline=None)
@given(data=st.data())
def test_every_schema_valid_value_is_accepted(name: str, data: st.DataObject) -> None:
    pattern = _parameters()[name]["schema"]["pattern"]
    value = data.draw(st.from_regex(pattern, fullmatch=True))
    if _schema_accepts(name, value):  # the length bounds also hold
        assert _accepts(PARSERS[name], value), (name, value)


@pytest.mark.parametrize("name", sorted(PARSERS))
@settings(max_examples=120, deadline=None)
@given(value=st.text(alphabet="AQgwz09_-=+/ Ee4", max_size=90) | st.text(max_size=30))
def test_every_schema_invalid_value_is_refused(name: str, value: str) -> None:
    assume(_reachable(name, value))
    assert _schema_accepts(name, value) == _accepts(PARSERS[name], value), (name, value)

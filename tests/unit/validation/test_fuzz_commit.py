"""Property-based fuzzing of the commit decoder and validator: typed errors only."""

from __future__ import annotations

import contextlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from invitekit.commit_validation import Rejected, validate_commit
from invitekit.mls.errors import MlsDecodeError
from invitekit.mls.framing import decode_public_message
from invitekit.mls.groupinfo import parse_group_info
from invitekit.xmtp_components import ComponentError, decode_delta, decode_entry, decode_membership
from tests.support.commits import SHAPED, TSMLS

SEEDS = [
    (TSMLS / "tsmls-small-external-plain.bin").read_bytes(),
    (TSMLS / "tsmls-small-member-commit.bin").read_bytes(),
    (SHAPED / "shaped-multi-installation.bin").read_bytes(),
    (SHAPED / "shaped-psk.bin").read_bytes(),
]
SIGNED_CONTENT = {decode_public_message(seed).content.raw for seed in SEEDS}
STATE = parse_group_info((TSMLS / "tsmls-small-group-info.bin").read_bytes())
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "cut", "insert", "set"]))
        at = draw(st.integers(0, len(data) - 1)) if data else 0
        if kind == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "cut":
            data = data[:at]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif data:
            data[at] = draw(st.integers(0, 255))
    return bytes(data)


def decode_or_typed(data: bytes) -> None:
    with contextlib.suppress(MlsDecodeError):
        decode_public_message(data)


@FUZZ
@given(st.binary(max_size=512))
def test_random_bytes_decode_or_fail_typed(data: bytes) -> None:
    decode_or_typed(b"\x00\x01\x00\x01" + data)
    decode_or_typed(data)


@FUZZ
@given(mutated())
def test_mutated_commits_decode_or_fail_typed(data: bytes) -> None:
    decode_or_typed(data)


@FUZZ
@given(mutated())
def test_the_validator_always_returns_a_verdict(data: bytes) -> None:
    verdict = validate_commit(data, STATE, envelope_ns=10**18, epoch_start_ns=10**18)
    if not isinstance(verdict, Rejected):
        # the signature covers all of FramedContent: only the MLS stack's tags may differ
        assert decode_public_message(data).content.raw in SIGNED_CONTENT


@FUZZ
@given(st.binary(max_size=256))
def test_component_decoders_fail_typed(data: bytes) -> None:
    for decode in (decode_membership, decode_delta, decode_entry):
        with contextlib.suppress(ComponentError):
            decode(data)

"""Property-based fuzzing of every parser (see :mod:`tests.reliability.parsers`): structure
-blind mutations of real seeds (bit flips, byte sets, boundary bytes, inserts, deletions,
duplicated and spliced ranges, truncation) and random inputs. Only typed errors come out,
and each call's peak allocation stays within a bound linear in the input (tracemalloc).

Extends ``tests/unit/test_fuzz_wire.py`` (random bytes and byte sets on four wire parsers),
``tests/unit/mls/test_hostile.py`` and ``tests/unit/validation/test_fuzz_commit.py`` with the
parsers they do not reach (HPKE blobs, link fragments, ratchet trees alone, the service's
request parsers, the client's response parsers), the memory bound, splicing across seeds,
and the kept corpus in ``corpus/``: every kept input is replayed on every run.

CI: ``RELIABILITY_EXAMPLES`` (default 100) examples per parser. Longer:
``scripts/reliability.sh parsers --examples 20000``; with ``RELIABILITY_KEEP=1`` an input
that ends in an error code the corpus has not seen for that parser is kept.
"""

from __future__ import annotations

import os
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from invitekit.errors import InviteKitError

from .harness import env_int, record_figures
from .parsers import PARSERS, Parser, corpus_inputs, keep

EXAMPLES = env_int("RELIABILITY_EXAMPLES", 100)
KEEP = os.environ.get("RELIABILITY_KEEP") == "1"
# Peak bytes one call may allocate: a constant plus a multiple of the input (a decoder that
# believed a length prefix would allocate far more).
MEMORY_BASE = 8 << 20
MEMORY_PER_INPUT_BYTE = 64
TRIED: dict[str, int] = {}
CODES: dict[str, set[str]] = {}

FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=False,
)


def outcome(parser: Parser, data: bytes) -> str:
    """Run one input; return ``ok`` or the typed error's code; fail on anything else."""
    TRIED[parser.name] = TRIED.get(parser.name, 0) + 1
    tracemalloc.start()
    try:
        parser.call(data)
        result = "ok"
    except InviteKitError as exc:
        result = exc.code
    except RecursionError as exc:  # pragma: no cover - a finding
        raise AssertionError(f"{parser.name}: unbounded recursion") from exc
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    bound = MEMORY_BASE + MEMORY_PER_INPUT_BYTE * len(data)
    assert peak <= bound, f"{parser.name}: {peak} bytes allocated for a {len(data)}-byte input"
    seen = CODES.setdefault(parser.name, set())
    if KEEP and result not in seen and result not in _corpus_codes(parser):
        keep(parser.name, result, data)
    seen.add(result)
    return result


_CORPUS_CODES: dict[str, set[str]] = {}


def _corpus_codes(parser: Parser) -> set[str]:
    if parser.name not in _CORPUS_CODES:
        _CORPUS_CODES[parser.name] = {n.rsplit("-", 1)[0] for n, _ in corpus_inputs(parser.name)}
    return _CORPUS_CODES[parser.name]


BOUNDARY = [0x00, 0x01, 0x3F, 0x40, 0x7F, 0x80, 0xBF, 0xC0, 0xFE, 0xFF]


@st.composite
def mutated(draw: st.DrawFn, pool: list[bytes]) -> bytes:
    """A seed with 1-6 structure-blind edits, sometimes spliced with another seed."""
    data = bytearray(draw(st.sampled_from(pool)))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "set", "boundary", "insert", "delete", "dup",
                                   "splice", "cut", "append"]))
        n = len(data)
        at = draw(st.integers(0, max(n - 1, 0)))
        if op == "flip" and n:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and n:
            data[at] = draw(st.integers(0, 255))
        elif op == "boundary" and n:
            data[at] = draw(st.sampled_from(BOUNDARY))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete" and n:
            del data[at : at + draw(st.integers(1, 16))]
        elif op == "dup" and n:
            size = draw(st.integers(1, 64))
            data[at:at] = data[at : at + size]
        elif op == "splice":
            other = draw(st.sampled_from(pool))
            cut = draw(st.integers(0, len(other)))
            data = data[:at] + bytearray(other[cut:])
        elif op == "cut":
            data = data[:at]
        else:
            data += draw(st.binary(min_size=1, max_size=32))
    return bytes(data)


def inputs(parser: Parser) -> st.SearchStrategy[bytes]:
    raw = (
        st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass"))
        if parser.text
        else st.binary(max_size=600)
    )
    # the pool is fixed when the test starts (kept inputs added during the run join later)
    pool = list(parser.seeds) + [d for _, d in corpus_inputs(parser.name)]
    return st.one_of(mutated(pool), raw)


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_parser_fails_typed_and_bounded(name: str) -> None:
    parser = PARSERS[name]

    @FUZZ
    @given(data=inputs(parser))
    def run(data: bytes) -> None:
        outcome(parser, data)

    run()


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_seeds_parse_and_corpus_replays(name: str) -> None:
    """Every seed is valid (so mutations start from real messages), every kept input still
    ends in a typed outcome."""
    parser = PARSERS[name]
    assert parser.seeds, name
    if name not in ("request", "response", "membership", "membership-delta",
                    "membership-entry"):
        for seed in parser.seeds:
            assert outcome(parser, seed) == "ok", (name, seed[:40])
    for _, data in corpus_inputs(name):
        outcome(parser, data)


@pytest.fixture(scope="module", autouse=True)
def _report_figures():  # type: ignore[no-untyped-def]
    """After the module: print (and keep, under RELIABILITY_OUT) how many inputs each parser
    was given and how many distinct outcomes they reached."""
    yield
    if TRIED:
        record_figures(
            "parsers",
            {
                "inputs": sum(TRIED.values()),
                "per_parser": dict(sorted(TRIED.items())),
                "distinct_outcomes": {k: len(v) for k, v in sorted(CODES.items())},
                "examples_per_parser": EXAMPLES,
            },
        )

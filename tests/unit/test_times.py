"""Human times (issue 23): RFC 3339 instants and unit durations, in and out of the CLI.

The known answers are independent of the code under test: UNIX times from GNU date
(``date -u -d 2027-01-31T00:00:00Z +%s`` is 1801353600), the 32-bit ``time_t`` limit
(2038-01-19T03:14:07Z = 2**31 - 1 s), and the int64 / uint64 nanosecond limits
(2262-04-11T23:47:16.854775807Z and 2554-07-21T23:34:33.709551615Z).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from invitekit.cli import app
from invitekit.errors import ValueOutOfRange
from invitekit.policy import parse_policy_entry
from invitekit.times import format_duration, format_instant, parse_duration_ns, parse_instant_ns

S = 10**9
U64_MAX = 2**64 - 1
JAN_31_2027 = 1801353600 * S

INSTANTS = [
    ("2027-01-31T00:00Z", JAN_31_2027),  # the issue's own example: no seconds
    ("2027-01-31T00:00:00Z", JAN_31_2027),
    ("2027-01-31t00:00:00z", JAN_31_2027),
    ("2027-01-31 00:00:00Z", JAN_31_2027),
    ("2027-01-31T01:00+01:00", JAN_31_2027),
    ("2027-01-30T19:00:00-05:00", JAN_31_2027),
    ("2027-01-31T05:30:00+05:30", JAN_31_2027),
    ("2027-01-31T00:00:00-00:00", JAN_31_2027),
    ("1970-01-01T00:00:00Z", 0),
    ("1970-01-01T00:00:00.000000001Z", 1),
    ("2000-02-29T12:34:56.5Z", 951827696 * S + 500_000_000),
    ("2024-12-31T23:59:59Z", 1735689599 * S),
    ("2038-01-19T03:14:07Z", (2**31 - 1) * S),
    ("2262-04-11T23:47:16.854775807Z", 2**63 - 1),
    ("2554-07-21T23:34:33.709551615Z", U64_MAX),
    ("1801353600000000000", JAN_31_2027),  # nanoseconds stay accepted
    (" 42 ", 42),
]


@pytest.mark.parametrize(("text", "ns"), INSTANTS)
def test_instants_parse_to_known_nanoseconds(text: str, ns: int) -> None:
    assert parse_instant_ns(text) == ns


@pytest.mark.parametrize("text", [
    "2027-01-31T00:00",  # no offset: would depend on the reader's zone
    "2027-01-31",  # a date is not an instant
    "2027-02-29T00:00Z",  # not a leap year
    "2027-13-01T00:00Z",
    "2027-01-31T24:00Z",
    "2027-01-31T23:60Z",
    "2016-12-31T23:59:60Z",  # a leap second: the ns timeline has none
    "2027-01-31T00:00:00.1234567891Z",  # finer than a nanosecond
    "2027-01-31T00:00+24:00",
    "1969-12-31T23:59:59Z",  # before the epoch
    "2554-07-21T23:34:33.709551616Z",  # one past uint64
    "-1", "now", "", "yesterday", "2027-01-31T00:00Zjunk",
])
def test_bad_instants_are_one_typed_error(text: str) -> None:
    with pytest.raises(ValueOutOfRange):
        parse_instant_ns(text)


@pytest.mark.parametrize(("ns", "text"), [
    (JAN_31_2027, "2027-01-31T00:00:00Z"),
    (0, "1970-01-01T00:00:00Z"),
    (951827696 * S + 500_000_000, "2000-02-29T12:34:56.5Z"),
    (1, "1970-01-01T00:00:00.000000001Z"),
    (U64_MAX, "2554-07-21T23:34:33.709551615Z"),
])
def test_instants_format_as_rfc3339_utc(ns: int, text: str) -> None:
    assert format_instant(ns) == text


@given(st.integers(min_value=0, max_value=U64_MAX))
def test_every_instant_round_trips(ns: int) -> None:
    assert parse_instant_ns(format_instant(ns)) == ns


DURATIONS = [
    ("90s", 90 * S, "1m 30s"),
    ("1h30m", 5400 * S, "1h 30m"),
    ("1d 2h", 93600 * S, "1d 2h"),
    ("2w", 14 * 86400 * S, "14d"),
    ("30d", 30 * 86400 * S, "30d"),
    ("1500ms", 1_500_000_000, "1s 500ms"),
    ("7us", 7000, "7us"),
    ("5", 5, "5ns"),
    ("0", 0, "0s"),
    ("1H", 3600 * S, "1h"),
]


@pytest.mark.parametrize(("text", "ns", "shown"), DURATIONS)
def test_durations_parse_and_format(text: str, ns: int, shown: str) -> None:
    assert parse_duration_ns(text) == ns
    assert format_duration(ns) == shown


@pytest.mark.parametrize("text", [
    "1.5h", "1h 5", "", "h", "-1s", "1y", "1 hour", "213504d",  # 213504 days > 2**64 ns
])
def test_bad_durations_are_one_typed_error(text: str) -> None:
    with pytest.raises(ValueOutOfRange):
        parse_duration_ns(text)


def test_largest_duration_that_fits() -> None:
    assert parse_duration_ns("213503d") == 213503 * 86400 * S


@given(st.integers(min_value=0, max_value=U64_MAX))
def test_every_duration_round_trips(ns: int) -> None:
    assert parse_duration_ns(format_duration(ns)) == ns


# --- the CLI ----------------------------------------------------------------------------

runner = CliRunner()


def test_policy_enable_takes_an_rfc3339_campaign_end_and_shows_it(tmp_path: Path) -> None:
    pol = tmp_path / "policy.bin"
    result = runner.invoke(app, ["policy", "enable", "-o", str(pol), "--expires-at",
                                 "2027-01-31T00:00Z", "--expire-in", "1d2h", "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown["expires_at_ns"] == JAN_31_2027
    assert shown["expires_at"] == "2027-01-31T00:00:00Z"
    assert shown["expire_in_ns"] == 93600 * S
    assert shown["expire_in"] == "1d 2h"
    policy = parse_policy_entry(pol.read_bytes()).policy
    assert policy.expires_at_ns == JAN_31_2027

    # nanoseconds, under the old spelling too; the text form shows both beside each other
    result = runner.invoke(app, ["policy", "enable", "--expires-at-ns", str(JAN_31_2027)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    at = lines.index(f"expires_at_ns: {JAN_31_2027}")
    assert lines[at + 1] == "expires_at: 2027-01-31T00:00:00Z"
    assert "expire_in: none" in lines


def test_a_bad_instant_is_one_line_exit_2() -> None:
    result = runner.invoke(app, ["policy", "enable", "--expires-at", "2027-01-31"])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: value-out-of-range: --expires-at '2027-01-31'")


def test_validate_commit_takes_instants() -> None:
    """The README's validate-commit example, its nanoseconds written as instants."""
    fixtures = Path(__file__).resolve().parents[2] / "fixtures" / "commits"
    args = ["validate-commit", str(fixtures / "shaped/shaped-multi-installation.bin"),
            "--group-info", str(fixtures / "ts-mls/tsmls-small-group-info.bin")]
    as_ns = runner.invoke(app, [*args, "--envelope-ns", "1900000060000000000",
                                "--epoch-start-ns", "1900000000000000000"])
    as_instants = runner.invoke(app, [*args, "--envelope-ns", "2030-03-17T17:47:40Z",
                                      "--epoch-start-ns", "2030-03-17T17:46:40Z"])
    assert as_ns.exit_code == as_instants.exit_code == 0, as_instants.output
    assert as_ns.stdout == as_instants.stdout
    assert as_ns.stdout.startswith("accepted: new_member_commit commit from inbox ")


def test_outcomes_and_refusals_name_instants_and_durations() -> None:
    from invitekit.cli.preflight import refuse_expired
    from invitekit.cli.render import describe_outcome, outcome_json
    from invitekit.errors import BlobExpired
    from invitekit.join import PrecommitAborted
    from invitekit.precommit import PrecommitCode

    ended = PrecommitAborted(code=PrecommitCode.POLICY_EXPIRED, expires_at_ns=JAN_31_2027)
    assert describe_outcome(ended) == "This invite's campaign ended at 2027-01-31T00:00:00Z."
    shown = outcome_json(ended)
    assert shown["expires_at_ns"] == JAN_31_2027
    assert shown["expires_at"] == "2027-01-31T00:00:00Z"
    with pytest.raises(BlobExpired, match=r"expired 1h 1m 30s ago \(at 2027-01-31T00:00:00Z"):
        refuse_expired(JAN_31_2027, JAN_31_2027 + 3690 * S + 5, "the blob")

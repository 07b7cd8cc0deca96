"""``invitekit validate-commit``: the member's accept/reject decision for one commit.

Registered by the CLI app (see ``invitekit/cli/__init__.py``)::

    app.command("validate-commit")(validate_cmd.validate_commit_cmd)

Exit status: 0 accepted (one line naming the rules that ran); 1 rejected (one line
``rejected: check <n> (<name>): <code>: <detail>``, the words in :mod:`.render`);
2 bad input (unreadable files, a GroupInfo that does not decode or verify). A commit that
does not decode is a rejection (``framing``/``malformed-commit``), not bad input: a member
must reject it.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ..commit_validation import Accepted, Rejected, Verdict, validate_commit
from ..mls import VerifyLevel, verify_group_info
from ..times import parse_instant_ns
from .errors import cli_errors, fail
from .io import Input, emit_json, read_binary
from .render import CHECK_NAMES, ONE_STDIN, describe_verdict

EXIT_REJECTED = 1


def verdict_json(verdict: Verdict) -> dict[str, Any]:
    """A verdict as JSON-able data."""
    if isinstance(verdict, Accepted):
        return {
            "accepted": True,
            "sender": verdict.sender,
            "joiner_inbox_id": verdict.joiner_inbox_id.hex() if verdict.joiner_inbox_id else None,
            "added_installations": verdict.added_installations,
            "checks": [c.value for c in verdict.checks],
            "policy_writes": verdict.policy_writes,
            "membership_updates": verdict.membership_updates,
            "message": describe_verdict(verdict),
        }
    return {
        "accepted": False,
        "check": verdict.check.value,
        "check_name": CHECK_NAMES[verdict.check],
        "code": verdict.code.value,
        "detail": verdict.detail,
        "inbox_id": verdict.inbox_id.hex() if verdict.inbox_id else None,
        "message": describe_verdict(verdict),
    }


@cli_errors
def validate_commit_cmd(
    commit_file: Annotated[
        str, typer.Argument(help="MLSMessage(PublicMessage) commit bytes: a file, or - for stdin.")
    ],
    group_info_file: Annotated[
        str,
        typer.Option("--group-info", help="The member's current MLSMessage(GroupInfo) bytes."),
    ],
    envelope: Annotated[
        str,
        typer.Option(
            "--envelope-ns", metavar="NS|INSTANT",
            help="The commit's delivery-service timestamp: ns, or an RFC 3339 instant.",
        ),
    ],
    epoch_start: Annotated[
        str,
        typer.Option(
            "--epoch-start-ns", metavar="NS|INSTANT",
            help="When this member's current epoch began: ns, or an RFC 3339 instant.",
        ),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the verdict as JSON.")] = False,
) -> None:
    """Validate a commit as an existing member would (XIP-82 checks 1–11, tag rule).

    The confirmation and membership tags need epoch secrets and stay the MLS stack's job.
    """
    envelope_ns = parse_instant_ns(envelope, "--envelope-ns")
    epoch_start_ns = parse_instant_ns(epoch_start, "--epoch-start-ns")
    if commit_file == "-" and group_info_file == "-":
        raise fail("bad-input", ONE_STDIN)
    state = verify_group_info(read_binary(group_info_file, Input.GROUP_INFO), VerifyLevel.TREE)
    commit = read_binary(commit_file, Input.COMMIT)
    verdict = validate_commit(commit, state, envelope_ns=envelope_ns, epoch_start_ns=epoch_start_ns)
    if as_json:
        emit_json(verdict_json(verdict))
    else:
        print(describe_verdict(verdict))
    if isinstance(verdict, Rejected):
        raise typer.Exit(EXIT_REJECTED)


__all__ = ["validate_commit_cmd", "verdict_json"]

"""``invitekit validate-commit``: the member's accept/reject decision for one commit.

Registered by the CLI app (see ``invitekit/cli/__init__.py``)::

    app.command("validate-commit")(validate_cmd.validate_commit_cmd)

Exit status: 0 accepted; 1 rejected (one line ``rejected: check <n>: <code>: <detail>``);
2 bad input (unreadable files, a GroupInfo that does not decode or verify). A commit that
does not decode is a rejection (``framing``/``malformed-commit``), not bad input: a member
must reject it.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ..commit_validation import Accepted, Rejected, Verdict, validate_commit
from ..mls import VerifyLevel, verify_group_info
from .errors import cli_errors, fail
from .io import Input, emit_json, read_binary

EXIT_REJECTED = 1


def verdict_json(verdict: Verdict) -> dict[str, Any]:
    """A verdict as JSON-able data."""
    if isinstance(verdict, Accepted):
        return {
            "accepted": True,
            "sender": verdict.sender,
            "joiner_inbox_id": verdict.joiner_inbox_id.hex() if verdict.joiner_inbox_id else None,
            "added_installations": verdict.added_installations,
        }
    return {
        "accepted": False,
        "check": verdict.check.value,
        "code": verdict.code.value,
        "detail": verdict.detail,
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
    envelope_ns: Annotated[
        int, typer.Option("--envelope-ns", help="The commit's delivery-service timestamp (ns).")
    ],
    epoch_start_ns: Annotated[
        int,
        typer.Option("--epoch-start-ns", help="When this member's current epoch began (ns)."),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the verdict as JSON.")] = False,
) -> None:
    """Validate a commit as an existing member would (XIP-82 checks 1–11, tag rule).

    The confirmation and membership tags need epoch secrets and stay the MLS stack's job.
    """
    if envelope_ns < 0 or epoch_start_ns < 0:
        raise fail("bad-input", "timestamps are non-negative nanoseconds")
    if commit_file == "-" and group_info_file == "-":
        raise fail("bad-input", "only one input can come from stdin")
    state = verify_group_info(read_binary(group_info_file, Input.GROUP_INFO), VerifyLevel.TREE)
    commit = read_binary(commit_file, Input.COMMIT)
    verdict = validate_commit(commit, state, envelope_ns=envelope_ns, epoch_start_ns=epoch_start_ns)
    if as_json:
        emit_json(verdict_json(verdict))
    elif isinstance(verdict, Accepted):
        print(f"accepted: {verdict.sender} commit")
    if isinstance(verdict, Rejected):
        if not as_json:
            print(f"rejected: check {verdict.check.value}: {verdict.code.value}: {verdict.detail}")
        raise typer.Exit(EXIT_REJECTED)


__all__ = ["validate_commit_cmd", "verdict_json"]

"""The ``invitekit`` command line: a thin shell over the sans-IO core."""

from __future__ import annotations

import typer

from . import client_cmd, mls_commands, validate_cmd
from .invite_cmd import INSPECTORS, inspect, mint
from .policy_cmd import policy_app

app = typer.Typer(
    name="invitekit",
    help="XIP-82 external commit invites: policy, invites, sealed GroupInfo blobs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(policy_app, name="policy")
app.command("mint")(mint)
app.command("inspect")(inspect)
app.command("seal")(mls_commands.seal)
app.command("upload")(client_cmd.upload_cmd)
app.command("fetch")(client_cmd.fetch_cmd)
app.command("join-check")(client_cmd.join_check_cmd)
app.command("refresh")(client_cmd.refresh_cmd)
app.command("mirror")(client_cmd.mirror_cmd)
app.command("validate-commit")(validate_cmd.validate_commit_cmd)
INSPECTORS["group-info"] = mls_commands.group_info_inspector


def main() -> None:
    """Console-script entry point."""
    app()


__all__ = [
    "app",
    "main",
]

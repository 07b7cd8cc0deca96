"""The ``invitekit`` command line: a thin shell over the sans-IO core.

Every failure is one line on stderr, ``error: <code>: <message>``, exit status 2 — typed
errors (their ``code``) and usage mistakes (``usage``) alike; no boxes, no tracebacks.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from .. import __version__
from . import client_cmd, demo_cmd, mls_commands, pieces_cmd, validate_cmd
from .errors import EXIT_BAD_INPUT, print_error
from .invite_cmd import INSPECTORS, inspect, mint
from .policy_cmd import policy_app


class OneLineErrors(TyperGroup):
    """The root command: usage errors become ``error: usage: …`` (one line, status 2)."""

    def main(  # type: ignore[override]
        self,
        args: Any = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the command without click's standalone error printing."""
        try:
            result = super().main(
                args, prog_name, complete_var, standalone_mode=False, **extra
            )
        except typer.Abort:
            print_error("aborted", "interrupted")
            sys.exit(130)
        except Exception as exc:
            # typer's (or click's) usage and parameter errors: duck-typed, since typer
            # vendors click privately and older typer releases use click itself.
            if not (hasattr(exc, "format_message") and hasattr(exc, "exit_code")):
                raise
            sys.exit(_usage_error(exc))
        sys.exit(result if isinstance(result, int) else 0)


def _usage_error(exc: Exception) -> int:
    """Print a usage error as one line (help for a bare group); the exit status."""
    ctx = getattr(exc, "ctx", None)
    if type(exc).__name__ == "NoArgsIsHelpError" and ctx is not None:
        print(ctx.get_help())
        return EXIT_BAD_INPUT
    where = f"{ctx.command_path}: " if ctx is not None else ""
    message = " ".join(str(exc.format_message()).split())  # type: ignore[attr-defined]
    print(f"error: usage: {where}{message}", file=sys.stderr)
    return EXIT_BAD_INPUT


app = typer.Typer(
    name="invitekit",
    cls=OneLineErrors,
    help="XIP-82 external commit invites: policy, invites, sealed GroupInfo blobs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
)


def _print_version(value: bool) -> None:
    if value:
        print(f"invitekit {__version__}")
        raise typer.Exit


@app.callback()
def _root(
    _version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True,
            help="Print the installed version and exit.",
        ),
    ] = False,
) -> None:
    """XIP-82 external commit invites: policy, invites, sealed GroupInfo blobs."""


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
app.command("membership-update")(pieces_cmd.membership_update_cmd)
app.command("demo")(demo_cmd.demo_cmd)
INSPECTORS["group-info"] = mls_commands.group_info_inspector


def main() -> None:
    """Console-script entry point."""
    app()


__all__ = [
    "app",
    "main",
]

"""One-line CLI errors: ``error: <code>: <message>`` on stderr, exit status 2."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer

from ..errors import InviteKitError
from .io import InputRefused

P = ParamSpec("P")
R = TypeVar("R")

EXIT_BAD_INPUT = 2


def print_error(code: str, message: str) -> None:
    """Print the one-line error ``error: <code>: <message>`` on stderr."""
    print(f"error: {code}: {message}", file=sys.stderr)


def fail(code: str, message: str) -> typer.Exit:
    """Print the one-line error and return the Exit (status 2) to raise."""
    print_error(code, message)
    return typer.Exit(EXIT_BAD_INPUT)


def cli_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn invitekit's typed errors and bad-input errors into one-line failures."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except (InviteKitError, InputRefused) as exc:  # each carries its own code
            raise fail(exc.code, str(exc)) from None
        except FileNotFoundError as exc:
            raise fail("file-not-found", str(exc)) from None
        except (ValueError, OSError) as exc:
            raise fail("bad-input", str(exc)) from None

    return wrapper


__all__ = [
    "EXIT_BAD_INPUT",
    "cli_errors",
    "fail",
    "print_error",
]

"""``invitekit-service`` / ``python -m invitekit_service``: the entry point.

Imports only the standard library until the service's own dependencies are needed, so that
``--version`` always works and an installation without the ``service`` extra says in one
line what to install (status 2) instead of a traceback. The command itself is
:mod:`invitekit_service.cli`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version

#: Top-level modules the service needs beyond invitekit's core (the ``service`` extra).
SERVICE_MODULES = frozenset(
    {
        "aiohttp",
        "asyncpg",
        "gunicorn",
        "limits",
        "prometheus_client",
        "pydantic",
        "pydantic_core",
        "pydantic_settings",
        "uvloop",
        "yaml",
    }
)
INSTALL_HINT = "pip install 'invitekit[service]'"


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point."""
    args = list(sys.argv[1:] if argv is None else argv)
    if "--version" in args:
        try:
            print(f"invitekit-service {version('invitekit')}")
        except PackageNotFoundError:
            print("invitekit-service 0+unknown")
        return 0
    try:
        from .cli import main as run  # noqa: PLC0415 - after the check above, on purpose
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").split(".")[0]
        if missing not in SERVICE_MODULES:
            raise
        print(
            f"invitekit-service: error: missing-dependency: {missing} is not installed;"
            f" the service needs its extra: {INSTALL_HINT}",
            file=sys.stderr,
        )
        return 2
    return run(args)


if __name__ == "__main__":
    raise SystemExit(main())

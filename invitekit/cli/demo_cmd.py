"""``invitekit demo``: the whole invite lifecycle with a real MLS group (placeholder)."""

from __future__ import annotations


def demo_cmd() -> None:
    """Run the whole lifecycle."""


__all__ = ["demo_cmd"]

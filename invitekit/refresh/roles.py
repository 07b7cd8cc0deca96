"""The three refresh roles and the slot kinds every role writes (and checks) by default."""

from __future__ import annotations

import enum

from ..protocol import SlotKind

#: The slot kinds every role writes and checks unless told otherwise.
BOTH_KINDS: tuple[SlotKind, ...] = (SlotKind.LANE, SlotKind.OPEN)


class RefreshRole(enum.StrEnum):
    """The three member roles."""

    COMMITTER = "committer"
    BACKSTOP = "backstop"
    DEEP_CHECK = "deep-check"


__all__ = ["BOTH_KINDS", "RefreshRole"]

"""Async drivers: run the sans-IO machines over an :class:`~invitekit.client.InviteClient`.

A driver decides nothing. It builds a machine (:class:`~invitekit.join.JoinMachine`,
:class:`~invitekit.refresh.RefreshMachine`), performs each need the machine emits
(:mod:`invitekit.drivers.io`) and returns the machine's outcome. The clock is read once per
run (``clock``), the caller's ``sleep`` performs waits, ``random_unit``/``random_bytes``
are passed through (:mod:`invitekit.sources`).

* :mod:`invitekit.drivers.join` — :func:`join_invite`, :func:`check_invite`;
* :mod:`invitekit.drivers.refresh` — :func:`committer_refresh`, :func:`backstop_refresh`,
  :func:`deep_check`.
"""

from __future__ import annotations

from .io import CommitFn, Resolver, Sleep, resolve_pointer
from .join import check_invite, join_invite
from .refresh import backstop_refresh, committer_refresh, deep_check

__all__ = [
    "CommitFn",
    "Resolver",
    "Sleep",
    "backstop_refresh",
    "check_invite",
    "committer_refresh",
    "deep_check",
    "join_invite",
    "resolve_pointer",
]

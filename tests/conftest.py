"""Hooks for the whole suite: every process a test starts dies with the run
(``tests/support/reaper.py``)."""

from __future__ import annotations

import pytest

from tests.support import reaper


def pytest_configure(config: pytest.Config) -> None:
    reaper.start()

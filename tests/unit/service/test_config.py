"""Settings precedence: flags > environment > TOML file > defaults."""

from __future__ import annotations

from pathlib import Path

import pytest
from invitekit_service.cli import load_settings, main


def test_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "service.toml"
    cfg.write_text(
        'port = 9001\nlane_history = 5\nopen_retention = 6\nclient_read_limit = "7/second"\n'
    )
    monkeypatch.setenv("INVITEKIT_SERVICE_LANE_HISTORY", "11")
    monkeypatch.setenv("INVITEKIT_SERVICE_OPEN_RETENTION", "12")
    s = load_settings(
        [
            "--config",
            str(cfg),
            "--open-retention",
            "13",
            "--digest-lengths",
            "32,48",
            "--slot-idle-ttl-s",
            "none",
            "--no-rate-limits-enabled",
        ]
    )
    assert s.port == 9001  # file
    assert s.lane_history == 11  # env beats file
    assert s.open_retention == 13  # flag beats env
    assert s.client_read_limit == "7/second"
    assert s.digest_lengths == [32, 48]
    assert s.slot_idle_ttl_s is None
    assert s.rate_limits_enabled is False
    assert s.open_policy.retention == 13


def test_invalid_settings_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--digest-lengths", "33"]) == 2
    assert main(["--lane-history", "0"]) == 2
    assert main(["--database", "postgresql://x/y"]) == 2


def test_a_list_setting_reads_commas_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # Issue 23: the operator reference says a list is comma-separated in a variable.
    monkeypatch.setenv("INVITEKIT_SERVICE_DIGEST_LENGTHS", "64,32")
    assert load_settings([]).digest_lengths == [32, 64]
    monkeypatch.setenv("INVITEKIT_SERVICE_DIGEST_LENGTHS", "[48]")
    assert load_settings([]).digest_lengths == [48]


def test_a_toml_array_sets_a_list(tmp_path: Path) -> None:
    cfg = tmp_path / "service.toml"
    cfg.write_text("digest_lengths = [48, 32]\n")
    assert load_settings(["--config", str(cfg)]).digest_lengths == [32, 48]

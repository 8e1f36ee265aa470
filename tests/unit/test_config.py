"""Settings from the environment: defaults, values, and errors that say what was expected."""
from __future__ import annotations

import pytest

from coldstart.config import Settings
from coldstart.errors import ConfigError


def test_exploration_defaults_to_the_live_ten_percent_and_can_be_switched_off(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLDSTART_EXPLORE_RATE", raising=False)
    assert Settings.from_env().explore_rate == 0.1
    monkeypatch.setenv("COLDSTART_EXPLORE_RATE", "0")
    assert Settings.from_env().explore_rate == 0.0


@pytest.mark.parametrize("raw", ["ten", "1.5", "-0.1"])
def test_an_exploration_rate_outside_0_to_1_is_refused(monkeypatch: pytest.MonkeyPatch,
                                                       raw: str) -> None:
    monkeypatch.setenv("COLDSTART_EXPLORE_RATE", raw)
    with pytest.raises(ConfigError, match="COLDSTART_EXPLORE_RATE"):
        Settings.from_env()


def test_privacy_settings_default_and_a_too_short_time_to_forget_is_refused(
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("COLDSTART_FORGET_MS", "COLDSTART_DELETION_BARRIER_MS", "COLDSTART_HASH_KEY"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings.from_env()
    assert (settings.forget_ms, settings.deletion_barrier_ms) == (600_000, 7 * 86_400_000)
    monkeypatch.setenv("COLDSTART_HASH_KEY", "s3cret")
    assert "s3cret" not in repr(Settings.from_env())  # a secret is never printed
    monkeypatch.setenv("COLDSTART_FORGET_MS", "10000")
    with pytest.raises(ConfigError, match="COLDSTART_FORGET_MS"):
        Settings.from_env()

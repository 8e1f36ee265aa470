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

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


def test_a_zero_click_window_means_answer_at_once_not_wait_for_a_full_batch(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Faust's take_events treats a zero window as "no timeout": 64 events before any answer."""
    monkeypatch.setenv("COLDSTART_CLICK_COALESCE_MS", "0")
    assert Settings.from_env().coalesce_s == 0.001
    monkeypatch.setenv("COLDSTART_CLICK_COALESCE_MS", "50")
    assert Settings.from_env().coalesce_s == 0.05


@pytest.mark.parametrize(("name", "raw"), [
    ("COLDSTART_PARTITIONS", "0"), ("COLDSTART_TS_PAST_DAYS", "0"), ("COLDSTART_TS_FUTURE_S", "-1"),
    ("COLDSTART_DEAD_LETTER_RETENTION_H", "0"), ("COLDSTART_OUTPUT_RETENTION_H", "soon"),
    ("COLDSTART_CLICK_COALESCE_MS", "-5"), ("COLDSTART_TOP_K", "0")])
def test_impossible_settings_are_refused_in_one_line_naming_the_variable(
        monkeypatch: pytest.MonkeyPatch, name: str, raw: str) -> None:
    monkeypatch.setenv(name, raw)
    with pytest.raises(ConfigError, match=name) as caught:
        Settings.from_env()
    assert "\n" not in str(caught.value)


def test_the_ts_window_and_the_test_fault_switch_come_from_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLDSTART_TS_PAST_DAYS", "2")
    monkeypatch.setenv("COLDSTART_TS_FUTURE_S", "30")
    monkeypatch.setenv("COLDSTART_TEST_FAIL_EVENT_IDS", "a,b")
    settings = Settings.from_env()
    assert settings.ts_window_ms == (2 * 86_400_000, 30_000)
    assert settings.fail_event_ids == frozenset({"a", "b"})
    monkeypatch.delenv("COLDSTART_TEST_FAIL_EVENT_IDS")
    assert Settings.from_env().fail_event_ids == frozenset()
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

"""Topic policy and start-up checks that need no broker: policies written once, the changelog
policy that keeps the time-to-forget, and an unreachable broker retried, then named in one line."""
from __future__ import annotations

import time

import pytest

from coldstart.config import Settings
from coldstart.errors import ConfigError
from streams.admin import CHANGELOG_CONFIG, changelog_config, topic_configs, with_broker


def test_catalogue_topics_are_compacted_and_outputs_have_an_explicit_retention() -> None:
    configs = topic_configs(Settings(dead_letter_retention_h=2, output_retention_h=3))
    assert configs["catalog"]["cleanup.policy"] == configs["ads"]["cleanup.policy"] == "compact"
    assert configs["dead_letters"]["retention.ms"] == str(2 * 3_600_000)
    assert configs["recommendations"]["retention.ms"] == configs["ad_slots"]["retention.ms"] \
        == str(3 * 3_600_000)
    assert "signups" not in configs  # producers' topics keep the broker's defaults
    assert CHANGELOG_CONFIG["cleanup.policy"] == "compact"


def test_an_unreachable_broker_is_retried_then_named_in_one_line() -> None:
    from kafka.errors import KafkaTimeoutError

    calls: list[float] = []

    def unreachable() -> None:
        calls.append(time.monotonic())
        raise KafkaTimeoutError("Unable to bootstrap from 127.0.0.1:1")

    settings = Settings(broker="kafka://127.0.0.1:1")
    with pytest.raises(ConfigError, match="COLDSTART_BROKER") as caught:
        with_broker(settings, unreachable, wait_s=3.5)
    assert len(calls) == 3 and "\n" not in str(caught.value)  # tried at 0, 1 and 3 s
    assert "127.0.0.1:1" in str(caught.value)

CLEANER_BACKOFF_MS = 15_000  # the broker's log.cleaner.backoff.ms default
NUDGE_MARGIN_MS = 1_000  # streams/forget.py writes this long after the segment is due


@pytest.mark.parametrize("forget_ms", [30_000, 600_000, 3_600_000])
def test_rolling_cleaning_and_file_removal_fit_in_the_time_to_forget(forget_ms: int) -> None:
    config = changelog_config(forget_ms)
    assert config["cleanup.policy"] == "compact"
    roll = int(config["segment.ms"])
    assert int(config["max.compaction.lag.ms"]) == roll
    total = roll + NUDGE_MARGIN_MS + CLEANER_BACKOFF_MS + int(config["file.delete.delay.ms"])
    assert total <= forget_ms, f"{total} ms needed for a bound of {forget_ms} ms"

"""Topic policy and start-up checks that need no broker: policies written once, and an
unreachable broker retried, then named in one line."""
from __future__ import annotations

import time

import pytest

from coldstart.config import Settings
from coldstart.errors import ConfigError
from streams.admin import CHANGELOG_CONFIG, topic_configs, with_broker


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

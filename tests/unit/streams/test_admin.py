"""The changelog policy that keeps the time-to-forget (streams/admin.py)."""
from __future__ import annotations

import pytest

from streams.admin import changelog_config

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

"""The dashboard's arithmetic (rates, latency quantiles from buckets, sums over workers) and what
it keeps of the output topics (no personal text in the tail or the dead letters)."""
from __future__ import annotations

import math

import pytest

from coldstart.config import Settings
from streams.tools.dashboard.series import History, Scrape, delta, parse, quantile, rate
from streams.tools.dashboard.server import Board, DashboardConfig

PAGE = """\
# TYPE coldstart_events_in_total counter
coldstart_events_in_total{topic="signups"} 10.0
coldstart_events_in_total{topic="coldstart-ad-placements"} 7.0
# TYPE coldstart_outputs_total counter
coldstart_outputs_total{topic="recommendations"} 9.0
# TYPE coldstart_dead_letters_total counter
coldstart_dead_letters_total{kind="not_json",source_topic="signups"} 1.0
# TYPE coldstart_end_to_end_latency_seconds histogram
coldstart_end_to_end_latency_seconds_bucket{le="0.1",trigger="signup"} 4.0
coldstart_end_to_end_latency_seconds_bucket{le="1.0",trigger="signup"} 8.0
coldstart_end_to_end_latency_seconds_bucket{le="+Inf",trigger="signup"} 9.0
coldstart_end_to_end_latency_seconds_count{trigger="signup"} 9.0
coldstart_end_to_end_latency_seconds_sum{trigger="signup"} 3.0
# TYPE coldstart_consumer_lag gauge
coldstart_consumer_lag{partition="0",topic="signups"} 2.0
coldstart_consumer_lag{partition="1",topic="signups"} 3.0
# TYPE coldstart_model info
coldstart_model_info{version="m-1"} 1.0
"""


def test_a_metrics_page_is_read_into_totals() -> None:
    scrape = parse(PAGE)
    assert scrape.events_in == {"signups": 10.0, "coldstart-ad-placements": 7.0}
    assert scrape.outputs == {"recommendations": 9.0}
    assert scrape.dead_letters == {("signups", "not_json"): 1.0}
    assert scrape.latency_buckets["signup"] == {0.1: 4.0, 1.0: 8.0, math.inf: 9.0}
    assert scrape.lag == {"signups": 5.0}
    assert scrape.models == {"m-1"}


def test_two_workers_pages_add_up() -> None:
    total = Scrape()
    total.add(parse(PAGE))
    total.add(parse(PAGE))
    assert total.events_in["signups"] == 20.0 and total.lag["signups"] == 10.0
    assert total.latency_buckets["signup"][1.0] == 16.0


def test_quantiles_interpolate_within_the_bucket_like_histogram_quantile() -> None:
    buckets = {0.1: 4.0, 1.0: 8.0, math.inf: 8.0}
    assert quantile(buckets, 0.5) == pytest.approx(0.1)
    assert quantile(buckets, 0.75) == pytest.approx(0.55)
    assert quantile({0.1: 0.0, math.inf: 0.0}, 0.5) is None
    assert quantile({0.1: 0.0, math.inf: 3.0}, 0.5) == 0.1  # beyond the last bound: that bound


def test_a_restarted_worker_counts_from_zero_not_negative() -> None:
    assert rate(5.0, 100.0, 1.0) == 5.0
    assert rate(30.0, 10.0, 2.0) == 10.0
    assert delta({1.0: 2.0}, {1.0: 7.0}) == {1.0: 2.0}


def test_history_gives_rates_of_contract_inputs_and_windowed_latency() -> None:
    history = History(keep_s=60.0, window=1)
    first, second = parse(PAGE), parse(PAGE)
    second.events_in = {"signups": 14.0, "coldstart-ad-placements": 100.0}
    second.latency_buckets = {"signup": {0.1: 6.0, 1.0: 10.0, math.inf: 11.0}}
    history.add(1000.0, first)
    history.add(1002.0, second)
    series = history.series()
    assert series["times"] == [1002000]
    assert series["events_in"] == [2.0]  # internal topics are not counted as input
    # two new observations, both under 0.1 s: the median lies halfway into that bucket
    assert series["latency"]["signup p50"] == [pytest.approx(0.05)]
    history.add(1061.0, parse(PAGE))
    assert [at for at, _ in history.samples] == [1002.0, 1061.0]  # older than keep_s: dropped


def test_the_tail_and_dead_letters_keep_no_personal_text() -> None:
    board = Board(Settings(), DashboardConfig())
    board.on_record("catalog", {"item_id": "sku-1", "title": "Rain Jacket"})
    board.on_record("recommendations", {
        "user_id": "u-1", "trigger": "signup", "trigger_event_id": "si-1", "source_ts": 10,
        "produced_ts": 25, "model_version": "m",
        "items": [{"item_id": "sku-1", "score": 1.0, "reason": "matches 'my secret words'"}]})
    board.on_record("dead_letters", {"source_topic": "signups", "partition": 0, "offset": 3,
                                     "key": "u-9", "payload": '{"description": "private"}',
                                     "error": "signups: not JSON", "ts": 5})
    overview = str(board.overview())
    assert "secret" not in overview and "private" not in overview and "u-9" not in overview
    assert "Rain Jacket" in overview and "signups: not JSON" in overview
    user = board.user("u-1")
    assert user is not None and user["items"][0]["reason"] == "matches 'my secret words'"
    assert user["items"][0]["title"] == "Rain Jacket" and user["latency_ms"] == 15
    assert board.user("u-2") is None

"""The worker's metrics: names and labels by Prometheus conventions, and the latency accounting."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from streams import metrics
from streams.metrics import REGISTRY, error_kind, latency_seconds, trigger_of

OURS = [family for family in REGISTRY.collect() if family.name.startswith("coldstart_")]


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_every_metric_is_named_for_the_product_with_a_help_text() -> None:
    names = {family.name for family in OURS}
    assert {"coldstart_events_in", "coldstart_outputs", "coldstart_dead_letters",
            "coldstart_batch_size", "coldstart_end_to_end_latency_seconds",
            "coldstart_encoder_seconds", "coldstart_reranker_seconds", "coldstart_replica_records",
            "coldstart_replica_position", "coldstart_rebalances", "coldstart_recoveries"} <= names
    for family in OURS:
        assert family.documentation.strip(), family.name
        assert family.name == family.name.lower() and " " not in family.name


def test_counters_end_in_total_and_durations_are_in_seconds_on_the_page() -> None:
    page = generate_latest(REGISTRY).decode()
    for family in text_string_to_metric_families(page):
        if not family.name.startswith("coldstart_"):
            continue
        if family.type == "counter":
            assert all(s.name.endswith("_total") for s in family.samples), family.name
        if family.type == "histogram" and family.name != "coldstart_batch_size":  # a count
            assert family.name.endswith("_seconds"), family.name
        assert not any(s.name.endswith("_created") for s in family.samples), family.name


def test_labels_come_from_small_fixed_sets_never_from_users() -> None:
    allowed = {"topic", "source_topic", "kind", "agent", "trigger", "partition"}
    for family in OURS:
        for sample in family.samples:
            assert set(sample.labels) - {"le"} <= allowed, (family.name, sample.labels)


@pytest.mark.parametrize(("error", "kind"), [
    ("signups: not JSON (Expecting value at line 1 column 1)", "not_json"),
    ("searches: not valid UTF-8 at byte 40", "not_utf8"),
    ("clicks: field 'event_id' must be a string; got the number 5", "schema"),
    ("signups: fields 'description', 'ts' are missing", "schema"),
    ("signups: value is an array, expected an object", "not_object"),
    ("searches: record is 2,097,200 bytes, over the 1,048,576-byte limit", "too_large"),
    ("page_views: empty record (no value)", "empty"),
    ("clicks: item_id 'sku-x' is not in the catalogue (unknown or deleted)", "unknown_item"),
    ("model_updates: cannot switch to model 'v9': no such version", "model"),
    ("something else entirely", "other"),
])
def test_a_dead_letters_error_gets_a_fixed_kind(error: str, kind: str) -> None:
    assert error_kind(error) == kind


def test_latency_runs_from_the_events_ts_to_the_send() -> None:
    assert latency_seconds({"source_ts": 1_000}, 3_500) == 2.5
    assert latency_seconds({"source_ts": 5_000}, 3_500) == 0.0  # producer clock ahead: 0, kept
    assert latency_seconds({}, 3_500) is None
    assert latency_seconds({"source_ts": True}, 3_500) is None


def test_the_latency_label_is_the_trigger_or_what_the_topic_answers() -> None:
    assert trigger_of("recommendations", {"trigger": "click"}) == "click"
    assert trigger_of("ad_slots", {"placement_id": "p"}) == "page_view"


def test_outputs_sent_counts_each_output_and_observes_its_latency_once() -> None:
    before = (value("coldstart_outputs_total", topic="recommendations"),
              value("coldstart_end_to_end_latency_seconds_count", trigger="search"),
              value("coldstart_end_to_end_latency_seconds_bucket", trigger="search", le="300.0"))
    now = metrics.now_ms()
    metrics.outputs_sent("recommendations", [{"trigger": "search", "source_ts": now - 40},
                                             {"trigger": "search", "source_ts": now - 400_000}])
    assert value("coldstart_outputs_total", topic="recommendations") == before[0] + 2
    assert value("coldstart_end_to_end_latency_seconds_count", trigger="search") == before[1] + 2
    # one of the two lies beyond the last bucket (300 s): only the +Inf bucket holds it
    assert value("coldstart_end_to_end_latency_seconds_bucket", trigger="search", le="300.0") == before[2] + 1


def test_a_batch_counts_its_records_per_topic_and_its_size() -> None:
    before = value("coldstart_events_in_total", topic="searches"), value("coldstart_batch_size_count", agent="t")
    metrics.batch_in("t", ["searches", "searches", "clicks"])
    assert value("coldstart_events_in_total", topic="searches") == before[0] + 2
    assert value("coldstart_batch_size_count", agent="t") == before[1] + 1


def test_a_dead_letter_counts_by_source_topic_and_kind() -> None:
    before = value("coldstart_dead_letters_total", source_topic="clicks", kind="not_json")
    metrics.dead_letter({"source_topic": "clicks", "error": "clicks: not JSON (x)"})
    assert value("coldstart_dead_letters_total", source_topic="clicks", kind="not_json") == before + 1


def test_a_broken_hook_never_reaches_the_agent() -> None:
    metrics.outputs_sent("recommendations", [None])  # type: ignore[list-item]


def test_the_models_calls_are_timed_and_the_reranker_keeps_its_attributes() -> None:
    reranker = SimpleNamespace(rank_prior=0.25, scores=lambda q, t: np.zeros(len(t)))
    encoder = SimpleNamespace(encode_users=lambda texts: np.zeros((len(texts), 3)),
                              encode_items=lambda texts: np.zeros((len(texts), 3)), reranker=reranker)
    before = (value("coldstart_encoder_seconds_count", kind="users"),
              value("coldstart_encoder_texts_total", kind="users"), value("coldstart_reranker_pairs_total"))
    timed = metrics.timed_model(encoder)
    assert timed.encode_users(["a", "b"]).shape == (2, 3)
    assert timed.reranker.rank_prior == 0.25
    assert timed.reranker.scores(["q", "q"], ["x", "y"]).shape == (2,)
    assert value("coldstart_encoder_seconds_count", kind="users") == before[0] + 1
    assert value("coldstart_encoder_texts_total", kind="users") == before[1] + 2
    assert value("coldstart_reranker_pairs_total") == before[2] + 2

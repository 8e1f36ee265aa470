"""Percentiles with known answers, and the ledger that matches outputs to the events they answer."""
from __future__ import annotations

import numpy as np
import pytest

from streams.tools.bench.latency import Ledger, percentile, rate, span_ms, summarize


@pytest.mark.parametrize("q", [0, 1, 25, 50, 90, 95, 99, 99.9, 100])
def test_percentile_agrees_with_numpy(q: float) -> None:
    values = list(np.random.default_rng(3).exponential(20.0, size=997))
    assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))


def test_percentile_known_answers() -> None:
    assert percentile([5.0], 99) == 5.0
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile(list(range(1, 101)), 99) == pytest.approx(99.01)
    assert percentile([3, 1, 2], 100) == 3  # order of input does not matter


@pytest.mark.parametrize("values, q", [([], 50), ([1.0], -1), ([1.0], 101)])
def test_percentile_rejects_what_it_cannot_answer(values: list[float], q: float) -> None:
    with pytest.raises(ValueError, match="expected"):
        percentile(values, q)


def test_summarize() -> None:
    summary = summarize([float(v) for v in range(1, 101)])
    assert summary == {"count": 100, "mean": 50.5, "min": 1.0, "p50": 50.5, "p95": 95.0,
                       "p99": 99.0, "max": 100.0}
    assert summarize([]) == {"count": 0}


def test_rate() -> None:
    assert rate(100, 2.0) == 50.0
    assert rate(5, 0.0) == 0.0


def test_ledger_answers_each_event_once_and_counts_repeats() -> None:
    ledger = Ledger()
    ledger.sent("signups", "s1", "u1", 1000.0)
    ledger.sent("signups", "s2", "u2", 1010.0)
    assert ledger.received("signups", "s1", produced_ms=1040.0, received_ms=1050.0) == 1
    assert ledger.received("signups", "s1", produced_ms=1300.0, received_ms=1400.0) == 0
    assert ledger.received("signups", "nope", produced_ms=0.0, received_ms=0.0) == 0
    assert ledger.latencies("signups") == [50.0]  # the repeat does not count a second time
    assert ledger.worker_latencies("signups") == [40.0]
    assert ledger.repeats["signups"] == 1 and ledger.unknown == 1
    assert ledger.missing("signups") == ["s2"]
    assert ledger.count_sent("signups") == 2


def test_a_click_refresh_answers_every_earlier_click_of_that_user() -> None:
    ledger = Ledger()
    for n, (event, user) in enumerate([("c1", "a"), ("c2", "b"), ("c3", "a"), ("c4", "a")]):
        ledger.sent("clicks", event, user, 100.0 * n)
    assert ledger.received("clicks", "c3", produced_ms=390.0, received_ms=400.0) == 2  # c1, c3
    assert sorted(ledger.latencies("clicks")) == [200.0, 400.0]
    assert sorted(ledger.missing("clicks")) == ["c2", "c4"]
    assert ledger.received("clicks", "c1", produced_ms=500.0, received_ms=500.0) == 0  # a repeat
    assert ledger.received("clicks", "c4", produced_ms=500.0, received_ms=510.0) == 1
    assert ledger.received("clicks", "c2", produced_ms=500.0, received_ms=520.0) == 1
    assert ledger.missing("clicks") == [] and ledger.repeats["clicks"] == 1


def test_other_kinds_are_not_coalesced() -> None:
    ledger = Ledger()
    ledger.sent("page_views", "p1", "a", 0.0)
    ledger.sent("page_views", "p2", "a", 1.0)
    assert ledger.received("page_views", "p2", produced_ms=5.0, received_ms=6.0) == 1
    assert ledger.missing("page_views") == ["p1"]


def test_span_covers_first_send_to_last_receipt() -> None:
    ledger = Ledger()
    ledger.sent("signups", "s1", "u1", 10.0)
    ledger.sent("signups", "s2", "u2", 20.0)
    ledger.received("signups", "s2", 30.0, 35.0)
    ledger.received("signups", "s1", 40.0, 45.0)
    assert span_ms(ledger.answers["signups"]) == (10.0, 45.0)
    assert span_ms([]) is None

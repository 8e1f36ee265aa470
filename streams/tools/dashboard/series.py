"""From scraped /metrics pages to the page's charts: totals summed over workers, rates between
scrapes, latency quantiles from histogram bucket deltas. Plain values in, plain values out."""
from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

LATENCY = "coldstart_end_to_end_latency_seconds"
QUANTILES = (0.5, 0.95)


@dataclass
class Scrape:
    """One /metrics page reduced to what the page charts (summed over every worker scraped)."""

    events_in: dict[str, float] = field(default_factory=dict)  # topic -> total
    outputs: dict[str, float] = field(default_factory=dict)  # topic -> total
    dead_letters: dict[tuple[str, str], float] = field(default_factory=dict)  # (topic, kind)
    latency_buckets: dict[str, dict[float, float]] = field(default_factory=dict)  # trigger -> le -> n
    lag: dict[str, float] = field(default_factory=dict)  # topic -> records behind
    models: set[str] = field(default_factory=set)
    catalogue_items: float = 0.0

    def add(self, other: Scrape) -> None:
        for mine, theirs in ((self.events_in, other.events_in), (self.outputs, other.outputs),
                             (self.lag, other.lag)):
            for key, value in theirs.items():
                mine[key] = mine.get(key, 0.0) + value
        for key2, value in other.dead_letters.items():
            self.dead_letters[key2] = self.dead_letters.get(key2, 0.0) + value
        for trigger, buckets in other.latency_buckets.items():
            mine_b = self.latency_buckets.setdefault(trigger, {})
            for le, count in buckets.items():
                mine_b[le] = mine_b.get(le, 0.0) + count
        self.models |= other.models
        self.catalogue_items = max(self.catalogue_items, other.catalogue_items)


def parse(text: str) -> Scrape:
    """The parts of one worker's /metrics page the dashboard uses."""
    scrape = Scrape()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels, value = sample.labels, sample.value
            if sample.name == "coldstart_events_in_total":
                scrape.events_in[labels["topic"]] = value
            elif sample.name == "coldstart_outputs_total":
                scrape.outputs[labels["topic"]] = value
            elif sample.name == "coldstart_dead_letters_total":
                scrape.dead_letters[(labels["source_topic"], labels["kind"])] = value
            elif sample.name == f"{LATENCY}_bucket":
                scrape.latency_buckets.setdefault(labels["trigger"], {})[float(labels["le"])] = value
            elif sample.name == "coldstart_consumer_lag":
                scrape.lag[labels["topic"]] = scrape.lag.get(labels["topic"], 0.0) + value
            elif sample.name == "coldstart_model_info":
                scrape.models.add(labels["version"])
            elif sample.name == "coldstart_catalogue_items":
                scrape.catalogue_items = value
    return scrape


def quantile(buckets: Mapping[float, float], q: float) -> float | None:
    """The q-quantile of a cumulative histogram (upper bound -> count), interpolated linearly
    within its bucket as Prometheus' histogram_quantile does; None when it holds nothing."""
    bounds = sorted(buckets)
    if not bounds:
        return None
    total = buckets[bounds[-1]]
    if total <= 0:
        return None
    rank, lower, below = q * total, 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return lower  # beyond the last finite bound: its value is the best we know
            share = (rank - below) / (count - below) if count > below else 1.0
            return lower + (bound - lower) * share
        lower, below = bound, count
    return lower


def delta(new: Mapping[float, float], old: Mapping[float, float]) -> dict[float, float]:
    """Bucket counts observed between two scrapes (a restarted worker's counters start again:
    a negative difference counts as the new value)."""
    out = {}
    for le, count in new.items():
        diff = count - old.get(le, 0.0)
        out[le] = diff if diff >= 0 else count
    return out


def rate(new: float, old: float, seconds: float) -> float:
    """Per-second rate of a counter between two scrapes (a reset counts from zero)."""
    if seconds <= 0:
        return 0.0
    diff = new - old
    return (diff if diff >= 0 else new) / seconds


@dataclass
class History:
    """The scrapes of the last `keep_s` seconds and the series the page charts."""

    keep_s: float = 600.0
    window: int = 5  # latency quantiles over this many scrape intervals, so sparse events show
    samples: deque[tuple[float, Scrape]] = field(default_factory=deque)

    def add(self, at: float, scrape: Scrape) -> None:
        self.samples.append((at, scrape))
        while self.samples and self.samples[0][0] < at - self.keep_s:
            self.samples.popleft()

    def series(self) -> dict[str, object]:
        """Throughput (events in, outputs per topic; per second) and latency (p50, p95 per
        trigger; seconds) at each scrape after the first, timestamps in epoch ms."""
        points = list(self.samples)
        times: list[int] = []
        events_in: list[float] = []
        outputs: dict[str, list[float]] = {}
        latency: dict[str, list[float | None]] = {}
        topics = sorted({t for _, s in points for t in s.outputs})
        triggers = sorted({t for _, s in points for t in s.latency_buckets})
        for i in range(1, len(points)):
            (t0, old), (t1, new) = points[i - 1], points[i]
            times.append(int(t1 * 1000))
            events_in.append(sum(rate(new.events_in.get(k, 0.0), old.events_in.get(k, 0.0), t1 - t0)
                                 for k in _contract_inputs(new.events_in)))
            for topic in topics:
                outputs.setdefault(topic, []).append(
                    rate(new.outputs.get(topic, 0.0), old.outputs.get(topic, 0.0), t1 - t0))
            base = points[max(0, i - self.window)][1]
            for trigger in triggers:
                window = delta(new.latency_buckets.get(trigger, {}), base.latency_buckets.get(trigger, {}))
                for q in QUANTILES:
                    latency.setdefault(f"{trigger} p{int(q * 100)}", []).append(quantile(window, q))
        return {"times": times, "events_in": events_in, "outputs": outputs, "latency": latency}


def _contract_inputs(topics: Iterable[str]) -> list[str]:
    """Input topics of the contract, not the workers' internal ones (`coldstart-...`)."""
    return [t for t in topics if not t.startswith("coldstart-")]

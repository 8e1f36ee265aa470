"""The worker's Prometheus metrics, defined once, and the one-line hooks the agents call.

Every name starts with `coldstart_`; counters end in `_total`, durations are in seconds
(`_seconds`), and label values come from small fixed sets (topic names, triggers, error kinds),
never from user ids or event text. What is read at scrape time (catalogue size, lag, readiness,
the served model) is collected by streams/ops.py; what happens per event is counted here.

The hooks never raise into an agent: a metric is worth less than the event it describes.
"""
from __future__ import annotations

import functools
import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)

from coldstart.events import now_ms

log = logging.getLogger(__name__)
T = TypeVar("T")

disable_created_metrics()  # no `_created` series beside each counter: half the page, rarely read
REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)  # process_cpu_seconds_total, process_resident_memory_bytes...
PlatformCollector(registry=REGISTRY)

# End-to-end latency (event ts -> output sent): a click refresh waits up to the coalescing window
# (50 ms); a signup is bounded by the encoder; a backlog after a restart can take minutes.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
                   120.0, 300.0)
MODEL_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                 30.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)

EVENTS_IN = Counter("coldstart_events_in", "Records consumed, per contract or internal topic",
                    ["topic"], registry=REGISTRY)
OUTPUTS = Counter("coldstart_outputs", "Records produced, per topic", ["topic"],
                  registry=REGISTRY)
DEAD_LETTERS = Counter("coldstart_dead_letters",
                       "Records sent to dead_letters, by the topic they came from and the kind of "
                       "error", ["source_topic", "kind"], registry=REGISTRY)
BATCH_SIZE = Histogram("coldstart_batch_size", "Records per batch an agent handles", ["agent"],
                       buckets=BATCH_BUCKETS, registry=REGISTRY)
LATENCY = Histogram("coldstart_end_to_end_latency_seconds",
                    "From the triggering event's ts to its output being sent, per trigger",
                    ["trigger"], buckets=LATENCY_BUCKETS, registry=REGISTRY)
ENCODER_SECONDS = Histogram("coldstart_encoder_seconds",
                            "Time per encoder call (users: signup and search texts; items: the "
                            "catalogue)", ["kind"], buckets=MODEL_BUCKETS, registry=REGISTRY)
ENCODER_TEXTS = Counter("coldstart_encoder_texts", "Texts given to the encoder", ["kind"],
                        registry=REGISTRY)
RERANKER_SECONDS = Histogram("coldstart_reranker_seconds", "Time per re-ranker call (one batch)",
                             buckets=MODEL_BUCKETS, registry=REGISTRY)
RERANKER_PAIRS = Counter("coldstart_reranker_pairs", "(query, item) pairs the re-ranker scored",
                         registry=REGISTRY)
REPLICA_RECORDS = Counter("coldstart_replica_records",
                          "Records the catalogue replica read, per topic (catalog, ads, the shared "
                          "models' changelogs, the model control topic)", ["topic"],
                          registry=REGISTRY)
REPLICA_POSITION = Gauge("coldstart_replica_position",
                         "Next offset the catalogue replica reads, per partition",
                         ["topic", "partition"], registry=REGISTRY)
REPLICA_TARGET = Gauge("coldstart_replica_target",
                       "End offset at start, per partition: the replica is caught up once every "
                       "position reaches it", ["topic", "partition"], registry=REGISTRY)
REBALANCES = Counter("coldstart_rebalances", "Consumer group rebalances this worker took part in",
                     registry=REGISTRY)
REBALANCE_SECONDS = Histogram("coldstart_rebalance_seconds",
                              "From a rebalance's start to its end", buckets=LATENCY_BUCKETS,
                              registry=REGISTRY)
RECOVERIES = Counter("coldstart_recoveries",
                     "Table recoveries completed (after each rebalance: changelogs replayed, "
                     "streams resumed)", registry=REGISTRY)

# The trigger label of an output: recommendations carry theirs; ad slots answer page views.
TRIGGER_BY_TOPIC = {"ad_slots": "page_view"}

# Error kinds of dead letters, matched against the start of the message after "<topic>: ".
# The first pattern that matches names the kind; the messages come from schemas/__init__.py,
# the engine (clicks on unknown items) and the model switch.
ERROR_KINDS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(pattern)) for kind, pattern in (
        ("empty", r"empty record"),
        ("too_large", r"record is [\d,]+ bytes"),
        ("not_utf8", r"not valid UTF-8"),
        ("not_json", r"not JSON"),
        ("not_object", r"value is .*, expected an object"),
        ("unknown_item", r"item_id .* is not in the catalogue"),
        ("model", r"cannot (load|switch to) model"),
        ("schema", r"(fields? |value |needs at least one of )"),
    ))


def error_kind(error: str) -> str:
    """A small fixed label for a dead letter's error message ("other" when none fits)."""
    detail = error.split(": ", 1)[1] if ": " in error else error
    for kind, pattern in ERROR_KINDS:
        if pattern.match(detail):
            return kind
    return "other"


def trigger_of(topic: str, event: Mapping[str, Any]) -> str:
    """The latency label of an output event: its `trigger`, or what its topic answers."""
    trigger = event.get("trigger")
    return trigger if isinstance(trigger, str) else TRIGGER_BY_TOPIC.get(topic, topic)


def latency_seconds(event: Mapping[str, Any], sent_ms: int) -> float | None:
    """Seconds from the triggering event's `source_ts` to `sent_ms`; None without a `source_ts`.

    Event time is the producer's clock and may run ahead of the worker's: a negative difference
    counts as 0 rather than hiding the output from the histogram.
    """
    source = event.get("source_ts")
    if not isinstance(source, (int, float)) or isinstance(source, bool):
        return None
    return max(0.0, (sent_ms - source) / 1000.0)


def _safe(hook: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(hook)
    def run(*args: Any, **kwargs: Any) -> None:
        try:
            hook(*args, **kwargs)
        except Exception:  # never let a metric break the agent that reports it
            log.exception("coldstart: metrics hook %s failed", hook.__name__)
    return run


# --- hooks the agents call -------------------------------------------------------------------

@_safe
def batch_in(agent: str, topics: Iterable[str]) -> None:
    """One agent batch: its size, and each record's (contract) topic as an event in."""
    names = list(topics)
    BATCH_SIZE.labels(agent).observe(len(names))
    counts: dict[str, int] = {}
    for name in names:
        counts[name] = counts.get(name, 0) + 1
    for name, count in counts.items():
        EVENTS_IN.labels(name).inc(count)


@_safe
def outputs_sent(topic: str, events: Sequence[Mapping[str, Any]]) -> None:
    """Output events just sent to `topic`: counted, and their end-to-end latency observed."""
    if not events:
        return
    OUTPUTS.labels(topic).inc(len(events))
    sent = now_ms()
    for event in events:
        seconds = latency_seconds(event, sent)
        if seconds is not None:
            LATENCY.labels(trigger_of(topic, event)).observe(seconds)


@_safe
def dead_letter(letter: Mapping[str, Any]) -> None:
    """A dead letter sent (schemas/dead_letters.json): counted by source topic and error kind."""
    DEAD_LETTERS.labels(str(letter.get("source_topic", "")), error_kind(str(letter.get("error", "")))).inc()
    OUTPUTS.labels("dead_letters").inc()


@_safe
def replica_read(tp: Any, records: Sequence[Any], name: Callable[[str], str]) -> None:
    """A batch of one partition (a TopicPartition) the catalogue replica read; `name` turns a
    topic into its contract name (records have `offset`)."""
    if records:
        REPLICA_RECORDS.labels(name(tp.topic)).inc(len(records))
        REPLICA_POSITION.labels(name(tp.topic), str(tp.partition)).set(records[-1].offset + 1)


@_safe
def replica_targets(targets: Mapping[Any, int], name: Callable[[str], str]) -> None:
    """The end offsets the replica catches up to (TopicPartition -> offset)."""
    for tp, end in targets.items():
        REPLICA_TARGET.labels(name(tp.topic), str(tp.partition)).set(end)
        REPLICA_POSITION.labels(name(tp.topic), str(tp.partition)).inc(0)  # shown from the start


# --- timing of the models ---------------------------------------------------------------------

def timed_encode(encode: Callable[[Sequence[str]], T], kind: str) -> Callable[..., T]:
    """`encode` (texts -> vectors), its calls timed and its texts counted under `kind`."""

    @functools.wraps(encode)
    def run(texts: Sequence[str], *args: Any, **kwargs: Any) -> T:
        started = time.perf_counter()
        try:
            return encode(texts, *args, **kwargs)
        finally:
            ENCODER_SECONDS.labels(kind).observe(time.perf_counter() - started)
            ENCODER_TEXTS.labels(kind).inc(len(texts))

    return run


class TimedReranker:
    """A re-ranker (CrossEncoder's `scores`) whose calls are timed; everything else passes through."""

    def __init__(self, reranker: Any) -> None:
        self._reranker = reranker

    def scores(self, queries: Sequence[str], texts: Sequence[str], *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return self._reranker.scores(queries, texts, *args, **kwargs)
        finally:
            RERANKER_SECONDS.observe(time.perf_counter() - started)
            RERANKER_PAIRS.inc(len(texts))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._reranker, name)


def timed_model(encoder: T) -> T:
    """The encoder with its user and item encoding and its re-ranker timed (in place)."""
    target: Any = encoder
    target.encode_users = timed_encode(target.encode_users, "users")
    target.encode_items = timed_encode(target.encode_items, "items")
    if target.reranker is not None and not isinstance(target.reranker, TimedReranker):
        target.reranker = TimedReranker(target.reranker)
    return encoder

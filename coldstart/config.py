"""All settings in one place: environment variables with documented defaults.

| variable | default | meaning |
|---|---|---|
| COLDSTART_BROKER | kafka://127.0.0.1:9092 | the Kafka broker the worker and tools talk to |
| COLDSTART_TOPIC_PREFIX | (empty) | prefix for every topic name, so deployments can share a broker |
| COLDSTART_MODEL | (published version, else `current`, else bundled all-MiniLM-L6-v2) | encoder at start: a local path, a model name, a fine-tuned version id, or a fetched encoder's name (`coldstart model fetch`: its latest version); a version published on coldstart-model-updates after start replaces it |
| COLDSTART_DATA_DIR | ./var/coldstart | table state (RocksDB), model versions, caches |
| COLDSTART_CLICK_COALESCE_MS | 50 | clicks by one user within this window give one refresh |
| COLDSTART_TOP_K | 10 | items per recommendation event |
| COLDSTART_ENCODER_THREADS | number of cores | torch intra-op threads for the encoder |
| COLDSTART_ENCODER_CACHE | 10000 | texts kept in the encoder's LRU cache |
| COLDSTART_PARTITIONS | 4 | partitions for topics the worker creates |
| COLDSTART_EXPLORE_RATE | 0.1 | share of recommendation slots that explore rarely shown items, in place of items the user has seen or that were shown 20 times |
| COLDSTART_HASH_KEY | (empty: development only) | secret key of the keyed hash (HMAC-SHA256) that stands for a user id where the id itself must not be kept: the deletion barrier, dead-letter keys; set the same secret on every worker (empty: the barrier hashes unkeyed, dead letters use a random secret kept in COLDSTART_DATA_DIR/hash_key) |
| COLDSTART_DELETION_BARRIER_MS | 604800000 (7 days) | how long a deletion is remembered: events of the user dated at or before it are dropped if they arrive within this time; at least the maximum lateness producers have |
| COLDSTART_FORGET_MS | 600000 (10 minutes; at least 30000) | the time-to-forget: what this product wrote about a deleted user is gone from its topics and files within this time of the deletion (sets the changelogs' segment.ms and max.compaction.lag.ms; tests set it short) |
| COLDSTART_STANDBY_REPLICAS | 1 | standby copies of each per-user table partition kept warm on other workers (Faust's table_standby_replicas; they forget a deleted user as the active copy does): faster fail-over, that much more disk and changelog reading; 0 turns them off |
| COLDSTART_SESSION_TIMEOUT_S | 6 | seconds the group waits for a silent worker's heartbeats before giving its partitions to the others (6 is the broker's default minimum; a fail-over takes about this plus up to 2.5 s; raise it on oversubscribed cores, where a stalled worker would be evicted) |
| COLDSTART_RERANK_DEPTH | 30 | top items of a signup's or search's hybrid list that the model version's re-ranker re-reads (0: none; no effect without a re-ranker) |
| COLDSTART_TS_PAST_DAYS | 3650 | a user event's `ts` may lie at most this many days before now |
| COLDSTART_TS_FUTURE_S | 3600 | ... and at most this many seconds after now |
| COLDSTART_DEAD_LETTER_RETENTION_H | 168 | retention of `dead_letters`, hours, set when the worker creates it |
| COLDSTART_OUTPUT_RETENTION_H | 168 | retention of `recommendations` and `ad_slots`, hours, likewise |
| COLDSTART_TEST_FAIL_EVENT_IDS | (empty) | test only: comma-separated event ids whose batch the engine fails on, to prove no event is lost |
| COLDSTART_METRICS_PORT | 0 | the worker's port for /metrics, /healthz and /readyz (0: a free port, logged and named in the worker's Kafka client id) |
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from coldstart.errors import ConfigError
from coldstart.text.retrieval import RetrievalConfig


def _int(name: str, default: int, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {value}")
    return value


def _port(name: str, default: int) -> int:
    value = _int(name, default)
    if value > 65535:
        raise ConfigError(f"{name} must be a TCP port from 0 to 65535 (0: any free one), got {value}")
    return value


def _fraction(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number from 0 to 1, got {raw!r}") from None
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"{name} must be from 0 to 1, got {value}")
    return value


@dataclass(frozen=True)
class Settings:
    """Runtime settings; build with `Settings.from_env()`."""

    broker: str = "kafka://127.0.0.1:9092"
    topic_prefix: str = ""
    model: str = ""
    data_dir: Path = field(default_factory=lambda: Path("var/coldstart"))
    click_coalesce_ms: int = 50
    top_k: int = 10
    encoder_threads: int = 0
    encoder_cache: int = 10000
    partitions: int = 4
    explore_rate: float = 0.1
    rerank_depth: int = 30
    ts_past_days: int = 3650
    ts_future_s: int = 3600
    dead_letter_retention_h: int = 168
    output_retention_h: int = 168
    fail_event_ids: frozenset[str] = frozenset()
    metrics_port: int = 0
    hash_key: str = field(default="", repr=False)  # a secret: never printed
    deletion_barrier_ms: int = 7 * 86_400_000
    forget_ms: int = 600_000
    standby_replicas: int = 1
    session_timeout_s: int = 6

    @classmethod
    def from_env(cls) -> Settings:
        broker = os.environ.get("COLDSTART_BROKER", "") or cls.broker
        if "://" not in broker:
            broker = f"kafka://{broker}"
        return cls(
            broker=broker,
            topic_prefix=os.environ.get("COLDSTART_TOPIC_PREFIX", ""),
            model=os.environ.get("COLDSTART_MODEL", ""),
            data_dir=Path(os.environ.get("COLDSTART_DATA_DIR", "") or "var/coldstart"),
            click_coalesce_ms=_int("COLDSTART_CLICK_COALESCE_MS", 50),
            top_k=_int("COLDSTART_TOP_K", 10, minimum=1),
            encoder_threads=_int("COLDSTART_ENCODER_THREADS", 0),
            encoder_cache=_int("COLDSTART_ENCODER_CACHE", 10000),
            partitions=_int("COLDSTART_PARTITIONS", 4, minimum=1),
            explore_rate=_fraction("COLDSTART_EXPLORE_RATE", 0.1),
            rerank_depth=_int("COLDSTART_RERANK_DEPTH", 30),
            ts_past_days=_int("COLDSTART_TS_PAST_DAYS", 3650, minimum=1),
            ts_future_s=_int("COLDSTART_TS_FUTURE_S", 3600),
            hash_key=os.environ.get("COLDSTART_HASH_KEY", ""),
            dead_letter_retention_h=_int("COLDSTART_DEAD_LETTER_RETENTION_H", 168, minimum=1),
            output_retention_h=_int("COLDSTART_OUTPUT_RETENTION_H", 168, minimum=1),
            fail_event_ids=frozenset(filter(None, os.environ.get(
                "COLDSTART_TEST_FAIL_EVENT_IDS", "").split(","))),
            metrics_port=_port("COLDSTART_METRICS_PORT", 0),
            deletion_barrier_ms=_int("COLDSTART_DELETION_BARRIER_MS", 7 * 86_400_000, minimum=1),
            forget_ms=_int("COLDSTART_FORGET_MS", 600_000, minimum=30_000),
            standby_replicas=_int("COLDSTART_STANDBY_REPLICAS", 1),
            session_timeout_s=_int("COLDSTART_SESSION_TIMEOUT_S", 6, minimum=1),
        )

    @property
    def ts_window_ms(self) -> tuple[int, int]:
        """How far before and after now a user event's `ts` may lie, ms."""
        return self.ts_past_days * 86_400_000, self.ts_future_s * 1000

    @property
    def coalesce_s(self) -> float:
        """How long the users agent gathers a batch: at least 1 ms, so 0 means "answer at once"
        (a zero window would make Faust wait for a full batch)."""
        return max(self.click_coalesce_ms, 1) / 1000

    @property
    def retrieval(self) -> RetrievalConfig:
        """How signups and searches are matched to items (coldstart.text.retrieval)."""
        return RetrievalConfig(rerank_depth=self.rerank_depth)

    @property
    def bootstrap_servers(self) -> str:
        """The broker as host:port list, for kafka-python."""
        return ",".join(part.split("://", 1)[-1] for part in self.broker.split(";"))

    def topic(self, name: str) -> str:
        """The real topic name for a contract topic name."""
        return f"{self.topic_prefix}{name}"

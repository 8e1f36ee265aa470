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
| COLDSTART_EXPLORE_RATE | 0.1 | share of recommendation slots that explore rarely shown items |
| COLDSTART_RERANK_DEPTH | 30 | top items of a signup's or search's hybrid list that the model version's re-ranker re-reads (0: none; no effect without a re-ranker) |
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
        )

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

"""Topic administration: the policy of every topic the product creates, written once, creating
the missing ones, and the start-up checks of the topics that exist (kafka-python's admin client;
it runs before the Faust app starts)."""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from kafka import KafkaConsumer
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from coldstart.config import Settings
from coldstart.errors import ConfigError
from schemas.topics import (
    AD_PLACEMENTS,
    CATALOGUE_TOPICS,
    CONTRACT,
    COOCCURRENCE_UPDATES,
    FEEDBACK,
    MODEL_UPDATES,
    USER_TOPICS,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
HOUR_MS = 3_600_000
# The broker is retried this long at start (1, 2, 4, 8 ... s apart) before the worker gives up.
BROKER_WAIT_S = 60.0

# `catalog` and `ads` are their own changelog: every worker rebuilds its catalogue from them at
# every start (the GlobalKTable pattern), so they are compacted, never expired: the last record
# of each item or ad stays, and a delete (`deleted: true`) stays until the next one.
CATALOGUE_CONFIG = {"cleanup.policy": "compact"}

# AD_PLACEMENTS only has to last until the users agent has read it, and it names who saw which
# ads: one day.
AD_PLACEMENTS_CONFIG = {"retention.ms": "86400000"}
# The model control topic: a handful of records a month, kept forever, so a restarted worker
# reads the fleet's choice too.
MODEL_UPDATES_CONFIG = {"retention.ms": "-1", "retention.bytes": "-1"}


def changelog_roll_ms(forget_ms: int) -> int:
    """How old a changelog segment gets before it rolls and must be cleaned: a fifth of the
    time-to-forget, so rolling (streams/forget.py writes to a quiet partition to make it roll),
    the cleaner's pass (the broker's log.cleaner.backoff.ms, 15 s by default) and the removal
    of the old files fit in it with room to spare."""
    return max(1000, forget_ms // 5)


def changelog_config(forget_ms: int) -> dict[str, str]:
    """The table changelogs' policy for a time-to-forget of `forget_ms` (COLDSTART_FORGET_MS)."""
    roll = changelog_roll_ms(forget_ms)
    return {
        "cleanup.policy": "compact",
        "segment.ms": str(roll),  # the active segment is never cleaned: it must roll
        "max.compaction.lag.ms": str(roll),  # a rolled segment is cleaned within this
        "min.cleanable.dirty.ratio": "0.01",
        "file.delete.delay.ms": str(min(60_000, roll)),  # cleaned-away files leave the disk
        "delete.retention.ms": "86400000",  # tombstones (a key, no value) stay a day for readers
    }


# Table changelogs: a deleted user's old values leave them within the time-to-forget.
CHANGELOG_CONFIG = changelog_config(Settings.from_env().forget_ms)


def model_updates_topic(settings: Settings) -> NewTopic:
    """The control topic: one partition, so its records have one order."""
    return NewTopic(settings.topic(MODEL_UPDATES), 1, 1, topic_configs=MODEL_UPDATES_CONFIG)


def topic_configs(settings: Settings) -> dict[str, dict[str, str]]:
    """The configuration each contract topic is created with (others: the broker's defaults)."""
    dead = {"cleanup.policy": "delete", "retention.ms": str(settings.dead_letter_retention_h * HOUR_MS)}
    out = {"cleanup.policy": "delete", "retention.ms": str(settings.output_retention_h * HOUR_MS)}
    configs = {t: dict(CATALOGUE_CONFIG) for t in CATALOGUE_TOPICS}
    configs.update({"dead_letters": dead, "recommendations": out, "ad_slots": dict(out)})
    return configs


def ensure_topics(settings: Settings) -> list[str]:
    """Create missing contract topics and AD_PLACEMENTS with `settings.partitions` partitions,
    and the model control topic with one; return the new ones."""
    configs = topic_configs(settings)
    wanted = [NewTopic(settings.topic(t), settings.partitions, 1, topic_configs=configs.get(t, {}))
              for t in CONTRACT]
    # Co-partitioned with the user topics (same count, key user_id), so it is created beside them.
    wanted.append(NewTopic(settings.topic(AD_PLACEMENTS), settings.partitions, 1,
                           topic_configs=AD_PLACEMENTS_CONFIG))
    wanted.append(model_updates_topic(settings))
    return create_missing(settings, wanted)


def with_broker(settings: Settings, call: Callable[[], T], wait_s: float = BROKER_WAIT_S) -> T:
    """`call()`, retried with backoff while the broker cannot be reached; then one clear error."""
    started, pause = time.monotonic(), 1.0
    while True:
        try:
            return call()
        except (KafkaError, OSError) as exc:
            if isinstance(exc, TopicAlreadyExistsError):
                raise
            waited = time.monotonic() - started
            if waited + pause > wait_s:
                raise ConfigError(
                    f"cannot reach the Kafka broker at {settings.bootstrap_servers} "
                    f"(COLDSTART_BROKER) after {waited:.0f} s: {type(exc).__name__}; is it "
                    "running? (`coldstart broker start` runs a local one)") from None
            log.warning("coldstart: broker at %s (COLDSTART_BROKER) not reachable (%s); "
                        "retrying in %.0f s", settings.bootstrap_servers, type(exc).__name__, pause)
            time.sleep(pause)
            pause = min(pause * 2, 8.0)


def _admin(settings: Settings) -> KafkaAdminClient:
    return KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers,
                            client_id="coldstart-admin", bootstrap_timeout_ms=5000)


def create_missing(settings: Settings, topics: list[NewTopic]) -> list[str]:
    """Create those of `topics` the broker does not have yet; return their names."""
    admin = with_broker(settings, lambda: _admin(settings))
    try:
        existing = set(admin.list_topics())
        created = []
        for topic in topics:
            if topic.name in existing:
                continue
            try:
                admin.create_topics([topic])
                created.append(topic.name)
            except TopicAlreadyExistsError:  # another worker won the race
                pass
        return created
    finally:
        admin.close()


def check_partitions(settings: Settings) -> int:
    """The partition count the worker must use, read from the metadata of the user topics that
    exist (they are co-partitioned by user_id with the tables, so they must agree);
    `settings.partitions` when none exists yet.

    Raises ConfigError (one line) when the user topics, AD_PLACEMENTS and the internal topics
    that exist do not all have one partition count.
    """
    user = [settings.topic(t) for t in (*USER_TOPICS, "page_views", AD_PLACEMENTS)]
    prefix = f"{settings.topic_prefix}coldstart-"
    internal = [settings.topic(COOCCURRENCE_UPDATES), settings.topic(FEEDBACK),
                *(f"{prefix}{table}-changelog" for table in ("profiles", "served"))]
    counts = with_broker(settings, lambda: partition_counts(settings, [*user, *internal]))
    found = {t: n for t, n in counts.items() if n}
    kinds = sorted({found[t] for t in user if t in found})
    if len(kinds) > 1:
        listed = ", ".join(f"{t} {found[t]}" for t in user if t in found)
        raise ConfigError(f"the user topics must have one partition count (they are "
                          f"co-partitioned by user_id); found {listed}")
    partitions = kinds[0] if kinds else settings.partitions
    wrong = [f"{t} {n}" for t, n in found.items() if t in internal and n != partitions]
    if wrong:
        raise ConfigError(f"internal topics must have the user topics' {partitions} partitions; "
                          f"found {', '.join(wrong)} (a new COLDSTART_TOPIC_PREFIX starts afresh)")
    return partitions


def partition_counts(settings: Settings, topics: Iterable[str]) -> dict[str, int]:
    """Each topic's partition count from the broker's metadata; 0 for a topic that is missing."""
    probe = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers, bootstrap_timeout_ms=5000)
    try:
        return {t: len(probe.partitions_for_topic(t) or ()) for t in topics}
    finally:
        probe.close()


def policy_warnings(settings: Settings) -> list[str]:
    """A line, with the command that fixes it, for each catalogue topic that is not compacted."""
    admin = _admin(settings)
    try:
        names = [settings.topic(t) for t in CATALOGUE_TOPICS]
        found: Any = admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, n, configs=None) for n in names],
            config_filter="all")
    finally:
        admin.close()
    lines = []
    for name in names:
        policy = _config_value(found, name, "cleanup.policy")
        if policy is not None and "compact" not in policy:
            lines.append(
                f"topic {name} has cleanup.policy={policy}: records older than its retention are "
                "deleted, and a restarted worker loses those items or ads; fix: kafka-configs.sh "
                f"--bootstrap-server {settings.bootstrap_servers} --alter --entity-type topics "
                f"--entity-name {name} --add-config cleanup.policy=compact")
    return lines


def _config_value(found: Any, topic: str, key: str) -> str | None:
    """One config value from describe_configs' answer ({type: {name: {key: {...}}}})."""
    if not isinstance(found, dict):
        return None
    for by_name in found.values():
        entry = by_name.get(topic, {}).get(key) if isinstance(by_name, dict) else None
        if isinstance(entry, dict):
            value = entry.get("value", entry.get("config_value"))
            return None if value is None else str(value)
        if entry is not None:
            return str(entry)
    return None


def topic_partitions(topic: str, bootstrap_servers: str) -> list[int]:
    """A topic's partitions (kafka-python: one plain metadata call); an error if it is missing."""
    probe = KafkaConsumer(bootstrap_servers=bootstrap_servers)
    try:
        found = probe.partitions_for_topic(topic)
    finally:
        probe.close()
    if not found:
        raise RuntimeError(f"topic {topic} does not exist; `coldstart worker` creates it at start")
    return sorted(found)

"""Topic administration: the policy of every topic the product creates, written once, and creating
the missing ones (kafka-python's admin client; it runs before the Faust app starts)."""
from __future__ import annotations

from kafka import KafkaConsumer
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

from coldstart.config import Settings
from schemas.topics import AD_PLACEMENTS, CONTRACT, MODEL_UPDATES

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


def ensure_topics(settings: Settings) -> list[str]:
    """Create missing contract topics and AD_PLACEMENTS with `settings.partitions` partitions,
    and the model control topic with one; return the new ones."""
    wanted = [NewTopic(settings.topic(t), settings.partitions, 1) for t in CONTRACT]
    # Co-partitioned with the user topics (same count, key user_id), so it is created beside them.
    wanted.append(NewTopic(settings.topic(AD_PLACEMENTS), settings.partitions, 1,
                           topic_configs=AD_PLACEMENTS_CONFIG))
    wanted.append(model_updates_topic(settings))
    return create_missing(settings, wanted)


def create_missing(settings: Settings, topics: list[NewTopic]) -> list[str]:
    """Create those of `topics` the broker does not have yet; return their names."""
    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers,
                             client_id="coldstart-admin")
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

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
# Table changelogs: compaction runs soon after a purge, so a deleted user's old values do not linger.
CHANGELOG_CONFIG = {
    "cleanup.policy": "compact",
    "segment.ms": "60000",
    "min.cleanable.dirty.ratio": "0.01",
    "delete.retention.ms": "86400000",
}


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

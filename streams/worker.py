"""`coldstart worker`: create the contract's topics if missing, then run the Faust worker."""
from __future__ import annotations

import logging
import sys

from kafka import KafkaConsumer
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

from coldstart.config import Settings

TOPICS = ("catalog", "ads", "signups", "searches", "clicks", "page_views", "user_deletions",
          "recommendations", "ad_slots", "dead_letters")
# Internal topics that must be co-partitioned with the user topics (same count, key user_id), so
# they are created here, beside them: the page views' ad_slots events, forwarded to the users agent.
AD_PLACEMENTS = "coldstart-ad-placements"
# It only has to last until the users agent has read it, and it names who saw which ads: one day.
AD_PLACEMENTS_CONFIG = {"retention.ms": "86400000"}
LEVELS = {"debug": "debug", "info": "info", "warning": "warn", "warn": "warn", "error": "error",
          "critical": "crit"}


def ensure_topics(settings: Settings) -> list[str]:
    """Create missing contract topics and AD_PLACEMENTS with `settings.partitions` partitions,
    and the model control topic with one; return the new ones."""
    from streams.model_updates import CONFIG, TOPIC

    wanted = [NewTopic(settings.topic(t), settings.partitions, 1) for t in TOPICS]
    wanted.append(NewTopic(settings.topic(AD_PLACEMENTS), settings.partitions, 1,
                           topic_configs=AD_PLACEMENTS_CONFIG))
    wanted.append(NewTopic(settings.topic(TOPIC), 1, 1, topic_configs=CONFIG))
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


def run_worker(loglevel: str = "warning") -> int:
    settings = Settings.from_env()
    (settings.data_dir / "faust").mkdir(parents=True, exist_ok=True)
    created = ensure_topics(settings)
    if created:
        logging.getLogger(__name__).warning("created topics: %s", ", ".join(created))
    from streams.app import app

    sys.argv = ["coldstart", "worker", "--loglevel", LEVELS.get(loglevel, "warn"), "--without-web"]
    app.main()  # runs until stopped; raises SystemExit
    return 0

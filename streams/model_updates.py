"""The model control topic: which model version every worker serves, and publishing to it.

`coldstart-model-updates` (prefixed like every topic) has one partition, so its records have
one order; the last valid record names the version. Workers follow it (streams/model_switch.py)
and switch without a restart. Records are kept forever (a handful a month), so a restarted
worker reads the fleet's choice too.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kafka import KafkaProducer
from kafka.admin import NewTopic

from coldstart import model_registry
from coldstart.config import Settings
from coldstart.engine import now_ms

TOPIC = "coldstart-model-updates"
SCHEMA = "model_updates"  # schemas/model_updates.json
CONFIG = {"retention.ms": "-1", "retention.bytes": "-1"}


def publish(version: str, settings: Settings | None = None,
            root: Path | str | None = None) -> dict[str, Any]:
    """Point the registry's `current` at `version` and tell every worker to serve it.

    The version must exist in the registry (a ModelError says what is there otherwise);
    returns the event sent.
    """
    from streams.worker import create_missing

    settings = settings or Settings.from_env()
    resolved = model_registry.set_current(version, root)
    create_missing(settings, [NewTopic(settings.topic(TOPIC), 1, 1, topic_configs=CONFIG)])
    event = {"model_version": resolved, "ts": now_ms()}
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all")
    try:
        producer.send(settings.topic(TOPIC), key=resolved.encode(),
                      value=json.dumps(event).encode()).get(timeout=30)
    finally:
        producer.close(timeout=10)
    return event

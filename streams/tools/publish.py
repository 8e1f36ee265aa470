"""`coldstart model use`: point the registry's `current` at a version and tell every worker.

The control topic (`coldstart-model-updates`, prefixed like every topic) has one partition, so its
records have one order; the last valid record names the version. Workers follow it
(streams/model_switch.py) and switch without a restart.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kafka import KafkaProducer

from coldstart.config import Settings
from coldstart.encoder import registry as model_registry
from coldstart.events import now_ms
from schemas.topics import MODEL_UPDATES
from streams.admin import create_missing, model_updates_topic


def publish(version: str, settings: Settings | None = None,
            root: Path | str | None = None) -> dict[str, Any]:
    """Point the registry's `current` at `version` and tell every worker to serve it.

    The version must exist in the registry (a ModelError says what is there otherwise);
    returns the event sent.
    """
    settings = settings or Settings.from_env()
    resolved = model_registry.set_current(version, root)
    create_missing(settings, [model_updates_topic(settings)])
    event = {"model_version": resolved, "ts": now_ms()}
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all")
    try:
        producer.send(settings.topic(MODEL_UPDATES), key=resolved.encode(),
                      value=json.dumps(event).encode()).get(timeout=30)
    finally:
        producer.close(timeout=10)
    return event

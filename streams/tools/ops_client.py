"""What the operator's tools learn about a running group: its members and their operations ports,
committed offsets and lag, the published model, and each worker's /readyz and /metrics.

A worker names its operations port in its Kafka client id (streams/ops.py), so the group's
description from the broker is enough to find every member; `--worker URL` adds or replaces
addresses where the broker's view of a member's host is not reachable (Docker from the host).
"""
from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient

import schemas
from coldstart.config import Settings
from coldstart.errors import InvalidEventError
from schemas.topics import MODEL_UPDATES, MODEL_UPDATES_SCHEMA
from streams.endpoint import is_stream_topic, metrics_port

# kafka-python warns, with the raw bytes, that it cannot decode Faust's member metadata (a JSON
# tail after the subscription); the assignment it does decode is all that is read here.
logging.getLogger("kafka.admin").setLevel(logging.ERROR)


def group_id(settings: Settings) -> str:
    """The workers' consumer group (the Faust app id: streams/app.py)."""
    return f"{settings.topic_prefix}coldstart"


def contract_name(settings: Settings, topic: str) -> str:
    prefix = settings.topic_prefix
    return topic[len(prefix):] if prefix and topic.startswith(prefix) else topic


@dataclass
class Member:
    """One member of the group, as the broker describes it."""

    member_id: str
    client_id: str
    host: str
    partitions: dict[str, list[int]] = field(default_factory=dict)  # contract topic -> partitions

    @property
    def url(self) -> str | None:
        port = metrics_port(self.client_id)
        return f"http://{self.host}:{port}" if port else None


@dataclass
class Group:
    group_id: str
    state: str
    members: list[Member]


def describe_group(settings: Settings) -> Group:
    """The group's state and members (an empty, `Dead` group when no worker has joined)."""
    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers,
                             client_id="coldstart-status")
    try:
        found = admin.describe_groups([group_id(settings)]).get(group_id(settings)) or {}
    finally:
        admin.close()
    members = []
    for raw in found.get("members") or []:
        assignment = raw.get("member_assignment") or {}
        parts: dict[str, list[int]] = {}
        for entry in assignment.get("assigned_partitions", []) if isinstance(assignment, dict) else []:
            parts[contract_name(settings, entry["topic"])] = sorted(entry["partitions"])
        members.append(Member(raw.get("member_id", ""), raw.get("client_id", ""),
                              str(raw.get("client_host", "")).lstrip("/"), dict(sorted(parts.items()))))
    return Group(group_id(settings), str(found.get("group_state") or "Dead"),
                 sorted(members, key=lambda m: m.client_id))


@dataclass(frozen=True)
class TopicLag:
    topic: str
    partitions: int
    end: int
    committed: int

    @property
    def lag(self) -> int:
        return max(0, self.end - self.committed)


def group_lag(settings: Settings, topics: list[str]) -> list[TopicLag]:
    """Per topic (contract names): end offsets, the group's committed offsets, and the lag."""
    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers,
                             client_id="coldstart-status")
    consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers, group_id=None,
                             enable_auto_commit=False)
    try:
        offsets = admin.list_group_offsets(group_id(settings)).get(group_id(settings)) or {}
        committed = {(contract_name(settings, tp.topic), tp.partition): meta.offset
                     for tp, meta in offsets.items() if meta.offset >= 0}
        names = sorted(set(topics) | {t for t, _ in committed if is_stream_topic(t)})
        result = []
        for name in names:
            partitions = consumer.partitions_for_topic(settings.topic(name))
            if not partitions:
                continue
            tps = [TopicPartition(settings.topic(name), p) for p in sorted(partitions)]
            ends = consumer.end_offsets(tps)
            result.append(TopicLag(name, len(tps), sum(ends.values()),
                                   sum(committed.get((name, tp.partition), 0) for tp in tps)))
        return result
    finally:
        consumer.close()
        admin.close()


def published_model(settings: Settings) -> str | None:
    """The model version last published on the control topic (its last valid record)."""
    consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers, group_id=None,
                             enable_auto_commit=False, auto_offset_reset="earliest")
    try:
        tp = TopicPartition(settings.topic(MODEL_UPDATES), 0)
        if not consumer.partitions_for_topic(tp.topic):
            return None
        consumer.assign([tp])
        end = consumer.end_offsets([tp])[tp]
        consumer.seek_to_beginning(tp)
        version = None
        while consumer.position(tp) < end:
            for record in consumer.poll(timeout_ms=500).get(tp, []):
                try:
                    version = schemas.decode(MODEL_UPDATES_SCHEMA, record.value)["model_version"]
                except InvalidEventError:
                    continue
        return version
    finally:
        consumer.close()


@dataclass
class Probe:
    """One HTTP answer from a worker's operations port (or why there was none)."""

    status: int | None
    body: Any = None
    error: str = ""


def get(url: str, timeout: float = 3.0) -> Probe:
    """GET `url`: JSON decoded when it is JSON, else text; a refused or timed-out call says so."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (http only)
            return Probe(response.status, _body(response.read(), response.headers))
    except urllib.error.HTTPError as error:  # 503 from /readyz still carries its report
        return Probe(error.code, _body(error.read(), error.headers))
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        return Probe(None, error=str(reason))


def _body(raw: bytes, headers: Any) -> Any:
    text = raw.decode("utf-8", errors="replace")
    if "json" in str(headers.get("Content-Type", "")):
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text

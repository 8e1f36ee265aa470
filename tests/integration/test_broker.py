"""The local broker is a real Kafka: what is produced can be consumed, in order, per key."""
from __future__ import annotations

import json

import pytest
from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

pytestmark = pytest.mark.integration


def test_produce_then_consume_round_trip(broker: str, unique_prefix: str) -> None:
    topic = f"{unique_prefix}roundtrip"
    admin = KafkaAdminClient(bootstrap_servers=broker)
    admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
    admin.close()

    producer = KafkaProducer(bootstrap_servers=broker, value_serializer=lambda v: json.dumps(v).encode())
    sent = [{"user_id": f"u{i % 3}", "n": i} for i in range(30)]
    for event in sent:
        producer.send(topic, key=event["user_id"].encode(), value=event)
    producer.flush()
    producer.close()

    consumer = KafkaConsumer(topic, bootstrap_servers=broker, auto_offset_reset="earliest",
                             consumer_timeout_ms=5000, value_deserializer=json.loads)
    received = [record.value for record in consumer]
    consumer.close()

    assert sorted(received, key=lambda e: e["n"]) == sent
    for user in ("u0", "u1", "u2"):  # one key lands on one partition, so its order is kept
        ns = [e["n"] for e in received if e["user_id"] == user]
        assert ns == sorted(ns)


def test_large_records_are_accepted(broker: str, unique_prefix: str) -> None:
    """Oversized events must reach the worker (to be dead-lettered), not bounce at the broker."""
    topic = f"{unique_prefix}large"
    producer = KafkaProducer(bootstrap_servers=broker, max_request_size=4 * 1024 * 1024)
    producer.send(topic, key=b"k", value=b"x" * (3 * 1024 * 1024)).get(timeout=30)
    producer.close()
    consumer = KafkaConsumer(topic, bootstrap_servers=broker, auto_offset_reset="earliest",
                             consumer_timeout_ms=5000)
    sizes = [len(record.value) for record in consumer]
    consumer.close()
    assert sizes == [3 * 1024 * 1024]

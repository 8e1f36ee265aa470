"""Every worker reads the whole `catalog` and `ads` topics, so user topics can be split freely.

This is Kafka Streams' GlobalKTable pattern: the source topic is its own changelog, read in full
by every instance (no consumer group), and replayed from the start on each boot. Vectors come
from a persistent per-model cache, so a restart re-embeds only what it has never seen. The
shared models are read the same way: the `cooccurrence` and `feedback` tables' changelogs,
written by their agents on whichever worker owns the partition, load into every worker's engine.
Agents wait on `state.ready`, set once the replica has caught up with what all of these held at
start.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

import schemas
from coldstart.errors import InvalidEventError
from coldstart.text_vector_cache import TextVectorCache
from streams.app import app, settings
from streams.dead_letters import send_dead_letter
from streams.agents.feedback import read_totals
from streams.state import state
from streams.tables import cooccurrence, feedback
from streams.worker import topic_partitions
from streams.topics import contract_name

log = logging.getLogger(__name__)
BATCH = 256


@app.task
async def catalog_replica() -> None:
    """Load the model, catch up with catalog and ads, then follow them for as long as we run."""
    loop = asyncio.get_running_loop()
    engine = await loop.run_in_executor(None, state.load)
    assert state.encoder is not None
    cache = TextVectorCache(settings.data_dir, state.encoder.version, state.encoder.dim)
    tables = {cooccurrence.changelog_topic_name: _load_cooccurrence,
              feedback.changelog_topic_name: _load_feedback}
    for table in (cooccurrence, feedback):  # created here if the tables have not done it yet
        await table.changelog_topic.maybe_declare()
    consumer = await _start_consumer(list(tables))
    try:
        targets = await _end_offsets(consumer)
        started, loaded = time.monotonic(), 0
        while True:
            batches = await consumer.getmany(timeout_ms=200, max_records=BATCH)
            for tp, records in batches.items():
                if tp.topic in tables:
                    tables[tp.topic](records)
                else:
                    loaded += await _apply(contract_name(tp.topic), records, cache)
            if not state.ready.is_set() and await _caught_up(consumer, targets):
                state.ready.set()
                log.warning("coldstart: catalogue ready: %d items, %d ads, in %.1fs",
                            len(engine.catalog), len(engine.catalog.ads()),
                            time.monotonic() - started)
    finally:
        await consumer.stop()
        cache.close()


async def _start_consumer(changelogs: list[str]) -> AIOKafkaConsumer:
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers, group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest",
                                max_partition_fetch_bytes=8 * 1024 * 1024)
    await consumer.start()
    partitions = []
    loop = asyncio.get_running_loop()
    for topic in [settings.topic("catalog"), settings.topic("ads"), *changelogs]:
        for p in sorted(await loop.run_in_executor(None, _partitions, topic)):
            partitions.append(TopicPartition(topic, p))
    consumer.assign(partitions)
    await consumer.seek_to_beginning(*partitions)
    return consumer


def _partitions(topic: str) -> list[int]:
    return topic_partitions(topic, settings.bootstrap_servers)


async def _end_offsets(consumer: AIOKafkaConsumer) -> dict[TopicPartition, int]:
    return await consumer.end_offsets(list(consumer.assignment()))


async def _caught_up(consumer: AIOKafkaConsumer, targets: dict[TopicPartition, int]) -> bool:
    for tp, end in targets.items():
        if await consumer.position(tp) < end:
            return False
    return True


async def _apply(topic: str, records: list[Any], cache: TextVectorCache) -> int:
    """Validate a batch of one topic's records and apply the good ones to the catalogue."""
    engine = state.engine
    assert engine is not None and state.encoder is not None
    events = []
    for record in records:
        try:
            events.append(schemas.decode(topic, record.value))
        except InvalidEventError as exc:
            await send_dead_letter(record, str(exc))
    if not events:
        return 0
    catalog = engine.catalog
    texts = catalog.item_texts(events) if topic == "catalog" else catalog.ad_texts(events)
    loop = asyncio.get_running_loop()
    vectors = await loop.run_in_executor(None, cache.encode, texts, state.encoder.encode_items)
    apply = catalog.apply_items if topic == "catalog" else catalog.apply_ads
    return apply(events, vectors)


def _load_cooccurrence(records: list[Any]) -> None:
    engine = state.engine
    assert engine is not None
    for record in records:
        engine.load_cooccurrence(record.key.decode(), record.value, record.timestamp)


def _load_feedback(records: list[Any]) -> None:
    engine = state.engine
    assert engine is not None
    for record in records:
        engine.load_feedback(record.key.decode(), *read_totals(record.value))

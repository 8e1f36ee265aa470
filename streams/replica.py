"""Every worker reads the whole `catalog` and `ads` topics, so user topics can be split freely.

This is Kafka Streams' GlobalKTable pattern: the source topic is its own changelog, read in full
by every instance (no consumer group), and replayed from the start on each boot. Vectors come
from a persistent per-model cache, so a restart re-embeds only what it has never seen. The
shared models are read the same way: the `cooccurrence`, `popularity` and `feedback` tables'
changelogs, written by their agents on whichever worker owns the partition, load into every
worker's engine, so every worker ranks with the same learned state.
The worker joins its group (takes user partitions) only once `state.ready` is set, when the
replica has caught up with what all of these held at start, so a joining worker never holds
partitions it cannot serve yet; agents wait on it too. The model control topic is read here
too: its last valid record picks the model at start (unless COLDSTART_MODEL is set), and later
records switch the model (streams/model_switch.py).

A record the catalogue cannot apply is a dead letter, never a crash (streams/guard.py): every
worker re-reads these topics at every start, so one bad record must not stop them all. A deleted
item's popularity, co-occurrence row and feedback estimate are dropped here, and tombstones go to
the tables that hold them (sent once caught up, for what the tables still held then).
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

import schemas
from coldstart.engine import Engine
from coldstart.errors import InvalidEventError
from schemas.topics import CATALOGUE_TOPICS, MODEL_UPDATES
from streams import metrics
from streams.admin import topic_partitions
from streams.agents.cooccurrence import forget_rows, stored_row
from streams.agents.feedback import forget_counters, read_totals
from streams.agents.popularity import forget_popularity, read_key
from streams.app import app, settings
from streams.dead_letters import send_dead_letter
from streams.faust_compat import join_group_when, start_with_consumer
from streams.guard import guarded
from streams.model_switch import read_published, switcher
from streams.state import apply_catalog_events, freeze_heap, start_model, state
from streams.tables import cooccurrence, feedback, popularity
from streams.topics import contract_name

log = logging.getLogger(__name__)
BATCH = 256
PROGRESS_S = 10.0


async def catalog_replica() -> None:
    """Load the model, catch up with catalog and ads, then follow them for as long as we run.

    It runs from the start of the worker, before the worker joins its group: the group's
    partitions come only once `state.ready` is set (streams/faust_compat.py, `join_group_when`).
    """
    record, published, control_end = await read_published()
    engine = await _load_first_model(record, published)
    tables = {cooccurrence.changelog_topic_name: _load_cooccurrence,
              feedback.changelog_topic_name: _load_feedback,
              popularity.changelog_topic_name: _load_popularity}
    for table in (cooccurrence, feedback, popularity):  # created here if the tables have not done it yet
        await table.changelog_topic.maybe_declare()
    consumer = await _start_consumer(list(tables), control_end)
    control = settings.topic(MODEL_UPDATES)
    try:
        targets = await _end_offsets(consumer)
        metrics.replica_targets(targets, contract_name)
        started, loaded = time.monotonic(), 0
        progress = _CatchUpProgress(targets, started)
        while True:
            batches = await consumer.getmany(timeout_ms=200, max_records=BATCH)
            for tp, records in batches.items():
                metrics.replica_read(tp, records, contract_name)
                if tp.topic in tables:
                    async with state.engine_lock:  # not while the users agent's thread ranks
                        await guarded(records, _sync(tables[tp.topic]), lambda r: r, "changelog")
                elif tp.topic == control:
                    await guarded(records, switcher.on_records, lambda r: r, "model_updates")
                else:
                    loaded += len(records)
                    topic = contract_name(tp.topic)
                    await guarded(records, _applier(topic), lambda r: r, topic)
            if not state.ready.is_set():
                progress.maybe_log(loaded)
            if not state.ready.is_set() and await _caught_up(consumer, targets):
                await _forget_deleted(list(_deleted))
                _deleted.clear()
                freeze_heap()
                state.ready.set()
                engine = state.engine or engine  # a switch may have happened while catching up
                log.warning("coldstart: catalogue ready: %d items, %d ads, in %.1fs",
                            len(engine.catalog), len(engine.catalog.ads()),
                            time.monotonic() - started)
    finally:
        await consumer.stop()
        if state.vectors is not None:
            state.vectors.close()


class _CatchUpProgress:
    """A log line every PROGRESS_S while the replica catches up: a large catalogue is embedded
    on first start (100,000 items take minutes on two cores) and the worker answers nothing
    until then."""

    def __init__(self, targets: dict[TopicPartition, int], started: float) -> None:
        topics = {settings.topic(t) for t in CATALOGUE_TOPICS}
        self.total = sum(end for tp, end in targets.items() if tp.topic in topics)
        self.started = self.last = started

    def maybe_log(self, applied: int) -> None:
        now = time.monotonic()
        if now - self.last >= PROGRESS_S:
            self.last = now
            log.warning("coldstart: catching up: %d of at most %d catalogue and ad records "
                        "applied in %.0fs", applied, self.total, now - self.started)


async def _load_first_model(record: Any, published: str | None) -> Engine:
    """The published version (see `start_model`); if it does not load, the default model."""
    loop = asyncio.get_running_loop()
    if published and not settings.model:
        try:
            return await loop.run_in_executor(None, state.load, start_model(published))
        except Exception as exc:
            error = f"model_updates: cannot load model {published!r}: {exc}"
            log.error("coldstart: %s; loading the default model instead", error)
            await send_dead_letter(record, error)
    return await loop.run_in_executor(None, state.load, start_model(None))


async def _start_consumer(changelogs: list[str], control_from: int) -> AIOKafkaConsumer:
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers, group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest",
                                max_partition_fetch_bytes=8 * 1024 * 1024)
    await consumer.start()
    partitions = []
    loop = asyncio.get_running_loop()
    for topic in [*(settings.topic(t) for t in CATALOGUE_TOPICS), *changelogs]:
        for p in sorted(await loop.run_in_executor(None, _partitions, topic)):
            partitions.append(TopicPartition(topic, p))
    control = TopicPartition(settings.topic(MODEL_UPDATES), 0)
    consumer.assign([*partitions, control])
    await consumer.seek_to_beginning(*partitions)
    consumer.seek(control, control_from)  # what came before was read by read_published
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


_deleted: set[str] = set()  # items deleted while catching up: forgotten in the tables once caught up


async def _apply(topic: str, records: Sequence[Any]) -> int:
    """Validate a batch of one topic's records and apply the good ones to the catalogue."""
    events = []
    for record in records:
        try:
            # No time window: catalogue records are re-read from the start at every boot.
            events.append(schemas.accept(topic, record.value, record.key, 0, 0, 0))
        except InvalidEventError as exc:
            await send_dead_letter(record, str(exc))
    if not events:
        return 0
    # a model switch copies the catalogue, or catches up, between; the users agent's thread
    # reads it
    async with state.catalog_lock, state.engine_lock:
        assert state.engine is not None and state.encoder is not None and state.vectors is not None
        applied = await apply_catalog_events(state.engine.catalog, topic, events, state.encoder,
                                             state.vectors)
        switcher.note(topic, events)  # after applying: a batch that raised is not queued
    if topic == "catalog":
        latest = {e["item_id"]: bool(e.get("deleted")) for e in events}
        gone = [item for item, deleted in latest.items() if deleted]
        _deleted.difference_update(item for item, deleted in latest.items() if not deleted)
        if state.ready.is_set():
            await _forget_deleted(gone)
        else:
            _deleted.update(gone)
    return applied


async def _forget_deleted(item_ids: list[str]) -> None:
    """Deleted items leave the engine; their table rows get tombstones where a table held one."""
    engine = state.engine
    if engine is None or not item_ids:
        return
    held = engine.forget_items(item_ids)
    await forget_rows(held)
    await forget_counters(f"item:{item}" for item in held)
    await forget_popularity(held)


def _applier(topic: str) -> Callable[[Sequence[Any]], Awaitable[int]]:
    async def run(records: Sequence[Any]) -> int:
        return await _apply(topic, records)
    return run


def _sync(load: Callable[[Sequence[Any]], None]) -> Callable[[Sequence[Any]], Awaitable[None]]:
    async def run(records: Sequence[Any]) -> None:
        load(records)
    return run


def _load_cooccurrence(records: Sequence[Any]) -> None:
    engine = state.engine
    assert engine is not None
    for record in records:
        engine.load_cooccurrence(record.key.decode(), stored_row(record.value), record.timestamp)


def _load_feedback(records: Sequence[Any]) -> None:
    engine = state.engine
    assert engine is not None
    for record in records:
        engine.load_feedback(record.key.decode(), *read_totals(record.value))


def _load_popularity(records: Sequence[Any]) -> None:
    engine = state.engine
    assert engine is not None
    for record in records:
        engine.load_popularity(record.key.decode(), *read_key(record.value))


start_with_consumer(app, catalog_replica)
join_group_when(app, state.ready)

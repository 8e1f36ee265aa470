"""Switching a running worker to a new model version, published on `coldstart-model-updates`.

The old model keeps serving while the new one loads and the catalogue is re-embedded (in a
thread, through the new model's vector cache). Catalogue changes that arrive meanwhile are
applied to the old catalogue as usual and queued; under the catalogue lock the queue is applied
to the new catalogue too, the new engine takes over the learned state (popularity,
co-occurrence, feedback estimates), and `state.install` swaps encoder and engine in one step.
A version that fails to load or embed is logged and dead-lettered; the old model stays.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord

import schemas
from coldstart.encoder.cached import CachedEncoder
from coldstart.encoder.registry import resolve_version
from coldstart.encoder.vector_cache import TextVectorCache
from coldstart.errors import InvalidEventError
from schemas.topics import MODEL_UPDATES as TOPIC
from schemas.topics import MODEL_UPDATES_SCHEMA as SCHEMA
from streams.app import settings
from streams.dead_letters import send_dead_letter
from streams.state import apply_catalog_events, load_model, state

log = logging.getLogger(__name__)
CHUNK = 512  # texts per encoder call while re-embedding, one progress line each
Events = Sequence[Mapping[str, Any]]


class ModelSwitcher:
    """Follows the control topic: one switch at a time, then on to the latest version wanted."""

    def __init__(self) -> None:
        self._wanted: tuple[ConsumerRecord, str] | None = None
        self._task: asyncio.Task[None] | None = None
        self._pending: list[tuple[str, Events]] | None = None  # catalogue changes during a switch

    async def on_records(self, records: Iterable[ConsumerRecord]) -> None:
        """Control records in offset order: bad ones dead-lettered, the last valid one wins."""
        for record in records:
            try:
                version = schemas.decode(SCHEMA, record.value)["model_version"]
            except InvalidEventError as exc:
                await send_dead_letter(record, str(exc))
                continue
            self._wanted = (record, version)
        if self._wanted is not None and (self._task is None or self._task.done()):
            self._task = asyncio.create_task(self._run())

    def note(self, topic: str, events: Events) -> None:
        """A catalogue batch applied to the serving catalogue (under the catalogue lock)."""
        if self._pending is not None:
            self._pending.append((topic, events))

    async def _run(self) -> None:
        while self._wanted is not None:
            record, version = self._wanted
            self._wanted = None
            try:
                await self._switch(version)
            except Exception as exc:  # any failure leaves the old model serving
                self._pending = None
                error = f"{SCHEMA}: cannot switch to model {version!r}: {exc}"
                log.error("coldstart: %s; still serving %s", error,
                          state.engine.model_version if state.engine else "nothing")
                await send_dead_letter(record, error)

    async def _switch(self, version: str) -> None:
        assert state.engine is not None
        loop, started = asyncio.get_running_loop(), time.monotonic()
        serving = state.engine.model_version
        log.warning("coldstart: model %s published; loading it (serving %s meanwhile)",
                    version, serving)
        path = resolve_version(version)  # a version directory is named by the id its weights give
        encoder = None if path.name == serving else await loop.run_in_executor(
            None, load_model, str(path))
        if encoder is None or encoder.version == serving:
            log.warning("coldstart: model %s is already served", serving)
            return
        # A version that only adds a re-ranker has the served encoder's vectors: share its cache
        # (RocksDB allows one open handle per directory and process).
        shares = state.encoder is not None and state.encoder.vectors_version == encoder.vectors_version
        cache = (state.vectors if shares and state.vectors is not None
                 else TextVectorCache(settings.data_dir, encoder.vectors_version, encoder.dim))
        try:
            async with state.catalog_lock:
                contents = state.engine.catalog.contents()
                self._pending = []
            total = len(contents.items) + sum(1 for ad in contents.ads.values() if ad.text)
            catalog = await loop.run_in_executor(None, contents.embed, encoder.dim,
                                                 _with_progress(encoder, cache, total))
            async with state.catalog_lock:
                pending, self._pending = self._pending or [], None
                for topic, events in pending:  # what changed while re-embedding
                    await apply_catalog_events(catalog, topic, events, encoder, cache)
                engine = state.engine.with_model(catalog, encoder.encode_users, encoder.version,
                                                 encoder.reranker)
                previous = state.install(encoder, engine, cache)
        except BaseException:
            if not shares:
                cache.close()
            raise
        if previous is not None and not shares:
            previous.close()
        log.warning("coldstart: now serving model %s (was %s): %d items, %d ads re-embedded "
                    "in %.1fs", encoder.version, serving, len(catalog), len(catalog.ads()),
                    time.monotonic() - started)


def _with_progress(encoder: CachedEncoder, cache: TextVectorCache,
                   total: int) -> Callable[[list[str]], np.ndarray]:
    """`encoder.encode_items` through the cache, in chunks, logging progress (runs in a thread)."""
    done = 0

    def encode(texts: list[str]) -> np.ndarray:
        nonlocal done
        parts = []
        for start in range(0, len(texts), CHUNK):
            parts.append(cache.encode(texts[start:start + CHUNK], encoder.encode_items))
            done += len(parts[-1])
            log.warning("coldstart: re-embedding the catalogue for model %s: %d/%d texts",
                        encoder.version, done, total)
        return np.concatenate(parts) if parts else np.zeros((0, encoder.dim), dtype=np.float32)

    return encode


async def read_published() -> tuple[ConsumerRecord | None, str | None, int]:
    """The control topic from its start to its end now: the last valid record and its version
    (bad ones dead-lettered), and the end offset, where following it starts."""
    topic = TopicPartition(settings.topic(TOPIC), 0)
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers, group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    last: tuple[ConsumerRecord | None, str | None] = (None, None)
    try:
        consumer.assign([topic])
        await consumer.seek_to_beginning(topic)
        end = (await consumer.end_offsets([topic]))[topic]
        while await consumer.position(topic) < end:
            for record in (await consumer.getmany(topic, timeout_ms=500)).get(topic, []):
                if record.offset >= end:
                    break
                try:
                    last = (record, schemas.decode(SCHEMA, record.value)["model_version"])
                except InvalidEventError as exc:
                    await send_dead_letter(record, str(exc))
    finally:
        await consumer.stop()
    return (*last, end)


switcher = ModelSwitcher()

"""Worker-local state shared by the agents: the encoder, the catalogue replica and the engine."""
from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from coldstart.catalog import Catalog
from coldstart.encoder import registry as model_registry
from coldstart.encoder.cached import CachedEncoder
from coldstart.encoder.loader import load_model as load_any_model
from coldstart.encoder.vector_cache import TextVectorCache
from coldstart.engine import Engine
from coldstart.ranking.blend import BlendConfig
from streams import metrics
from streams.app import settings

log = logging.getLogger(__name__)


@dataclass
class WorkerState:
    """The model being served; `ready` is set when the catalogue has caught up.

    `encoder`, `engine` and `vectors` (the encoder's item vector cache) change together, in one
    synchronous `install`, so an agent that reads `state.engine` once per batch handles the whole
    batch with one model. `catalog_lock` is held while a batch changes the catalogue, so a model
    switch can take a consistent copy and catch up with what changed meanwhile.

    The users agent runs the engine on a batch in `users_thread`, off the event loop, holding
    `engine_lock`; whatever else changes the engine's catalogue or learned state (the replica's
    catalogue, co-occurrence and feedback records) holds it too, so the thread never sees them
    change under it. Page views only read the engine, on the loop, and never wait for it.
    """

    ready: asyncio.Event = field(default_factory=asyncio.Event)
    encoder: CachedEncoder | None = None
    engine: Engine | None = None
    vectors: TextVectorCache | None = None
    catalog_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    engine_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users_thread: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="coldstart-users"))

    def load(self, spec: str | None) -> Engine:
        """Load the model `spec` names and an empty catalogue (blocking: call in an executor)."""
        encoder = load_model(spec)
        engine = Engine(Catalog(encoder.dim), encoder.encode_users, encoder.version,
                        top_k=settings.top_k,
                        blend=BlendConfig(explore_rate=settings.explore_rate),
                        reranker=encoder.reranker, retrieval=settings.retrieval)
        engine.fail_on = settings.fail_event_ids  # test only; empty unless set
        self.install(encoder, engine,
                     TextVectorCache(settings.data_dir, encoder.vectors_version, encoder.dim))
        log.warning("coldstart: model %s loaded", encoder.version)
        return engine

    def install(self, encoder: CachedEncoder, engine: Engine,
                vectors: TextVectorCache) -> TextVectorCache | None:
        """Serve `engine` from now on; returns the previous vector cache, for the caller to close."""
        old = self.vectors
        self.encoder, self.engine, self.vectors = encoder, engine, vectors
        return old

    async def encode_items(self, texts: Sequence[str]) -> np.ndarray:
        """Embed off the event loop, so consumers keep heartbeating during long batches."""
        assert self.encoder is not None
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self.encoder.encode_items, list(texts))


state = WorkerState()


def freeze_heap() -> None:
    """Move what is alive now (the model, the catalogue, its indexes) out of the collector's
    reach: a full collection otherwise walks those millions of long-lived objects, a pause of
    tens of milliseconds that lands on whichever page view is in flight. Later garbage is
    collected as before."""
    gc.collect()
    gc.freeze()


def start_model(published: str | None) -> str | None:
    """What a worker loads at start: COLDSTART_MODEL if set, else the version last published on
    the control topic, else the registry's `current`, else the bundled model (None)."""
    if settings.model or not published:
        return model_registry.model_spec(settings.model or None)
    return str(model_registry.resolve_version(published))  # a name in the registry, never a path


def load_model(spec: str | None) -> CachedEncoder:
    """The encoder for a model spec (a version id or directory, a model name; None: bundled), its
    encoding timed for the metrics; an ONNX version loads without torch."""
    return metrics.timed_model(load_any_model(spec, threads=settings.encoder_threads,
                                              cache_size=settings.encoder_cache))


async def apply_catalog_events(catalog: Catalog, topic: str, events: Sequence[Mapping[str, Any]],
                               encoder: CachedEncoder, vectors: TextVectorCache) -> int:
    """Apply validated `catalog` or `ads` events, new texts embedded off the event loop."""
    texts = catalog.item_texts(events) if topic == "catalog" else catalog.ad_texts(events)
    loop = asyncio.get_running_loop()
    found = await loop.run_in_executor(None, vectors.encode, texts, encoder.encode_items)
    apply = catalog.apply_items if topic == "catalog" else catalog.apply_ads
    return apply(events, found)

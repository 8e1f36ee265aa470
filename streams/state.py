"""Worker-local state shared by the agents: the encoder, the catalogue replica and the engine."""
from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from faust.streams import _current_event
from faust.types import EventT

from coldstart.blend import BlendConfig
from coldstart.catalog import Catalog
from coldstart.encoder import Encoder, load_encoder
from coldstart.engine import Engine
from coldstart.model_registry import model_spec
from streams.app import settings

log = logging.getLogger(__name__)


@dataclass
class WorkerState:
    """Loaded once per worker; `ready` is set when the catalogue has caught up."""

    ready: asyncio.Event = field(default_factory=asyncio.Event)
    encoder: Encoder | None = None
    engine: Engine | None = None

    def load(self) -> Engine:
        """Load the model and build an empty catalogue (blocking: call in an executor)."""
        # COLDSTART_MODEL, else the fine-tuned version `current` points at, else the bundled model
        self.encoder = load_encoder(model_spec(settings.model or None),
                                    threads=settings.encoder_threads,
                                    cache_size=settings.encoder_cache)
        catalog = Catalog(self.encoder.dim)
        self.engine = Engine(catalog, self.encoder.encode_users, self.encoder.version,
                             top_k=settings.top_k,
                             blend=BlendConfig(explore_rate=settings.explore_rate))
        log.warning("coldstart: model %s loaded", self.encoder.version)
        return self.engine

    async def encode_items(self, texts: Sequence[str]) -> np.ndarray:
        """Embed off the event loop, so consumers keep heartbeating during long batches."""
        assert self.encoder is not None
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self.encoder.encode_items, list(texts))


state = WorkerState()


def as_current(event: EventT) -> None:
    """Make `event` Faust's current event, as plain stream iteration would.

    `take_events` hands us a batch without setting it; RocksDB tables need it to know the
    partition a write belongs to (and a read comes from), which keeps the table co-partitioned
    with the source topic. It stays set in the calling task until changed.
    """
    _current_event.set(weakref.ref(event))

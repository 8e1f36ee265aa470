"""Co-occurrence rows: clicks' row updates in, the `cooccurrence` table (one row per item) out."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from faust.types import StreamT

from coldstart.ranking.cooccurrence import CooccurrenceConfig, RowUpdate, apply_update_bytes, merge_updates
from schemas.topics import COOCCURRENCE_UPDATES
from streams import metrics
from streams.app import app, settings
from streams.faust_compat import as_current, take_events
from streams.partitioned import by_partition, send_by_partition
from streams.tables import cooccurrence
from streams.topics import cooccurrence_updates

CONFIG = CooccurrenceConfig()  # the engine's Cooccurrence uses the same defaults
# A row is rewritten whole (up to 400 neighbours) and every worker reads it back, so the agent
# merges what arrives within a second and writes each row once for all of it.
BATCH, WITHIN_S = 512, 1.0


async def send_row_updates(updates: Iterable[RowUpdate]) -> None:
    """A batch's changes, one per row, routed to the partitions that own the rows (key: item_id)."""
    rows = {u.item_id: {"mass": u.mass, "pairs": [list(p) for p in u.pairs]}
            for u in merge_updates(updates)}
    if rows:
        await send_by_partition(cooccurrence_updates, rows, settings.partitions)


def _row_update(item_id: str, value: dict[str, Any]) -> RowUpdate:
    return RowUpdate(item_id, value["mass"], tuple((str(o), float(k)) for o, k in value["pairs"]))


@app.agent(cooccurrence_updates, concurrency=1)
async def on_row_updates(stream: StreamT[dict[str, Any]]) -> None:
    """The one writer of `cooccurrence`: read each row once per batch, add its changes, write it."""
    async for batch in take_events(stream, BATCH, within=WITHIN_S):
        metrics.batch_in("cooccurrence", (COOCCURRENCE_UPDATES for _ in batch))
        for event, rows in by_partition(batch):
            as_current(event)  # the rows of this partition are written to its changelog
            for update in merge_updates(_row_update(item, value) for item, value in rows):
                key = update.item_id.encode()
                cooccurrence[key] = apply_update_bytes(cooccurrence.get(key), update, CONFIG)

"""Co-occurrence rows: clicks' row updates in, the `cooccurrence` table (one row per item) out.

Each row remembers the offset of the newest update record applied to it (streams/partitioned.py),
so a record redelivered after a crash between the table write and the commit changes nothing
twice. A row update of None (a catalogue delete) is a tombstone: the row is forgotten.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from faust.types import EventT, StreamT

from coldstart.ranking.cooccurrence import CooccurrenceConfig, RowUpdate, apply_update_bytes, merge_updates
from schemas.topics import COOCCURRENCE_UPDATES
from streams import metrics
from streams.app import app, settings
from streams.faust_compat import as_current, take_events
from streams.guard import guarded
from streams.partitioned import by_partition_offsets, send_by_partition, split_applied, with_applied
from streams.tables import cooccurrence
from streams.topics import cooccurrence_updates

CONFIG = CooccurrenceConfig()  # the engine's Cooccurrence uses the same defaults
# A row is rewritten whole (up to 400 neighbours) and every worker reads it back, so the agent
# merges what arrives within a second and writes each row once for all of it. Not longer: at a
# rebalance the partitions are given up only once the batch being gathered is handled
# (`stream_wait_empty`), so this window adds to every fail-over (3 s measured about 2 s more).
BATCH, WITHIN_S = 4096, 1.0


async def send_row_updates(updates: Iterable[RowUpdate]) -> None:
    """A batch's changes, one per row, routed to the partitions that own the rows (key: item_id)."""
    rows = {u.item_id: {"mass": u.mass, "pairs": [list(p) for p in u.pairs]}
            for u in merge_updates(updates)}
    if rows:
        await send_by_partition(cooccurrence_updates, rows, settings.partitions)


def _row_update(item_id: str, value: dict[str, Any]) -> RowUpdate:
    return RowUpdate(item_id, value["mass"], tuple((str(o), float(k)) for o, k in value["pairs"]))


async def forget_rows(item_ids: Iterable[str]) -> None:
    """Tombstones for deleted items' rows, routed like their updates."""
    rows = {item: None for item in item_ids}
    if rows:
        await send_by_partition(cooccurrence_updates, rows, settings.partitions)


def stored_row(raw: bytes | None) -> bytes | None:
    """The co-occurrence row bytes of a `cooccurrence` table value (without its applied offset)."""
    return split_applied(raw)[1] if raw else None


@app.agent(cooccurrence_updates, concurrency=1)
async def on_row_updates(stream: StreamT[dict[str, Any]]) -> None:
    """The one writer of `cooccurrence`: read each row once per batch, add its changes, write it."""
    async for batch in take_events(stream, BATCH, within=WITHIN_S):
        metrics.batch_in("cooccurrence", (COOCCURRENCE_UPDATES for _ in batch))
        await guarded(batch, apply_batch, lambda e: e.message, "cooccurrence")


async def apply_batch(batch: Sequence[EventT]) -> None:
    for event, rows in by_partition_offsets(batch):
        as_current(event)  # the rows of this partition are written to its changelog
        applied: dict[str, int] = {}
        fresh: dict[str, list[tuple[int, Any]]] = {}
        for offset, item, value in rows:
            if item not in applied:
                raw = cooccurrence.get(item.encode())
                applied[item] = split_applied(raw)[0] if raw else -1
            if offset > applied[item]:  # else: a redelivered record, applied before
                fresh.setdefault(item, []).append((offset, value))
        for item, changes in fresh.items():
            key, newest = item.encode(), max(offset for offset, _ in changes)
            if any(value is None for _, value in changes):
                cooccurrence.pop(key, None)  # the item was deleted: forget its row
                continue
            update = merge_updates(_row_update(item, value) for _, value in changes)[0]
            old = stored_row(cooccurrence.get(key))
            cooccurrence[key] = with_applied(newest, apply_update_bytes(old, update, CONFIG))

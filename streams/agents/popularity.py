"""Popularity increments in, the `popularity` table (one decayed log key per item) out.

Every worker follows the table's changelog (streams/replica.py), so "popular right now" counts
the clicks of every partition, whichever worker handled them, and survives restarts. Each value
keeps the offset of the newest increment record applied to it (`"at"`), so a record redelivered
after a crash between the table write and the commit changes nothing twice
(docs/decisions/applied-offsets.md). An increment of None (a catalogue delete) is a tombstone:
the item's popularity is forgotten.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from faust.types import EventT, StreamT

from coldstart.ranking.popularity import merge_keys
from schemas.topics import POPULARITY
from streams import metrics
from streams.app import app, settings
from streams.faust_compat import as_current, take_events
from streams.guard import guarded
from streams.partitioned import by_partition_offsets, send_by_partition
from streams.tables import popularity
from streams.topics import popularity_counts

BATCH, WITHIN_S = 512, 1.0  # as the co-occurrence agent: each key written once per batch


async def send_popularity(keys: Mapping[str, tuple[float, int]]) -> None:
    """A batch's (log key, latest ts) increments, one record per partition that owns the items."""
    rows = {item: {"key": key, "ts": ts} for item, (key, ts) in keys.items()}
    if rows:
        await send_by_partition(popularity_counts, rows, settings.partitions)


async def forget_popularity(item_ids: Iterable[str]) -> None:
    """Tombstones for deleted items' popularity, routed like their increments."""
    rows = {item: None for item in item_ids}
    if rows:
        await send_by_partition(popularity_counts, rows, settings.partitions)


def read_key(raw: bytes | None) -> tuple[float | None, int]:
    """(log key, latest ts) from a `popularity` table value; (None, 0) for a tombstone."""
    if not raw:
        return None, 0
    data = json.loads(raw)
    return float(data["key"]), int(data["ts"])


def applied_at(raw: bytes | None) -> int:
    """The offset of the newest increment record in a `popularity` table value (-1: none)."""
    return int(json.loads(raw).get("at", -1)) if raw else -1


def table_value(key: float, ts: int, at: int = -1) -> bytes:
    return json.dumps({"key": key, "ts": ts, "at": at}, separators=(",", ":")).encode()


@app.agent(popularity_counts, concurrency=1)
async def on_popularity(stream: StreamT[dict[str, Any]]) -> None:
    """The one writer of `popularity`: a batch's increments log-added per item, each written once."""
    async for batch in take_events(stream, BATCH, within=WITHIN_S):
        metrics.batch_in("popularity", (POPULARITY for _ in batch))
        await guarded(batch, apply_batch, lambda e: e.message, "popularity")


async def apply_batch(batch: Sequence[EventT]) -> None:
    for event, rows in by_partition_offsets(batch):
        as_current(event)  # the items of this partition are written to its changelog
        fresh: dict[str, list[tuple[int, Any]]] = {}
        applied: dict[str, int] = {}
        for offset, item, add in rows:
            if item not in applied:
                applied[item] = applied_at(popularity.get(item.encode()))
            if offset > applied[item]:  # else: a redelivered record, applied before
                fresh.setdefault(item, []).append((offset, add))
        for item, changes in fresh.items():
            key = item.encode()
            newest = max(offset for offset, _ in changes)
            gone = [offset for offset, value in changes if value is None]  # the item was deleted
            after = [(item, value) for offset, value in changes if offset > max(gone, default=-1)]
            if not after:
                popularity.pop(key, None)  # a tombstone in the changelog
                continue
            add, ts = _sums(after)[item]
            old, old_ts = read_key(None if gone else popularity.get(key))
            popularity[key] = table_value(merge_keys(old, add), max(old_ts, ts), newest)


def _sums(rows: list[tuple[str, Any]]) -> dict[str, tuple[float, int]]:
    sums: dict[str, tuple[float, int]] = {}
    for item, add in rows:
        key, ts = float(add["key"]), int(add["ts"])
        if item in sums:
            key, ts = merge_keys(sums[item][0], key), max(sums[item][1], ts)
        sums[item] = (key, ts)
    return sums

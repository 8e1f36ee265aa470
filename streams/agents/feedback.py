"""Feedback counts (lists, items, ads shown and clicked) in, the `feedback` table out.

Each counter remembers the offset of the newest increment record applied to it ("at"), so a
record redelivered after a crash between the table write and the commit is not counted twice.
An increment of None (a catalogue delete) is a tombstone: the counter is forgotten.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from faust.types import EventT, StreamT

from schemas.topics import FEEDBACK
from streams import metrics
from streams.app import app, settings
from streams.faust_compat import as_current, take_events
from streams.guard import guarded
from streams.partitioned import by_partition_offsets, send_by_partition
from streams.tables import feedback
from streams.topics import feedback_counts

BATCH, WITHIN_S = 512, 1.0  # as the co-occurrence agent: each key written once per batch


async def send_feedback(counts: Mapping[str, tuple[int, int]]) -> None:
    """The batch's (shown, clicked) increments, one record per partition that owns their keys."""
    rows = {key: {"shown": shown, "clicked": clicked} for key, (shown, clicked) in counts.items()}
    if rows:
        await send_by_partition(feedback_counts, rows, settings.partitions)


def read_totals(raw: bytes | None) -> tuple[float, float]:
    """(shown, clicked) from a `feedback` table value."""
    data = json.loads(raw) if raw else {}
    return float(data.get("shown", 0)), float(data.get("clicked", 0))


async def forget_counters(keys: Iterable[str]) -> None:
    """Tombstones for counters of deleted items and ads ("item:<id>", "ad:<id>")."""
    rows = {key: None for key in keys}
    if rows:
        await send_by_partition(feedback_counts, rows, settings.partitions)


@app.agent(feedback_counts, concurrency=1)
async def on_feedback(stream: StreamT[dict[str, Any]]) -> None:
    """The one writer of `feedback`: a batch's increments summed per key, each key written once."""
    async for batch in take_events(stream, BATCH, within=WITHIN_S):
        metrics.batch_in("feedback", (FEEDBACK for _ in batch))
        await guarded(batch, apply_batch, lambda e: e.message, "feedback")


async def apply_batch(batch: Sequence[EventT]) -> None:
    for event, rows in by_partition_offsets(batch):
        as_current(event)  # the keys of this partition are written to its changelog
        totals: dict[str, dict[str, float] | None] = {}
        changed: set[str] = set()
        for offset, name, add in rows:
            if name not in totals:
                raw = feedback.get(name.encode())
                totals[name] = json.loads(raw) if raw else None
            row = totals[name]
            if add is None:  # the item or ad was deleted
                totals[name] = None
                changed.add(name)
                continue
            row = row if row is not None else {"shown": 0.0, "clicked": 0.0, "at": -1}
            if offset <= row.get("at", -1):
                continue  # a redelivered record, applied before
            totals[name] = {"shown": float(row.get("shown", 0)) + float(add["shown"]),
                            "clicked": float(row.get("clicked", 0)) + float(add["clicked"]),
                            "at": offset}
            changed.add(name)
        for name in changed:
            value = totals[name]
            if value is None:
                feedback.pop(name.encode(), None)
            else:
                feedback[name.encode()] = json.dumps(value).encode()

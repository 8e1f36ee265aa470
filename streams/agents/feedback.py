"""Feedback counts (lists, items, ads shown and clicked) in, the `feedback` table out."""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from faust.types import StreamT

from schemas.topics import FEEDBACK
from streams import metrics
from streams.app import app, settings
from streams.faust_compat import as_current, take_events
from streams.partitioned import by_partition, send_by_partition
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


@app.agent(feedback_counts, concurrency=1)
async def on_feedback(stream: StreamT[dict[str, Any]]) -> None:
    """The one writer of `feedback`: a batch's increments summed per key, each key written once."""
    async for batch in take_events(stream, BATCH, within=WITHIN_S):
        metrics.batch_in("feedback", (FEEDBACK for _ in batch))
        for event, rows in by_partition(batch):
            as_current(event)  # the keys of this partition are written to its changelog
            for name, (add_shown, add_clicked) in _sums(rows).items():
                key = name.encode()
                shown, clicked = read_totals(feedback.get(key))
                totals = {"shown": shown + add_shown, "clicked": clicked + add_clicked}
                feedback[key] = json.dumps(totals).encode()


def _sums(rows: list[tuple[str, Any]]) -> dict[str, tuple[float, float]]:
    sums: dict[str, tuple[float, float]] = {}
    for name, add in rows:
        shown, clicked = sums.get(name, (0.0, 0.0))
        sums[name] = (shown + float(add["shown"]), clicked + float(add["clicked"]))
    return sums

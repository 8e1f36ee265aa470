"""Feedback counts (lists, items, ads shown and clicked) in, the `feedback` table out."""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from faust.types import StreamT

from streams.app import app, settings
from streams.partitioned import rows_of, send_by_partition
from streams.tables import feedback
from streams.topics import feedback_counts


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
    """The one writer of `feedback`: add each increment to the key's running totals."""
    async for event in stream.events():
        for name, add in rows_of(event.key, event.value):
            key = name.encode()
            shown, clicked = read_totals(feedback.get(key))
            totals = {"shown": shown + float(add["shown"]),
                      "clicked": clicked + float(add["clicked"])}
            feedback[key] = json.dumps(totals).encode()

"""Feedback counts (lists, items, ads shown and clicked) in, the `feedback` table out."""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from faust.types import StreamT

from streams.app import app
from streams.tables import feedback
from streams.topics import feedback_counts


async def send_feedback(counts: Mapping[str, tuple[int, int]]) -> None:
    """One record per key with the batch's (shown, clicked) increments."""
    for key, (shown, clicked) in counts.items():
        await feedback_counts.send(key=key.encode(), value={"shown": shown, "clicked": clicked})


def read_totals(raw: bytes | None) -> tuple[float, float]:
    """(shown, clicked) from a `feedback` table value."""
    data = json.loads(raw) if raw else {}
    return float(data.get("shown", 0)), float(data.get("clicked", 0))


@app.agent(feedback_counts, concurrency=1)
async def on_feedback(stream: StreamT[dict[str, Any]]) -> None:
    """The one writer of `feedback`: add each increment to the key's running totals."""
    async for event in stream.events():
        key, add = event.key, event.value
        shown, clicked = read_totals(feedback.get(key))
        totals = {"shown": shown + float(add["shown"]), "clicked": clicked + float(add["clicked"])}
        feedback[key] = json.dumps(totals).encode()

"""Co-occurrence rows: clicks' row updates in, the `cooccurrence` table (one row per item) out."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from faust.types import StreamT

from coldstart.cooccurrence import CooccurrenceConfig, RowUpdate, apply_update_bytes
from streams.app import app
from streams.tables import cooccurrence
from streams.topics import cooccurrence_updates

CONFIG = CooccurrenceConfig()  # the engine's Cooccurrence uses the same defaults


async def send_row_updates(updates: Iterable[RowUpdate]) -> None:
    """Route each row's change to the partition that owns the row (key: item_id)."""
    for u in updates:
        value = {"item_id": u.item_id, "mass": u.mass, "pairs": [list(p) for p in u.pairs]}
        await cooccurrence_updates.send(key=u.item_id.encode(), value=value)


def _row_update(value: dict[str, Any]) -> RowUpdate:
    return RowUpdate(str(value["item_id"]), value["mass"],
                     tuple((str(o), float(k)) for o, k in value["pairs"]))


@app.agent(cooccurrence_updates, concurrency=1)
async def on_row_updates(stream: StreamT[dict[str, Any]]) -> None:
    """The one writer of `cooccurrence`: read the row, add the change, write it back."""
    async for value in stream:
        update = _row_update(value)
        key = update.item_id.encode()
        cooccurrence[key] = apply_update_bytes(cooccurrence.get(key), update, CONFIG)

"""Page views: one ad_slots event each, from the user's profile and the live ad inventory.

What was placed goes to the users agent (AD_PLACEMENTS), which remembers it in the user's served
log, so a later click can credit the ad, and counts its impressions there, once per placement_id
(a redelivered page view places the same ads again but counts nothing twice).
"""
from __future__ import annotations

from collections.abc import Sequence

from faust.types import EventT, StreamT

import schemas
from coldstart.errors import InvalidEventError
from coldstart.events import now_ms
from streams import metrics
from streams.app import app, settings
from streams.dead_letters import send_dead_letter
from streams.faust_compat import take_events
from streams.guard import guarded
from streams.state import state
from streams.tables import load_profile
from streams.topics import ad_placements, ad_slots, page_views


@app.agent(page_views, concurrency=1)
async def on_page_views(stream: StreamT[bytes]) -> None:
    """Read-only on profiles: ads follow the user's taste without waiting for the encoder."""
    await state.ready.wait()
    async for batch in take_events(stream, 128, within=0.005):
        await guarded(batch, handle_batch, lambda e: e.message, "page_views")


async def handle_batch(batch: Sequence[EventT]) -> None:
    valid = []
    now = now_ms()
    metrics.batch_in("ads", ("page_views" for _ in batch))
    for event in batch:
        try:
            valid.append(schemas.accept("page_views", event.message.value, event.message.key, now,
                                        *settings.ts_window_ms))
        except InvalidEventError as exc:
            await send_dead_letter(event.message, str(exc))
    engine = state.engine
    assert engine is not None
    users = {v["user_id"] for v in valid}
    loaded = {u: load_profile(u) for u in users}
    placed = engine.handle_page_views(valid, loaded)
    for out in placed:
        await ad_slots.send(key=out["user_id"].encode(), value=out)
        await ad_placements.send(key=out["user_id"].encode(), value=out)
    metrics.outputs_sent("ad_slots", placed)

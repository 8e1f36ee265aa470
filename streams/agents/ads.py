"""Page views: one ad_slots event each, from the user's profile and the live ad inventory.

What was placed counts as ad impressions (the feedback agent's table) and goes to the users agent
(AD_PLACEMENTS), which remembers it in the user's served log, so a later click can credit the ad.
"""
from __future__ import annotations

from collections.abc import Sequence

from faust.types import EventT, StreamT

import schemas
from coldstart.ads.feedback import impressions
from coldstart.errors import InvalidEventError
from streams import metrics
from streams.agents.feedback import send_feedback
from streams.app import app
from streams.dead_letters import send_dead_letter
from streams.faust_compat import take_events
from streams.state import state
from streams.tables import load_profile
from streams.topics import ad_placements, ad_slots, page_views


@app.agent(page_views, concurrency=1)
async def on_page_views(stream: StreamT[bytes]) -> None:
    """Read-only on profiles: ads follow the user's taste without waiting for the encoder."""
    await state.ready.wait()
    async for batch in take_events(stream, 128, within=0.005):
        await handle_batch(batch)


async def handle_batch(batch: Sequence[EventT]) -> None:
    valid = []
    metrics.batch_in("ads", ("page_views" for _ in batch))
    for event in batch:
        try:
            valid.append(schemas.decode("page_views", event.message.value))
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
    await send_feedback(impressions(placed))

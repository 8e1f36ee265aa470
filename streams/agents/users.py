"""Signups, searches, clicks, deletions and placed ads: the one agent that writes profiles and
served logs."""
from __future__ import annotations

from collections.abc import Sequence

from faust.types import EventT, StreamT

import schemas
from coldstart.errors import InvalidEventError
from streams.agents.cooccurrence import send_row_updates
from streams.agents.feedback import send_feedback
from streams.agents.popularity import send_popularity
from streams.app import app, settings
from streams.dead_letters import send_dead_letter
from streams.faust_compat import as_current, take_events
from streams.state import state
from streams.tables import load_profile, load_served, profiles, served, served_bytes
from streams.topics import event_kind, recommendations, user_events


@app.agent(user_events, concurrency=1)
async def on_user_events(stream: StreamT[bytes]) -> None:
    """Embed new words in one batch, update profiles, send (coalesced) recommendations."""
    await state.ready.wait()
    async for batch in take_events(stream, 64, within=settings.click_coalesce_ms / 1000):
        await handle_batch(batch)


async def handle_batch(batch: Sequence[EventT]) -> None:
    valid: list[tuple[str, dict]] = []
    sources: list[EventT] = []
    for event in batch:
        topic = event_kind(event.message.topic)
        try:
            valid.append((topic, schemas.decode(topic, event.message.value)))
            sources.append(event)
        except InvalidEventError as exc:
            await send_dead_letter(event.message, str(exc))
    if not valid:
        return
    engine = state.engine
    assert engine is not None
    by_user = {value["user_id"]: sources[i] for i, (_, value) in enumerate(valid)}
    loaded, logs = {}, {}
    for user, source in by_user.items():
        # A read, like a write, goes to the current event's partition: the user's own, not the
        # one the previous batch's last write left current (that read None: a lost profile).
        as_current(source)
        loaded[user], logs[user] = load_profile(user), load_served(user)
    result = engine.handle_users(valid, loaded, logs)
    for position, error in result.rejected:
        await send_dead_letter(sources[position].message, error)
    for user in result.deleted:
        as_current(by_user[user])
        profiles.pop(user.encode(), None)  # a tombstone in each changelog
        served.pop(user.encode(), None)
    for user, profile in result.profiles.items():
        as_current(by_user[user])
        profiles[user.encode()] = profile.to_bytes()
    for user, log in result.served.items():
        as_current(by_user[user])
        served[user.encode()] = served_bytes(log)
    for rec in result.recommendations:
        await recommendations.send(key=rec["user_id"].encode(), value=rec)
    await send_row_updates(result.cooccurrence)
    await send_feedback(result.feedback)
    await send_popularity(result.popularity)

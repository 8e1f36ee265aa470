"""Signups, searches, clicks, deletions and placed ads: the one agent that writes profiles and
served logs.

The engine works on a batch in a thread (torch and numpy release the GIL), so page views and the
replica keep the event loop meanwhile; `state.engine_lock` keeps the replica's changes to the
engine's learned state out of the way until the batch is done. Behind its stream, the agent
defers clicks' lists (streams/overload.py).
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from functools import partial

from faust.types import EventT, StreamT

import schemas
from coldstart.errors import InvalidEventError
from coldstart.events import now_ms
from streams import assignment, metrics
from streams.agents.cooccurrence import send_row_updates
from streams.agents.feedback import send_feedback
from streams.agents.popularity import send_popularity
from streams.app import app, settings
from streams.dead_letters import send_dead_letter
from streams.faust_compat import as_current, take_events
from streams.forget import barred_log, forget, load_barriers, remember, sweep_expired
from streams.guard import guarded
from streams.overload import LAG_S, OWED_S, Owed, lag_s
from streams.state import state
from streams.tables import load_profile, load_served, profiles, served, served_bytes
from streams.topics import contract_name, event_kind, recommendations, user_events

log = logging.getLogger(__name__)
BATCH = 64
owed = Owed()  # clicks' lists deferred while the agent is behind
_turn = asyncio.Lock()  # the agent's batches and the idle flush of owed lists, one at a time


@app.agent(user_events, concurrency=1)
async def on_user_events(stream: StreamT[bytes]) -> None:
    """Embed new words in one batch, update profiles, send (coalesced) recommendations."""
    await state.ready.wait()
    flush = asyncio.ensure_future(_flush_when_idle())
    try:
        async for batch in take_events(stream, BATCH, within=settings.coalesce_s):
            async with _turn:
                lagging = lag_s(batch, since=assignment.resumed_at) > LAG_S
                behind = owed.note_batch(len(batch) >= BATCH or lagging)
                await guarded(batch, partial(handle_batch, behind=behind), lambda e: e.message,
                              "users")
    finally:
        flush.cancel()


async def _flush_when_idle() -> None:
    """Owed lists go out when the stream falls quiet (no batch to carry them), OWED_PER_BATCH
    a call until none is owed; between two batches of a busy stream they stay owed."""
    while True:
        await asyncio.sleep(OWED_S / 4)
        while owed and owed.idle() and not _turn.locked():
            async with _turn:
                owed.caught_up()
                try:
                    await handle_batch([], behind=False)
                except Exception as exc:  # the lists stay owed to the users' next events
                    log.error("coldstart: owed lists not sent (%s)", type(exc).__name__)
                    break


async def handle_batch(batch: Sequence[EventT], behind: bool = False) -> None:
    valid: list[tuple[str, dict]] = []
    sources: list[EventT] = []
    now = now_ms()
    metrics.batch_in("users", (contract_name(e.message.topic) for e in batch))
    for event in batch:
        topic = event_kind(event.message.topic)
        try:
            valid.append((topic, schemas.accept(topic, event.message.value, event.message.key,
                                                now, *settings.ts_window_ms)))
            sources.append(event)
        except InvalidEventError as exc:
            await send_dead_letter(event.message, str(exc))
    by_user = {value["user_id"]: sources[i] for i, (_, value) in enumerate(valid)}
    taken = owed.take(set(by_user), behind, len(batch))
    if not valid and not taken:
        return
    engine = state.engine
    assert engine is not None
    by_user = {**{u: source for u, (_, source) in taken.items()}, **by_user}
    loaded, logs = {}, {}
    for user, source in by_user.items():
        # A read, like a write, goes to the current event's partition: the user's own, not the
        # one the previous batch's last write left current (that read None: a lost profile).
        as_current(source)
        loaded[user], logs[user] = load_profile(user), load_served(user)
    refresh = {u: r for u, (r, _) in taken.items()}
    barriers = load_barriers(by_user)
    try:
        async with state.engine_lock:
            result = await asyncio.get_running_loop().run_in_executor(
                state.users_thread, lambda: engine.handle_users(
                    valid, loaded, logs, barriers, refresh=refresh, defer_refresh=behind))
    except BaseException:  # the batch is retried (streams/guard.py); the taken lists stay owed
        owed.restore(taken)
        raise
    owed.settle(taken, result.deferred, by_user, result.deleted)
    barred_log(result.barred)
    for position, error in result.rejected:
        await send_dead_letter(sources[position].message, error)
    for user in result.deleted:
        as_current(by_user[user])
        profiles.pop(user.encode(), None)  # a tombstone in each changelog
        served.pop(user.encode(), None)
    remember(result.barriers, by_user)
    for user, profile in result.profiles.items():
        as_current(by_user[user])
        profiles[user.encode()] = profile.to_bytes()
    for user, log in result.served.items():
        as_current(by_user[user])
        served[user.encode()] = served_bytes(log)
    if result.deleted:  # a user deleted and back in one batch keeps only the new profile
        await forget({u: by_user[u] for u in result.deleted})
    sweep_expired(sources)
    for rec in result.recommendations:
        await recommendations.send(key=rec["user_id"].encode(), value=rec)
    metrics.outputs_sent("recommendations", result.recommendations)
    await send_row_updates(result.cooccurrence)
    await send_feedback(result.feedback)
    await send_popularity(result.popularity)

"""A batch that raises is not lost: its events are retried one at a time, those that still raise
become dead letters (naming the exception; for a user topic's event, its message only when it is the
product's own `ColdstartError`, since any other message may quote the event's text), and every other
one gets its output.

Faust's `take_events` acknowledges a batch when the agent's loop moves on, whatever happened to
it, so an exception that escaped an agent would lose the whole batch. Every agent, the catalogue
replica and the model switch hand their batches to `guarded` instead. A retried event may repeat
outputs the failed attempt already sent (at-least-once); state changes are idempotent (seen event
ids, applied offsets), so none is counted twice.
"""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from coldstart.errors import ColdstartError
from schemas.topics import PRIVATE_TOPICS
from streams.dead_letters import Message, send_dead_letter
from streams.topics import contract_name

log = logging.getLogger(__name__)
T = TypeVar("T")
MAX_ERROR = 300


async def guarded(batch: Sequence[T], handle: Callable[[Sequence[T]], Awaitable[object]],
                  message: Callable[[T], Message], what: str) -> None:
    """`await handle(batch)`; if it raises, `handle([item])` for each item, and a dead letter for
    each item that raises alone. `what` names the step in logs and errors."""
    try:
        await handle(batch)
        return
    except Exception as exc:
        if len(batch) > 1:
            log.error("coldstart: %s: a batch of %d raised %s; retrying its events one at a time",
                      what, len(batch), _describe(exc))
        else:
            await _dead_letter(message(batch[0]), what, exc)
            return
    for item in batch:
        try:
            await handle([item])
        except Exception as exc:
            await _dead_letter(message(item), what, exc)


async def _dead_letter(message: Message, what: str, exc: BaseException) -> None:
    """A user topic's dead letter keeps no user text: of an exception that is not a ColdstartError
    (whose messages echo no values), only the type, since its message may quote a value (a
    KeyError's key, a ValueError's text)."""
    private = contract_name(str(getattr(message, "topic", ""))) in PRIVATE_TOPICS
    shown = not private or isinstance(exc, ColdstartError)
    error = _describe(exc) if shown else f"{type(exc).__name__} (message not shown)"
    await send_dead_letter(message, f"{what}: {error}")


def _describe(exc: BaseException) -> str:
    text = str(exc).replace("\n", " ")
    text = text if len(text) <= MAX_ERROR else text[: MAX_ERROR - 3] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__

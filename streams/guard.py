"""A batch that raises is not lost: its events are retried one at a time, those that still raise
become dead letters (with the exception's message), and every other one gets its output.

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

from streams.dead_letters import Message, send_dead_letter

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
            await send_dead_letter(message(batch[0]), f"{what}: {_describe(exc)}")
            return
    for item in batch:
        try:
            await handle([item])
        except Exception as exc:
            await send_dead_letter(message(item), f"{what}: {_describe(exc)}")


def _describe(exc: BaseException) -> str:
    text = str(exc).replace("\n", " ")
    text = text if len(text) <= MAX_ERROR else text[: MAX_ERROR - 3] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__

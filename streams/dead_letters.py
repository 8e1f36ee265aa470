"""Bad events become `dead_letters` records: where they came from, what they held, what was wrong."""
from __future__ import annotations

import logging
from typing import Any, Protocol

from coldstart.events import now_ms
from streams import metrics
from streams.topics import contract_name, dead_letters

log = logging.getLogger(__name__)
MAX_PAYLOAD_CHARS = 16_384  # schemas/dead_letters.json


class Message(Protocol):
    """What Faust's messages and aiokafka's consumer records both have."""

    topic: str
    partition: int
    offset: int
    key: Any
    value: Any


def dead_letter(message: Message, error: str) -> dict[str, Any]:
    return {
        "source_topic": contract_name(message.topic),
        "partition": message.partition,
        "offset": message.offset,
        "key": _text(message.key)[:1024],
        "payload": _shorten(_text(message.value)),
        "error": error[:1000] or "invalid event",
        "ts": now_ms(),
    }


async def send_dead_letter(message: Message, error: str) -> None:
    """Send one record to dead_letters; the log line names the place, never the user's text."""
    letter = dead_letter(message, error)
    metrics.dead_letter(letter)
    log.warning("dead letter from %s[%s]@%s: %s", letter["source_topic"], letter["partition"],
                letter["offset"], letter["error"][:200])
    await dead_letters.send(key=message.key or b"", value=letter)


def _text(raw: Any) -> str:
    if raw is None:
        return ""
    if isinstance(raw, bytes):
        return raw.decode("utf-8", errors="replace")
    return str(raw)


def _shorten(text: str) -> str:
    if len(text) <= MAX_PAYLOAD_CHARS:
        return text
    marker = f"... [{len(text) - MAX_PAYLOAD_CHARS + 64} more characters]"
    return text[: MAX_PAYLOAD_CHARS - len(marker)] + marker

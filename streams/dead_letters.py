"""Bad events become `dead_letters` records: where they came from, what was wrong, and what they
held, without the values when the record is about a user.

A dead letter from a user topic (`schemas.topics.PRIVATE_TOPICS`) keeps the place (topic,
partition, offset), the error, the record's shape (each top-level field's name, JSON type and
length, in `payload` as text and in `fields`) and an HMAC of its key (`key_hmac`), never the
values. A catalogue or ads dead letter keeps its key and its value as text, shortened. Building
and sending one never raises: every part is bounded, and a failed send is logged, by place only.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
import secrets
from pathlib import Path
from typing import Any, Protocol

from coldstart.config import Settings
from coldstart.events import now_ms
from schemas.topics import PRIVATE_TOPICS
from streams import metrics
from streams.app import settings
from streams.topics import contract_name, dead_letters

log = logging.getLogger(__name__)
MAX_PAYLOAD_CHARS = 16_384  # schemas/dead_letters.json
MAX_KEY_CHARS = 1024
MAX_ERROR_CHARS = 1000
MAX_FIELDS = 100  # fields described in a user topic's dead letter; the rest are counted
MAX_NAME_CHARS = 100
SEND_TRIES = 3


class Message(Protocol):
    """What Faust's messages and aiokafka's consumer records both have."""

    topic: str
    partition: int
    offset: int
    key: Any
    value: Any


class KeyHasher:
    """HMAC-SHA256 of record keys, with COLDSTART_HASH_KEY or a random secret kept in the data dir
    (created once, mode 0600), so a key's hash is stable on one worker and unguessable without it."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._secret: bytes | None = settings.hash_key.encode() if settings.hash_key else None

    def __call__(self, key: bytes) -> str:
        if self._secret is None:
            self._secret = _local_secret(self._settings.data_dir / "hash_key")
        return hmac.new(self._secret, key, hashlib.sha256).hexdigest()[:32]


def _local_secret(path: Path) -> bytes:
    try:
        return path.read_bytes().strip() or _new_secret(path)
    except FileNotFoundError:
        return _new_secret(path)


def _new_secret(path: Path) -> bytes:
    secret = secrets.token_hex(32).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_bytes(secret)
    tmp.chmod(0o600)
    try:
        os.link(tmp, path)  # another process may have won: keep its secret
    except FileExistsError:
        return path.read_bytes().strip() or secret
    finally:
        tmp.unlink(missing_ok=True)
    return secret


def dead_letter(message: Message, error: str, source_topic: str,
                hash_key: KeyHasher) -> tuple[bytes, dict[str, Any]]:
    """The record key and value of the dead letter for `message` (`source_topic`: its contract
    name). User topics: the key is the HMAC of the original key, the payload its shape."""
    key = _bytes(message.key)
    private = source_topic in PRIVATE_TOPICS
    letter: dict[str, Any] = {
        "source_topic": source_topic[:249] or "unknown",
        "partition": max(int(message.partition), 0),
        "offset": max(int(message.offset), 0),
        "key": "" if private else _shorten(_text(key), MAX_KEY_CHARS),
        "payload": "",
        "error": _shorten(error, MAX_ERROR_CHARS) or "invalid event",
        "ts": now_ms(),
        "key_bytes": len(key),
        "payload_bytes": len(_bytes(message.value)),
    }
    if key:
        letter["key_hmac"] = hash_key(key)
    if private:
        letter["fields"], letter["payload"] = _shape(_bytes(message.value))
        out_key = letter.get("key_hmac", "").encode()
    else:
        letter["payload"] = _shorten(_text(_bytes(message.value)), MAX_PAYLOAD_CHARS)
        out_key = key[:MAX_KEY_CHARS]
    return out_key, letter


async def send_dead_letter(message: Message, error: str) -> None:
    """Send one record to dead_letters; the log line names the place, never the user's text.
    Never raises: a dead letter that cannot be sent after SEND_TRIES is logged and dropped."""
    try:
        source = contract_name(str(message.topic))
        key, letter = dead_letter(message, str(error), source, _hasher(settings))
    except Exception as exc:  # a message object we cannot read at all
        log.error("coldstart: cannot build a dead letter (%s: %s)", type(exc).__name__, exc)
        return
    metrics.dead_letter(letter)
    log.warning("dead letter from %s[%s]@%s: %s", letter["source_topic"], letter["partition"],
                letter["offset"], letter["error"][:200])
    for attempt in range(SEND_TRIES):
        try:
            await dead_letters.send(key=key, value=letter)
            return
        except Exception as exc:
            log.error("coldstart: dead letter for %s[%s]@%s not sent (try %d: %s: %s)",
                      letter["source_topic"], letter["partition"], letter["offset"], attempt + 1,
                      type(exc).__name__, str(exc)[:200])
            await asyncio.sleep(0.5 * 2 ** attempt)


_HASHERS: dict[int, KeyHasher] = {}


def _hasher(settings: Settings) -> KeyHasher:
    return _HASHERS.setdefault(id(settings), KeyHasher(settings))  # one secret per settings


def _shape(raw: bytes) -> tuple[dict[str, dict[str, Any]], str]:
    """Each top-level field's JSON type and length, as an object and as the payload's text."""
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return {}, f"(not shown: {len(raw):,} bytes that are not a JSON object)"
    if not isinstance(value, dict):
        return {}, f"(not shown: a JSON {_type(value)}, {len(raw):,} bytes)"
    fields = {}
    for name, found in list(value.items())[:MAX_FIELDS]:
        entry: dict[str, Any] = {"type": _type(found)}
        if isinstance(found, (str, list, dict)):
            entry["length"] = len(found)
        fields[str(name)[:MAX_NAME_CHARS]] = entry
    described = ", ".join(f"{n}: {e['type']}" + (f"({e['length']})" if "length" in e else "")
                          for n, e in fields.items())
    more = len(value) - len(fields)
    text = "{" + described + (f", ... {more} more fields" if more > 0 else "") + "} (values not shown)"
    return fields, _shorten(text, MAX_PAYLOAD_CHARS)


def _type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return {str: "string", list: "array", dict: "object", type(None): "null"}.get(type(value), "unknown")


def _bytes(raw: Any) -> bytes:
    if raw is None:
        return b""
    if isinstance(raw, (bytes, bytearray, memoryview)):
        return bytes(raw)
    return str(raw).encode("utf-8", errors="replace")


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")


def _shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    marker = f"... [{len(text) - limit + 64} more characters]"
    return text[: limit - len(marker)] + marker

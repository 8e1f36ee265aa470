"""Replay JSON-lines files into topics and record topics back to JSON lines (kafka-python)."""
from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError
from tqdm import tqdm

from coldstart.config import Settings
from coldstart.errors import ColdstartError
from schemas.topics import KEY_FIELDS

TOPIC_KEYS: dict[str, str] = KEY_FIELDS  # the field each topic is keyed by
MAX_BYTES = 8 * 1024 * 1024
POLL_MS = 200
Until = Callable[[list[dict[str, Any]]], bool]
BOOTSTRAP_MS = 10000  # how long an unreachable broker is waited for


def replay(path: Path, topic: str, *, rate: float = 0.0, key_field: str | None = None,
           settings: Settings | None = None, quiet: bool = False) -> int:
    """Produce each non-blank line of `path` as-is to `topic` (prefix applied); return the count."""
    settings = settings or Settings.from_env()
    real, field = settings.topic(topic), key_field or TOPIC_KEYS.get(topic)
    lines = _lines(path)
    producer = _connect(settings.bootstrap_servers, lambda b: KafkaProducer(
        bootstrap_servers=b, acks="all", linger_ms=5, max_request_size=MAX_BYTES,
        max_block_ms=30000, bootstrap_timeout_ms=BOOTSTRAP_MS, client_id="coldstart-replay"))
    failures: list[Exception] = []
    keyless: list[int] = []
    start = time.monotonic()
    try:
        for n, (lineno, raw) in enumerate(_progress(lines, "replay", quiet)):
            _pace(start, n, rate)
            key = _key(raw, field)
            if key is None and field:
                keyless.append(lineno)
            _send(producer, real, key, raw, failures, settings.bootstrap_servers)
        _broker_call(producer.flush, settings.bootstrap_servers)
    finally:
        producer.close(timeout=5)
    if failures:
        raise ColdstartError(f"broker {settings.bootstrap_servers} refused {len(failures)} of "
                             f"{len(lines)} events to {real}; first: {failures[0]!r}")
    _warn_keyless(keyless, field, quiet)
    _summary(f"replayed {len(lines)} events to {real}", len(lines), start, quiet)
    return len(lines)


def record(topic: str, out: Path, *, follow: bool = False, timeout: float = 5.0, limit: int = 0,
           settings: Settings | None = None, quiet: bool = False) -> int:
    """Write what `topic` (prefix applied) holds as JSON lines; stop when idle or at `limit`."""
    settings = settings or Settings.from_env()
    real, count, start = settings.topic(topic), 0, time.monotonic()
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8", buffering=1 if follow else -1) as sink:
        values = _values(real, settings.bootstrap_servers, None if follow else timeout, limit)
        for value in _progress(values, "record", quiet):
            sink.write(compact_json(value) + "\n")
            count += 1
    _summary(f"recorded {count} events from {real} to {out}", count, start, quiet)
    return count


def read_topic(topic: str, *, bootstrap: str, timeout: float = 5.0, limit: int = 0,
               until: Until | None = None) -> Iterator[dict[str, Any]]:
    """Events of the real (prefixed) `topic` from the beginning of every partition.

    Ends after `timeout` idle seconds, `limit` events, or once `until(events so far)` is true
    (checked after each fetched batch). Values that are not JSON objects come as {"_raw": text}.
    """
    events: list[dict[str, Any]] = []
    done = (lambda: until(events)) if until else (lambda: False)
    for value in _values(topic, bootstrap, timeout, limit, done):
        event = value if isinstance(value, dict) else {"_raw": json.dumps(value)}
        events.append(event)
        yield event


def decode_value(raw: bytes | None) -> Any:
    """A record value as JSON, else {"_raw": text} (replacement characters), {"_raw": null} if none."""
    if raw is None:
        return {"_raw": None}
    text = raw.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        return {"_raw": text}


def compact_json(value: Any) -> str:
    """One-line JSON, non-ASCII kept as is unless a lone surrogate forces escapes."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value, separators=(",", ":"))
    return text


# --- producing ---------------------------------------------------------------------------------

def _lines(path: Path) -> list[tuple[int, bytes]]:
    try:
        with path.open("rb") as source:
            return [(i, line.rstrip(b"\r\n")) for i, line in enumerate(source, 1) if line.strip()]
    except OSError as error:
        raise ColdstartError(f"cannot read {path}: {error.strerror or error}") from None


def _key(raw: bytes, field: str | None) -> bytes | None:
    if not field:
        return None
    try:
        value = json.loads(raw.decode("utf-8", errors="replace"))
    except ValueError:
        return None
    key = value.get(field) if isinstance(value, dict) else None
    if isinstance(key, bool) or not isinstance(key, (str, int, float)) or key == "":
        return None
    return str(key).encode("utf-8")


def _pace(start: float, n: int, rate: float) -> None:
    """Sleep until event `n` is due at `rate` events/s, measured from `start` (no drift)."""
    if rate > 0:
        delay = start + n / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)


def _send(producer: KafkaProducer, topic: str, key: bytes | None, raw: bytes,
          failures: list[Exception], bootstrap: str) -> None:
    future = _broker_call(lambda: producer.send(topic, key=key, value=raw), bootstrap)
    future.add_errback(failures.append)


def _warn_keyless(lines: list[int], field: str | None, quiet: bool) -> None:
    if lines and not quiet:
        shown = ", ".join(map(str, lines[:10])) + (", ..." if len(lines) > 10 else "")
        print(f"warning: {len(lines)} lines are not JSON objects with a '{field}' "
              f"(sent with a null key): line {shown}", file=sys.stderr)


# --- consuming ---------------------------------------------------------------------------------

def _values(topic: str, bootstrap: str, idle: float | None, limit: int,
            done: Callable[[], bool] = lambda: False) -> Iterator[Any]:
    """Decoded values from the beginning of every partition; `idle` None means follow forever."""
    consumer = _connect(bootstrap, lambda b: KafkaConsumer(
        bootstrap_servers=b, group_id=None, enable_auto_commit=False,
        auto_offset_reset="earliest", max_partition_fetch_bytes=MAX_BYTES + 1024,
        fetch_max_bytes=4 * MAX_BYTES, bootstrap_timeout_ms=BOOTSTRAP_MS,
        client_id="coldstart-record"))
    try:
        count, last = 0, time.monotonic()
        while idle is None or time.monotonic() - last < idle:
            if not consumer.assignment() and not _assign(consumer, topic, bootstrap):
                time.sleep(POLL_MS / 1000)
                continue
            batches = _broker_call(lambda: consumer.poll(timeout_ms=POLL_MS), bootstrap)
            for records in batches.values():
                last = time.monotonic()
                for message in records:
                    yield decode_value(message.value)
                    count += 1
                    if count == limit:
                        return
            if batches and done():
                return
    finally:
        consumer.close()


def _assign(consumer: KafkaConsumer, topic: str, bootstrap: str) -> bool:
    partitions = _broker_call(lambda: consumer.partitions_for_topic(topic), bootstrap)
    if not partitions:
        return False
    parts = [TopicPartition(topic, p) for p in sorted(partitions)]
    consumer.assign(parts)
    consumer.seek_to_beginning(*parts)
    return True


# --- shared ------------------------------------------------------------------------------------

def _connect(bootstrap: str, make: Callable[[str], Any]) -> Any:
    try:
        return make(bootstrap)
    except KafkaError as error:
        raise ColdstartError(f"cannot reach the Kafka broker at {bootstrap} ({error!r}); "
                             "is it running? try `coldstart broker status`") from None


def _broker_call(call: Callable[[], Any], bootstrap: str) -> Any:
    try:
        return call()
    except KafkaError as error:
        raise ColdstartError(f"Kafka broker {bootstrap}: {error!r}") from None


def _progress(items: Any, what: str, quiet: bool) -> Any:
    total = len(items) if isinstance(items, list) else None
    return tqdm(items, total=total, desc=what, unit="ev", file=sys.stderr, mininterval=0.5,
                disable=quiet or not sys.stderr.isatty(), leave=False)


def _summary(text: str, count: int, start: float, quiet: bool) -> None:
    seconds = time.monotonic() - start
    if not quiet:
        rate = count / max(seconds, 1e-9)
        print(f"{text} in {seconds:.2f} s ({rate:,.0f} ev/s)", file=sys.stderr)

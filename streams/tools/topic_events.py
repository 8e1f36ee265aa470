"""Logged events read straight from the broker, for `coldstart finetune --from-topics`.

`user_deletions` is read beside them (DELETIONS), so training leaves deleted users out
(coldstart/privacy.py: without_deleted).

Each topic is read from the beginning of every partition up to its end offset at the start of
the read (what arrives later is left for the next run), with a progress bar. Values are
validated with the topic's schema; the ones that fail are skipped and counted, as the worker
would have dead-lettered them. The library gets plain event dicts (streams/tools/finetune.py).
"""
from __future__ import annotations

import sys
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from tqdm import tqdm

import schemas
from coldstart.config import Settings
from coldstart.errors import ColdstartError, InvalidEventError

LOGGED = ("catalog", "signups", "searches", "clicks")  # what fine-tuning pairs are made from
DELETIONS = "user_deletions"  # whose events training must leave out
MAX_BYTES = 8 * 1024 * 1024


def read_logged_events(settings: Settings | None = None, topics: tuple[str, ...] = LOGGED,
                       progress: bool = True) -> dict[str, list[dict[str, Any]]]:
    """Contract topic name -> its valid events, partition by partition in offset order."""
    settings = settings or Settings.from_env()
    consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers, group_id=None,
                             enable_auto_commit=False, auto_offset_reset="earliest",
                             max_partition_fetch_bytes=MAX_BYTES, consumer_timeout_ms=1000)
    try:
        ranges = _ranges(consumer, settings, topics)
        total = sum(end - start for start, end in ranges.values())
        bar = tqdm(total=total, desc="reading topics", unit="ev", disable=not progress,
                   file=sys.stderr)
        events: dict[str, dict[int, list[dict[str, Any]]]] = {t: {} for t in topics}
        skipped = 0
        consumer.assign(list(ranges))
        for tp, (start, _) in ranges.items():
            consumer.seek(tp, start)
        left = {tp for tp, (start, end) in ranges.items() if end > start}
        while left:
            for tp, records in consumer.poll(timeout_ms=1000, max_records=2000).items():
                topic, end = _contract(tp.topic, settings), ranges[tp][1]
                for record in records:
                    if record.offset >= end:
                        break
                    bar.update(1)
                    try:
                        event = schemas.decode(topic, record.value)
                    except InvalidEventError:
                        skipped += 1
                        continue
                    events[topic].setdefault(tp.partition, []).append(event)
                if consumer.position(tp) >= end:
                    left.discard(tp)
                    consumer.pause(tp)
        bar.close()
    finally:
        consumer.close()
    if progress:
        counts = ", ".join(f"{t} {sum(map(len, p.values()))}" for t, p in events.items())
        print(f"read {counts} events ({skipped} invalid, skipped)", file=sys.stderr)
    return {t: [e for p in sorted(parts) for e in parts[p]] for t, parts in events.items()}


def _ranges(consumer: KafkaConsumer, settings: Settings,
            topics: tuple[str, ...]) -> dict[TopicPartition, tuple[int, int]]:
    """(first offset, end offset now) of every partition of the (prefixed) topics."""
    partitions = []
    for topic in topics:
        found = consumer.partitions_for_topic(settings.topic(topic))
        if not found:
            raise ColdstartError(f"expected topic {settings.topic(topic)} on "
                                 f"{settings.bootstrap_servers}, found none (check "
                                 "COLDSTART_BROKER and COLDSTART_TOPIC_PREFIX)")
        partitions += [TopicPartition(settings.topic(topic), p) for p in sorted(found)]
    starts = consumer.beginning_offsets(partitions)
    ends = consumer.end_offsets(partitions)
    return {tp: (starts[tp], ends[tp]) for tp in partitions}


def _contract(topic: str, settings: Settings) -> str:
    return topic[len(settings.topic_prefix):]

"""A batch's keyed values in one record per partition, not one record per key.

A click batch changes hundreds of co-occurrence rows and feedback counters. As a record each they
were most of the worker's Kafka work. Grouped by the partition Kafka's default partitioner gives
each key, they land exactly where records keyed one by one would: the agent that reads partition p
owns those keys' table rows, and a table write goes to the current record's partition.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, cast

from aiokafka.partitioner import murmur2
from faust.types import EventT, TopicT

ROWS = "rows"  # the record value: {"rows": {key: value, ...}}


def partition_for(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner (murmur2, as aiokafka and the Java client) picks."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


async def send_by_partition(topic: TopicT, values: Mapping[str, Any], partitions: int) -> None:
    """One record per partition that any key of `values` maps to."""
    grouped: dict[int, dict[str, Any]] = {}
    for key, value in values.items():
        grouped.setdefault(partition_for(key.encode(), partitions), {})[key] = value
    for partition, rows in sorted(grouped.items()):
        await topic.send(key=f"p{partition}".encode(), value={ROWS: rows}, partition=partition)


def rows_of(key: bytes | None, value: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    """(key, value) pairs of a grouped record, or of a single keyed record (the older form)."""
    rows = value.get(ROWS)
    if isinstance(rows, Mapping):
        yield from rows.items()
    elif key is not None:
        yield key.decode(), value


def by_partition(batch: Sequence[EventT]) -> Iterator[tuple[EventT, list[tuple[str, Any]]]]:
    """A batch's rows per source partition, with one event of that partition (to make current,
    so table reads and writes go to the partition that owns the rows), in arrival order."""
    grouped: dict[int, tuple[EventT, list[tuple[str, Any]]]] = {}
    for event in batch:
        entry = grouped.setdefault(event.message.partition, (event, []))
        entry[1].extend(rows_of(event.key, cast(Mapping[str, Any], event.value)))
    yield from grouped.values()

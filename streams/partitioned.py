"""A batch's keyed values in one record per partition, not one record per key.

A click batch changes hundreds of co-occurrence rows and feedback counters. As a record each they
were most of the worker's Kafka work. Grouped by the partition Kafka's default partitioner gives
each key, they land exactly where records keyed one by one would: the agent that reads partition p
owns those keys' table rows, and a table write goes to the current record's partition.
"""
from __future__ import annotations

import struct
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, cast

from aiokafka.partitioner import murmur2
from faust.types import EventT, TopicT

ROWS = "rows"  # the record value: {"rows": {key: value, ...}}
# A table row written from these records remembers the offset of the newest record applied to
# it (rows of partition p only ever come from partition p, in offset order), so a redelivered
# record, one at or below that offset, changes nothing twice. Bytes rows carry it in front.
_APPLIED, _APPLIED_HEAD = b"CSO", "<3sq"
_APPLIED_SIZE = struct.calcsize(_APPLIED_HEAD)


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


def by_partition_offsets(batch: Sequence[EventT]
                         ) -> Iterator[tuple[EventT, list[tuple[int, str, Any]]]]:
    """Like `by_partition`, each row with the offset of the record that carried it."""
    grouped: dict[int, tuple[EventT, list[tuple[int, str, Any]]]] = {}
    for event in batch:
        entry = grouped.setdefault(event.message.partition, (event, []))
        offset = event.message.offset
        entry[1].extend((offset, k, v) for k, v in
                        rows_of(event.key, cast(Mapping[str, Any], event.value)))
    yield from grouped.values()


def with_applied(offset: int, data: bytes) -> bytes:
    """A bytes row and the offset of the newest record applied to it, as the table stores them."""
    return struct.pack(_APPLIED_HEAD, _APPLIED, offset) + data


def split_applied(raw: bytes) -> tuple[int, bytes]:
    """(offset of the newest record applied, the row); -1 for a row stored without one."""
    if raw[:3] == _APPLIED and len(raw) >= _APPLIED_SIZE:
        return struct.unpack_from(_APPLIED_HEAD, raw)[1], raw[_APPLIED_SIZE:]
    return -1, raw

"""Grouped records must land where records keyed one by one would, or a row gets two writers."""
from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner

from streams.partitioned import partition_for, rows_of


def test_partition_for_agrees_with_the_producers_default_partitioner() -> None:
    partitioner = DefaultPartitioner()
    for partitions in (1, 2, 4, 7):
        every = list(range(partitions))
        for i in range(500):
            key = f"item-{i}-é".encode()
            assert partition_for(key, partitions) == partitioner(key, every, every)


def test_rows_of_reads_grouped_and_single_records() -> None:
    assert list(rows_of(b"p1", {"rows": {"a": {"x": 1}, "b": {"x": 2}}})) == [
        ("a", {"x": 1}), ("b", {"x": 2})]
    assert list(rows_of(b"a", {"x": 1})) == [("a", {"x": 1})]  # written before grouping

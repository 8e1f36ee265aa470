"""Tables on disk: a per-user table's deleted key leaves RocksDB's files at once, no copy of a
partition the worker no longer serves stays behind, and a rebalance costs no needless garbage
collection (real Faust store, real RocksDB, no broker)."""
from __future__ import annotations

import gc
import os
import time
from collections.abc import Callable
from pathlib import Path

import faust
import pytest
from faust.types import TP

from streams.faust_compat import (
    ForgetfulStore,
    RocksStore,
    compact_keys,
    forgetful_store,
    reopen,
    rocks_store,
    take_tombstoned,
)

KEY = b"u-forget-me-1234"


@pytest.fixture
def table(tmp_path: Path) -> faust.Table:
    app = faust.App("forget-test", store="rocksdb://", datadir=str(tmp_path), autodiscover=False)
    return app.Table("people", key_type=bytes, value_type=bytes, partitions=2,
                     store=forgetful_store("people"))


def files_holding(path: Path, needle: bytes) -> list[str]:
    return [p.name for p in path.rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_a_per_user_table_gets_the_forgetful_store_under_its_own_name(table: faust.Table) -> None:
    assert isinstance(table.data, ForgetfulStore)
    assert Path(table.data.partition_path(0)).name == "people-0.db"


def test_a_deleted_key_leaves_every_file_after_compaction_and_reopen(table: faust.Table) -> None:
    store = table.data
    db = store._db_for_partition(0)
    for i in range(200):
        db.put(f"other-{i:04d}".encode(), b"x" * 100)
    db.put(KEY, b"profile bytes")
    db.flush()
    db.delete(KEY)
    path = Path(store.partition_path(0))
    assert files_holding(path, KEY), "a delete alone leaves the key in the files"
    compact_keys(table, 0, [KEY])
    reopen(table, 0)
    assert files_holding(path, KEY) == []
    assert store._dbs[0].get(b"other-0007") == b"x" * 100  # the rest is untouched


def changelog_event(table: faust.Table, offset: int, key: bytes, value: bytes | None) -> faust.Event:
    topic = table.changelog_topic.get_topic_name()
    message = faust.types.Message(topic, 1, offset, time.time(), 0, [], key, value, None,
                                  tp=TP(topic, 1))
    return faust.Event(table.app, key, value, [], message)


def test_a_copy_written_from_the_changelog_notes_its_tombstones_for_compaction(
        table: faust.Table) -> None:
    """A standby (or recovering) copy takes a deletion as a plain delete: the key is noted,
    once, and compacting it then leaves no trace in that copy's files."""
    store = table.data
    for i in range(200):
        store._db_for_partition(1).put(f"other-{i:04d}".encode(), b"x" * 100)
    store._db_for_partition(1).flush()
    table.apply_changelog_batch([changelog_event(table, 0, KEY, b"profile bytes")])
    store._db_for_partition(1).flush()
    table.apply_changelog_batch([changelog_event(table, 1, b"other-0001", b"y"),
                                 changelog_event(table, 2, KEY, None)])
    path = Path(store.partition_path(1))
    assert files_holding(path, KEY), "the tombstone alone leaves the value in the files"
    noted = take_tombstoned(table)
    assert noted == {1: {KEY}} and take_tombstoned(table) == {}
    compact_keys(table, 1, noted[1])
    reopen(table, 1)
    assert files_holding(path, KEY) == []
    assert store._dbs[1].get(b"other-0001") == b"y"


def test_a_revoked_partition_leaves_no_copy_on_disk(table: faust.Table) -> None:
    store = table.data
    for partition in (0, 1):
        store._db_for_partition(partition).put(KEY, b"v")
    store._key_index[KEY] = 0
    store.revoke_partitions(table, {TP(table.changelog_topic.get_topic_name(), 0)})
    assert not Path(store.partition_path(0)).exists() and Path(store.partition_path(1)).exists()
    assert list(store._dbs) == [1] and KEY not in store._key_index


def test_a_copy_older_than_the_tombstones_retention_is_rebuilt(table: faust.Table) -> None:
    store = table.data
    store._db_for_partition(0).put(KEY, b"stale")
    store._dbs.pop(0)
    old = time.time() - 2 * ForgetfulStore.max_idle_s
    for p in Path(store.partition_path(0)).rglob("*"):
        os.utime(p, (old, old))
    assert store._db_for_partition(0).get(KEY) is None


@pytest.fixture
def shared_table(tmp_path: Path) -> faust.Table:
    app = faust.App("shared-test", store="rocksdb://", datadir=str(tmp_path), autodiscover=False)
    return app.Table("items", key_type=bytes, value_type=bytes, partitions=2,
                     store=rocks_store("items"))


def collections_during(run: Callable[[], None]) -> int:
    """How many garbage collections ran while `run` did (gc.callbacks sees every one)."""
    started: list[int] = []

    def note(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started.append(info["generation"])

    gc.callbacks.append(note)
    try:
        run()
    finally:
        gc.callbacks.remove(note)
    return len([g for g in started if g == 2])


def test_a_rebalance_that_revokes_nothing_runs_no_full_collection(
        shared_table: faust.Table) -> None:
    """Faust collects garbage per table at every rebalance (250 ms each in a worker); the
    survivor of a fail-over revokes nothing and should not stall for it."""
    store = shared_table.data
    assert isinstance(store, RocksStore) and not isinstance(store, ForgetfulStore)
    assert Path(store.partition_path(0)).name == "items-0.db"  # where rocksdb:// put it
    store._db_for_partition(0).put(KEY, b"v")
    gc.disable()  # only the store's own collections count
    try:
        assert collections_during(lambda: store.revoke_partitions(shared_table, set())) == 0
        revoked = {TP(shared_table.changelog_topic.get_topic_name(), 0)}
        assert collections_during(lambda: store.revoke_partitions(shared_table, revoked)) == 1
    finally:
        gc.enable()
    assert list(store._dbs) == []
    assert store._db_for_partition(0).get(KEY) == b"v"  # closed, so it opens again, data kept

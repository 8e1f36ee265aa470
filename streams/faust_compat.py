"""Every reach into Faust, mode and aiokafka internals, in one place, each with its reason.

tests/unit/streams/test_faust_compat.py fails loudly when an upgrade removes or renames one of
the names used here; nothing else in the product touches a private name of these libraries.
"""
from __future__ import annotations

import asyncio
import gc
import logging
import shutil
import sys
import time
import weakref
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import aiokafka
import faust
import rocksdict
from faust import stores
from faust.stores import rocksdb as faust_rocksdb
from faust.streams import Stream, _current_event
from faust.tables.recovery import Recovery
from faust.transport import consumer as base_consumer
from faust.transport.drivers import aiokafka as driver
from faust.types import TP, EventT, StreamT

log = logging.getLogger(__name__)

# The private names this module relies on, for the compatibility test: (object, attribute).
REACHES: tuple[tuple[Any, str], ...] = (
    (sys.modules["faust.streams"], "_current_event"),
    (driver.Consumer, "_is_changelog_tp"),
    (driver.Consumer, "seek_to_committed"),
    (faust.Worker, "spinner"),
    (base_consumer.Consumer, "_read_offset"),
    (faust_rocksdb.Store, "_dbs"),
    (faust_rocksdb.Store, "_key_index"),
    (faust_rocksdb.Store, "revoke_partitions"),
    (faust_rocksdb.Store, "partition_path"),
    (faust_rocksdb.Store, "_del"),
    (stores.STORES, "aliases"),
    (faust_rocksdb.Store, "_open_for_partition"),
    (base_consumer.Consumer, "_clean_unacked_messages"),
    (base_consumer.Consumer, "wait_empty"),
    (faust_rocksdb.Store, "apply_changelog_batch"),
    (Recovery, "flush_buffers"),
    (Recovery, "buffers"),
    (driver.Consumer, "_new_consumer_thread"),
    (driver.AIOKafkaConsumerThread, "_create_worker_consumer"),
    (aiokafka.AIOKafkaConsumer, "_fetch_max_wait_ms"),
)
FETCH_MAX_WAIT_MS = 100


def take_events(stream: StreamT[Any], max_: int, within: float) -> AsyncIterator[Sequence[EventT]]:
    """Batches of up to `max_` events, each within `within` seconds: `Stream.take_events`,
    which Faust's `StreamT` interface (what an agent is handed) does not declare."""
    return cast(Stream, stream).take_events(max_, within=within)


def as_current(event: EventT) -> None:
    """Make `event` Faust's current event, as plain stream iteration would.

    `take_events` hands us a batch without setting it; RocksDB tables need it to know the
    partition a write belongs to (and a read comes from), which keeps the table co-partitioned
    with the source topic. It stays set in the calling task until changed.
    """
    _current_event.set(weakref.ref(event))


def read_offsets(app: faust.App) -> dict[TP, int]:
    """The offset of the last record Faust handed to a stream, per assigned partition that has
    had one: Faust keeps it (`Consumer._read_offset`) for its commits, with no public getter,
    and consumer lag is measured from it (streams/ops.py)."""
    offsets: Mapping[TP, int | None] = getattr(app.consumer, "_read_offset", {})
    return {tp: offset for tp, offset in list(offsets.items()) if offset is not None}


class ShortPollConsumerThread(driver.AIOKafkaConsumerThread):
    """Faust's consumer thread with fetches that wait FETCH_MAX_WAIT_MS for data, not 1.5 s.

    Faust hard-codes `fetch_max_wait_ms=1500`. The broker answers a connection's requests in
    order, so a fetch waiting for data on a quiet or paused partition holds back the requests
    behind it on that connection: at a rebalance the table recovery's end-offset request (the
    changelogs' highwaters) waited 1.0 to 1.4 s behind one, every fail-over. An idle worker
    now sends a few more, empty, fetches a second; under load a fetch returns as soon as data
    is there either way.
    """

    def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS  # read when the consumer starts
        return consumer


class RewindingConsumer(driver.Consumer):
    """Faust's aiokafka consumer, rewinding partitions that have no commit.

    During a rebalance Faust discards the records it has fetched but not yet handed to a stream,
    then seeks every partition back to its committed offset to read them again. aiokafka's
    `seek_to_committed` seeks only partitions whose committed offset is above 0, so a partition
    that has never been committed (or was committed at 0) stays where the fetcher left it: the
    discarded records are never read again, and Faust's next commit moves past them. That lost
    signups when a worker was killed before its first commit and its successor started on a
    backlog (tests/integration/test_faults.py). Such partitions go back to their start here, as
    `consumer_auto_offset_reset="earliest"` means: records already handled come again (a repeat,
    which the profiles' seen-event ids absorb), none is skipped.
    """

    def _new_consumer_thread(self) -> driver.AIOKafkaConsumerThread:
        return ShortPollConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def on_start(self) -> None:
        await super().on_start()
        gate = _JOIN_GATES.get(id(self.app))
        if gate is not None and not gate.started:
            gate.started = True  # the consumer starts after the producer: the tasks may send
            for start in gate.starts:
                cast(faust.App, self.app).add_future(start())

    async def subscribe(self, topics: Iterable[str]) -> None:
        gate = _JOIN_GATES.get(id(self.app))
        if gate is not None and gate.ready is not None and not gate.ready.is_set():
            log.warning("coldstart: joining the worker group once the catalogue is ready")
            await gate.ready.wait()
        await super().subscribe(topics)

    async def wait_empty(self) -> None:
        """Faust's wait for the running batch to be acknowledged, at a rebalance
        (`stream_wait_empty`), without its idle second: it waits up to 1 s for the next ack
        whenever its set of unacknowledged messages still holds messages already acknowledged
        or dropped from the streams' buffers (it prunes them only after that wait)."""
        self._clean_unacked_messages()
        await super().wait_empty()

    async def seek_to_committed(self) -> Mapping[TP, int]:
        committed = await super().seek_to_committed()
        if self.app.conf.consumer_auto_offset_reset == "earliest":
            for tp, offset in committed.items():
                if not offset and not self._is_changelog_tp(tp):  # tables recover on their own
                    await self.seek(tp, 0)
        return committed


def use_rewinding_consumer(app: faust.App) -> None:
    """Make `app`'s transport build RewindingConsumer (Faust has no setting for the class)."""
    transport: Any = app.transport
    transport.Consumer = RewindingConsumer


@dataclass
class _JoinGate:
    starts: list[Callable[[], Coroutine[Any, Any, None]]] = field(default_factory=list)
    ready: asyncio.Event | None = None
    started: bool = False


_JOIN_GATES: dict[int, _JoinGate] = {}  # id(app) -> what it runs before it joins its group


def start_with_consumer(app: faust.App, start: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run `start` (a task that runs for as long as the worker) as soon as `app`'s consumer
    starts, before the worker joins its group: an `@app.task` runs only after the first
    rebalance's table recovery, which `join_group_when` may hold back. The producer is already
    up then, so the task may send."""
    _JOIN_GATES.setdefault(id(app), _JoinGate()).starts.append(start)


def join_group_when(app: faust.App, ready: asyncio.Event) -> None:
    """Join the consumer group only once `ready` is set.

    Faust subscribes (joins the group, and so takes partitions) as soon as its agents have
    started. A worker that is still loading its model and catalogue then holds partitions it
    cannot serve for as long as that takes (seconds to minutes), and their users wait; here
    the subscription waits for `ready`, so a joining worker takes partitions only when it can
    serve them at once. Faust has no hook for it: `subscribe` is the consumer's first call.
    """
    _JOIN_GATES.setdefault(id(app), _JoinGate()).ready = ready


class QuietWorker(faust.Worker):
    """Faust's worker without its terminal spinner.

    To spin once per log record, the spinner sets the root logger to DEBUG, so every aiokafka
    and Faust debug call builds and handles a record even at `--loglevel warning`: profiled at
    about 40% of a click's cost. Without the spinner the level is the one asked for.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.spinner = None


def run_app(app: faust.App, loglevel: str) -> None:
    """Run `app` as `faust worker` would; Faust's entry point reads its options from sys.argv."""
    sys.argv = ["coldstart", "worker", "--loglevel", loglevel, "--without-web"]
    app.main()  # runs until stopped; raises SystemExit


class RocksStore(faust_rocksdb.Store):
    """Faust's RocksDB store without a full garbage collection per table at every rebalance.

    Faust's `revoke_partitions` drops the revoked partitions' handles (that closes them) and
    then runs `gc.collect()`, revoked or not. In a worker holding a model and a catalogue a
    full collection takes about 250 ms of the event loop, and a rebalance runs one for every
    table: after a SIGKILL the survivor stood still for 1.6 s before it recovered the dead
    worker's partitions. Here it runs only when a handle was
    dropped, once.
    """

    def revoke_partitions(self, table: Any, tps: set[TP]) -> None:
        dropped = [tp for tp in tps if tp.topic in table.changelog_topic.topics
                   and self._dbs.pop(tp.partition, None) is not None]
        if dropped:
            gc.collect()  # a handle still referenced from a cycle closes only now


class ForgetfulStore(RocksStore):
    """Faust's RocksDB store for per-user tables, keeping no copy of what it no longer serves.

    Faust keeps a revoked partition's RocksDB files on disk (a full, stale copy of the users it
    held), and when the partition comes back it resumes from that copy. A copy that missed a
    deletion's tombstone (compacted away after `delete.retention.ms`) would bring the user back,
    and the files keep deleted values meanwhile. Here a revoked partition's files are removed,
    so does any local copy this process does not serve after a rebalance, and a copy left by an
    earlier run is used only when it was written within `max_idle_s` (half the tombstones'
    retention), so its recovery still reads every tombstone since; otherwise it is rebuilt
    from the changelog. `_del` also forgets the key's entry in the in-memory key index.
    """

    max_idle_s: float = 43_200.0  # set by streams/tables.py from the changelog policy

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # partition -> keys whose changelog tombstone was written here, until taken
        self.tombstoned: dict[int, set[bytes]] = {}

    def revoke_partitions(self, table: Any, tps: set[TP]) -> None:
        super().revoke_partitions(table, tps)
        for tp in tps:
            if tp.topic in table.changelog_topic.topics:
                self._remove_copy(tp.partition)

    async def on_rebalance(self, assigned: set[TP], revoked: set[TP], newly_assigned: set[TP],
                           generation_id: int = 0) -> None:
        await super().on_rebalance(assigned, revoked, newly_assigned, generation_id)
        for partition in self._local_partitions():
            if partition not in self._dbs:
                self._remove_copy(partition)

    def _open_for_partition(self, partition: int) -> Any:
        path = Path(self.partition_path(partition))
        if path.exists() and time.time() - _newest_mtime(path) > self.max_idle_s:
            self._remove_copy(partition)
        return super()._open_for_partition(partition)

    def _del(self, key: bytes) -> None:
        super()._del(key)
        self._key_index.pop(key, None)

    def apply_changelog_batch(self, batch: Iterable[EventT], to_key: Callable[[Any], Any],
                              to_value: Callable[[Any], Any]) -> None:
        """Faust's write of changelog records into a partition this worker does not write
        itself: a standby copy, or one it recovers. A tombstone there is a plain RocksDB delete
        that leaves the old value in the files, so each tombstoned key is also noted, for
        `take_tombstoned` (streams/forget.py compacts it out)."""
        events = list(batch)
        super().apply_changelog_batch(events, to_key, to_value)
        for event in events:
            message = event.message
            if message.value is None and message.key is not None:
                self.tombstoned.setdefault(message.partition, set()).add(message.key)

    def _local_partitions(self) -> list[int]:
        prefix = f"{self.basename}-"
        found = []
        for path in Path(self.path).glob(f"{prefix}*.db"):
            number = path.name[len(prefix):-len(".db")]
            if number.isdigit():
                found.append(int(number))
        return found

    def _remove_copy(self, partition: int) -> None:
        self._dbs.pop(partition, None)
        for key in [k for k, p in self._key_index.items() if p == partition]:
            self._key_index.pop(key, None)
        gc.collect()  # Faust closes a RocksDB handle by dropping it
        shutil.rmtree(self.partition_path(partition), ignore_errors=True)


stores.STORES.aliases["coldstart-rocksdb"] = f"{__name__}:ForgetfulStore"
stores.STORES.aliases["coldstart-rocksdb-shared"] = f"{__name__}:RocksStore"


def forgetful_store(table_name: str) -> str:
    """The store URL of a per-user table. It names the table as its path, as Faust does for
    `rocksdb://`: a URL without one is falsy (yarl), and Faust would take the app's store."""
    return f"coldstart-rocksdb:{table_name}"


def rocks_store(table_name: str) -> str:
    """The store URL of a table every worker follows (RocksStore), named as `forgetful_store`
    names one: on disk it is where `rocksdb://` put it."""
    return f"coldstart-rocksdb-shared:{table_name}"


def compact_keys(table: Any, partition: int, keys: Iterable[bytes]) -> None:
    """Compact `keys` out of a table partition's RocksDB files now: after a delete, the value
    and the tombstone leave the SST files and the write-ahead log (flushed first). Safe in a
    thread while the event loop reads the table; `reopen` afterwards, on the loop."""
    db = table.data._dbs.get(partition)
    if db is None:
        return
    options = rocksdict.CompactOptions()
    options.set_bottommost_level_compaction(rocksdict.BottommostLevelCompaction.force())
    db.flush()
    for key in keys:
        db.compact_range(key, key + b"\x00", options)


def take_tombstoned(table: Any) -> dict[int, set[bytes]]:
    """partition -> keys of a per-user table (ForgetfulStore) whose changelog tombstones were
    written into this worker's copy (standby or recovering) since the last call."""
    store = table.data
    if not isinstance(store, ForgetfulStore) or not store.tombstoned:
        return {}
    taken = dict(store.tombstoned)
    store.tombstoned.clear()
    return taken


def retake_tombstoned(table: Any, partition: int, keys: Iterable[bytes]) -> None:
    """Note `keys` again for the next `take_tombstoned` (their compaction failed), while this
    worker still holds a copy of the partition."""
    store = table.data
    if isinstance(store, ForgetfulStore) and partition in store._dbs:
        store.tombstoned.setdefault(partition, set()).update(keys)


def apply_buffered_changelogs(app: faust.App) -> None:
    """Write the changelog records Faust's recovery holds in memory into the tables now.

    A standby copy (and a recovering one) is written in batches of `standby_buffer_size`
    records (1000 unless set, and the size a partition first had sticks for the process), and
    a partial batch is written only at a rebalance or at the end of a recovery: on a quiet
    table a deletion's tombstone would wait there, the old value in the standby's files,
    indefinitely. `Recovery.flush_buffers` is what Faust itself calls at those points."""
    recovery = cast(Any, app.tables).recovery  # TableManagerT does not declare it
    if any(recovery.buffers.values()):
        recovery.flush_buffers()


def open_partitions(table: Any) -> set[int]:
    """The partitions of a table whose RocksDB this worker has open (the ones it serves)."""
    return set(table.data._dbs)


def reopen(table: Any, partition: int) -> None:
    """Close and reopen a table partition's RocksDB, so it starts a new MANIFEST: the old one
    is a log of every file it ever had, with each file's smallest and largest key, so a deleted
    key stays there after compaction until RocksDB writes a fresh one (on open). Run on the
    event loop, between batches, so no reader holds the closed handle."""
    store = table.data
    db = store._dbs.get(partition)
    if db is None:
        return
    db.close()
    store._dbs[partition] = store._open_for_partition(partition)


def _newest_mtime(path: Path) -> float:
    times = [p.stat().st_mtime for p in path.rglob("*") if p.is_file()]
    return max(times, default=path.stat().st_mtime)

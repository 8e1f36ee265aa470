"""The time-to-forget, enforced: deletion barriers, and what makes deleted values leave disk and log.

After the users agent purges a deleted user (`forget`):

- RocksDB: the user's keys are compacted out of the partition's files at once (a delete only
  writes a tombstone; the old value stays in SST files and the write-ahead log until RocksDB
  compacts those, which on a quiet table may be never), and the partition's database is
  reopened so that its MANIFEST, which names keys at file boundaries, is written afresh.
- Kafka: the changelogs' segments roll after `segment.ms` and the cleaner must compact them
  within `max.compaction.lag.ms` (streams/admin.py, both from COLDSTART_FORGET_MS), but Kafka
  never cleans the active segment and only rolls it on a write. So once the segment that holds
  the tombstone is old enough to roll, this worker writes one marker tombstone (`NUDGE_KEY`) to
  each changelog partition it touched, which rolls the segment and makes it cleanable. A worker
  does the same once for every partition it gains, so a deletion whose worker died before its
  marker was due is still rolled by the partition's next owner.
- Copies: a standby copy of a partition on another worker (COLDSTART_STANDBY_REPLICAS), or a
  copy being recovered, takes the tombstone from the changelog as a plain delete. Every second
  (`forget_copied_tombstones`) Faust's buffered changelog records are written into the tables,
  and each key tombstoned that way is compacted out and its partition reopened, as above.

Barriers (coldstart/privacy.py) live in the `deletions` table, keyed by the keyed hash of the
user id, in the user's partition; expired ones are removed as their partition sees traffic.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Mapping

from faust.types import EventT

from coldstart.events import now_ms
from coldstart.privacy import Barrier, keyed_hash
from streams.admin import changelog_roll_ms
from streams.app import app, settings
from streams.faust_compat import (
    apply_buffered_changelogs,
    as_current,
    compact_keys,
    open_partitions,
    reopen,
    retake_tombstoned,
    take_tombstoned,
)
from streams.tables import deletions, profiles, served

log = logging.getLogger(__name__)
NUDGE_KEY = b"\x00coldstart:roll"  # a key no table uses; its records are tombstones
SWEEP_EVERY_S = 60.0
_USER_TABLES = (profiles, served)
_COPIED_TABLES = (profiles, served, deletions)  # every ForgetfulStore table
_due: dict[tuple[str, int], float] = {}  # (changelog topic, partition) -> when to write (monotonic)
_last_sweep: dict[int, float] = {}  # partition -> when its expired barriers were last removed
_served: dict[str, set[int]] = {}  # changelog topic -> partitions open when last looked


def user_key(user: str) -> bytes:
    """The deletions table key of a user: the keyed hash, never the id."""
    return keyed_hash(user, settings.hash_key).encode()


def load_barriers(users: Mapping[str, EventT]) -> dict[str, int]:
    """user -> time of their remembered deletion, for the users of a batch (each read in the
    partition of that user's event; an expired barrier counts as none)."""
    found, now = {}, now_ms()
    for user, source in users.items():
        as_current(source)
        raw = deletions.get(user_key(user))
        if raw:
            barrier = Barrier.from_bytes(raw)
            if not barrier.expired(now):
                found[user] = barrier.ts
    return found


def remember(barriers: Mapping[str, int], users: Mapping[str, EventT]) -> None:
    """Write (or extend) the barrier of each user deleted in a batch."""
    until = now_ms() + settings.deletion_barrier_ms
    for user, ts in barriers.items():
        source = users[user]
        as_current(source)
        key = user_key(user)
        raw = deletions.get(key)
        barrier = Barrier(ts, until, source.message.partition)
        if raw:
            barrier = Barrier.from_bytes(raw).extended(ts, until)
        deletions[key] = barrier.to_bytes()


def sweep_expired(sources: Iterable[EventT]) -> int:
    """Remove expired barriers of the partitions these events come from (at most once a
    minute each); return how many. A table is written only from its partition's events, so
    this runs in the users agent, not in a timer."""
    by_partition = {e.message.partition: e for e in sources}
    clock, now = time.monotonic(), now_ms()
    due = {p: e for p, e in by_partition.items() if clock - _last_sweep.get(p, 0.0) >= SWEEP_EVERY_S}
    if not due:
        return 0
    expired = []
    for key, raw in list(deletions.items()):
        barrier = Barrier.from_bytes(raw)
        if barrier.partition in due and barrier.expired(now):
            expired.append((key, barrier.partition))
    for key, partition in expired:
        as_current(due[partition])
        deletions.pop(key, None)
    for partition in due:
        _last_sweep[partition] = clock
    return len(expired)


async def forget(users: Mapping[str, EventT]) -> None:
    """After the purge of `users` (user -> an event of theirs, for the partition): compact their
    keys out of the local RocksDB files and schedule the changelog roll."""
    partitions: dict[int, list[bytes]] = {}
    for user, source in users.items():
        partitions.setdefault(source.message.partition, []).append(user.encode())
    loop = asyncio.get_running_loop()
    when = time.monotonic() + changelog_roll_ms(settings.forget_ms) / 1000 + 1.0
    for table in _USER_TABLES:
        topic = table.changelog_topic.get_topic_name()
        for partition, keys in partitions.items():
            await loop.run_in_executor(None, compact_keys, table, partition, keys)
            reopen(table, partition)
            _due[(topic, partition)] = when  # the latest deletion's segment: later is safe


@app.timer(interval=1.0)
async def forget_copied_tombstones() -> None:
    """Compact out of this worker's copies the keys their changelogs deleted since last time:
    standby copies and recovering ones, which no `forget` call of this worker covers."""
    apply_buffered_changelogs(app)
    loop = asyncio.get_running_loop()
    for table in _COPIED_TABLES:
        for partition, keys in take_tombstoned(table).items():
            keys.discard(NUDGE_KEY)
            if not keys:
                continue
            try:
                await loop.run_in_executor(None, compact_keys, table, partition, sorted(keys))
                reopen(table, partition)
            except Exception as exc:  # e.g. the partition's copy removed meanwhile: next time
                log.warning("compacting %d tombstoned key(s) of %s[%d] failed (%s); retrying",
                            len(keys), table.name, partition, type(exc).__name__)
                retake_tombstoned(table, partition, keys)


def barred_log(barred: Mapping[str, int]) -> None:
    """One log line per batch for events a deletion barred: counts only, no ids, no payload."""
    if barred:
        counts = ", ".join(f"{n} {topic}" for topic, n in sorted(barred.items()))
        log.warning("deletion barrier: dropped %s event(s) dated at or before a deletion", counts)


@app.timer(interval=1.0)
async def roll_changelogs() -> None:
    """Write the marker tombstone to each changelog partition whose deletion segment is due."""
    clock = time.monotonic()
    later = clock + changelog_roll_ms(settings.forget_ms) / 1000 + 1.0
    for table in _USER_TABLES:
        topic = table.changelog_topic.get_topic_name()
        now_open = open_partitions(table)
        for partition in now_open - _served.get(topic, set()):
            _due.setdefault((topic, partition), later)  # gained: its last owner may have died
        _served[topic] = now_open
    for (topic, partition), when in list(_due.items()):
        if when <= clock:
            await app.topic(topic, key_serializer="raw", value_serializer="raw").send(
                key=NUDGE_KEY, value=None, partition=partition)
            del _due[(topic, partition)]

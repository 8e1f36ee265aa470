"""Every reach into Faust, mode and aiokafka internals, in one place, each with its reason.

tests/unit/streams/test_faust_compat.py fails loudly when an upgrade removes or renames one of
the names used here; nothing else in the product touches a private name of these libraries.
"""
from __future__ import annotations

import sys
import weakref
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, cast

import faust
from faust.streams import Stream, _current_event
from faust.transport import consumer as base_consumer
from faust.transport.drivers import aiokafka as driver
from faust.types import TP, EventT, StreamT

# The private names this module relies on, for the compatibility test: (object, attribute).
REACHES: tuple[tuple[Any, str], ...] = (
    (sys.modules["faust.streams"], "_current_event"),
    (driver.Consumer, "_is_changelog_tp"),
    (driver.Consumer, "seek_to_committed"),
    (faust.Worker, "spinner"),
    (base_consumer.Consumer, "_read_offset"),
)


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

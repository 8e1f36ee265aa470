"""The worker's Kafka consumer: Faust's aiokafka consumer, rewinding partitions that have no commit.

During a rebalance Faust discards the records it has fetched but not yet handed to a stream,
then seeks every partition back to its committed offset to read them again. aiokafka's
`seek_to_committed` seeks only partitions whose committed offset is above 0, so a partition
that has never been committed (or was committed at 0) stays where the fetcher left it: the
discarded records are never read again, and Faust's next commit moves past them. That lost
signups in tests/integration/test_faults.py when a worker was killed before its first commit
and its successor started on a backlog. Such partitions go back to their start here, as
`consumer_auto_offset_reset="earliest"` means: records already handled come again (a repeat,
which the profiles' seen-event ids absorb), none is skipped.
"""
from __future__ import annotations

from collections.abc import Mapping

from faust.transport.drivers import aiokafka as driver
from faust.types import TP


class RewindingConsumer(driver.Consumer):
    """Seeking to committed offsets also rewinds stream partitions that have none."""

    async def seek_to_committed(self) -> Mapping[TP, int]:
        committed = await super().seek_to_committed()
        if self.app.conf.consumer_auto_offset_reset == "earliest":
            for tp, offset in committed.items():
                if not offset and not self._is_changelog_tp(tp):  # tables recover on their own
                    await self.seek(tp, 0)
        return committed

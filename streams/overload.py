"""Graceful overload for the users agent: when it falls behind, clicks' lists wait and coalesce.

A batch that comes back full, or whose oldest record was appended more than LAG_S ago, means
events are waiting (on a starved machine batches stop filling up before the queue does). Then
every click still changes the profile, co-occurrence and popularity at once, but its user's list
is owed instead of ranked: a user who clicks again meanwhile gets one list, for the latest click.

Ranking a list costs about as much as everything else a click does, so while behind the agent
ranks few: each batch carries the owed lists that have waited OWED_S, the oldest first, at most
one for every OWED_SHARE events it brings (at least OWED_MIN). The longer the backlog lasts, the
more clicks a user's one list stands for. Once a batch is not full (caught up), or the stream is
idle, owed lists go out OWED_PER_BATCH at a time until none is left. Signups, searches and page
views never wait for them. Entering and leaving this mode is logged with its counters.

What is owed lives in this worker's memory only: if the worker dies with lists owed, those users'
next event brings them a list (their clicks themselves are in the profiles).
"""
from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from faust.types import EventT

from coldstart.engine import ClickRefresh

log = logging.getLogger(__name__)

# Measured on two cores (docs/performance.md): a list costs about 1 ms, so a batch that also
# clears 256 owed lists stays well under the 50 ms a page view may wait behind it.
OWED_S = 1.0
OWED_SHARE, OWED_MIN = 8, 4  # behind: one owed list per OWED_SHARE events of a batch
OWED_PER_BATCH = 256  # caught up or idle: owed lists per engine call
LAG_S = 0.25  # a record this old when its batch starts: behind (the click-to-list target)


def lag_s(batch: Sequence[EventT], since: float = 0.0) -> float:
    """Seconds since the batch's oldest record was produced (its Kafka timestamp), or since
    `since` (epoch seconds: when this worker last resumed its streams after a rebalance) if
    that is later. Records that waited for a rebalance, such as a dead worker's backlog at a
    fail-over, say nothing of this worker falling behind; treated as lag they would defer every
    list of the first batches after it by OWED_S, the users just handed over included."""
    stamps = [e.message.timestamp for e in batch if e.message.timestamp]
    return time.time() - max(min(stamps), since) if stamps else 0.0


@dataclass
class Counters:
    """Since the worker started: clicks whose list was deferred, deferred lists that a later
    click replaced (coalesced), and how often the agent fell behind."""

    deferred: int = 0
    coalesced: int = 0
    behind: int = 0


@dataclass
class Owed:
    """Lists owed to users for their latest click, each with the event that makes the user's
    partition current for the write, and when each user's oldest owed click was deferred."""

    lists: dict[str, tuple[ClickRefresh, EventT]] = field(default_factory=dict)
    first: dict[str, float] = field(default_factory=dict)  # insertion order: oldest first
    counters: Counters = field(default_factory=Counters)
    behind: bool = False
    last_batch: float = 0.0  # monotonic time the agent's latest batch started
    _since: float = 0.0

    def __len__(self) -> int:
        return len(self.lists)

    def note_batch(self, full: bool) -> bool:
        """Whether to defer this batch's clicks' lists; logs when the agent falls behind or
        catches up."""
        self.last_batch = time.monotonic()
        if full and not self.behind:
            self.behind, self._since = True, time.monotonic()
            self.counters.behind += 1
            log.warning("coldstart: users agent behind its stream: clicks' lists "
                        "coalesce per user for %.1fs or more; signups and page views go first",
                        OWED_S)
        elif not full:
            self.caught_up()
        return self.behind

    def idle(self) -> bool:
        """No batch for OWED_S: owed lists have no batch to travel with."""
        return time.monotonic() - self.last_batch >= OWED_S

    def caught_up(self) -> None:
        if self.behind:
            self.behind = False
            c = self.counters
            log.warning("coldstart: users agent caught up after %.1fs; clicks' lists deferred "
                        "%d, coalesced into a later click's %d (since start)",
                        time.monotonic() - self._since, c.deferred, c.coalesced)

    def take(self, users: set[str], behind: bool,
             events: int = 0) -> dict[str, tuple[ClickRefresh, EventT]]:
        """What goes with the next batch of `events` events: the owed lists of its own users (a
        newer click or a deletion there replaces them), and others, the oldest first: behind,
        those that waited OWED_S, one per OWED_SHARE events (at least OWED_MIN); caught up,
        any, up to OWED_PER_BATCH."""
        out = {u: self.lists.pop(u) for u in users & self.lists.keys()}
        limit = max(OWED_MIN, events // OWED_SHARE) if behind else OWED_PER_BATCH
        now, extra = time.monotonic(), 0
        for user, since in self.first.items():
            if extra >= limit or (behind and now - since < OWED_S):
                break
            if user in self.lists:
                out[user] = self.lists.pop(user)
                extra += 1
        return out

    def restore(self, taken: dict[str, tuple[ClickRefresh, EventT]]) -> None:
        """Owe again what `take` handed to a batch that failed before `settle`: a newer list
        owed meanwhile wins, and each user keeps their place (`first` still holds it)."""
        for user, entry in taken.items():
            self.lists.setdefault(user, entry)

    def settle(self, taken: dict[str, tuple[ClickRefresh, EventT]],
               deferred: dict[str, ClickRefresh], sources: dict[str, EventT],
               deleted: set[str]) -> None:
        """After a batch: what it deferred is owed (`sources`: each user's event in it); what
        was taken and not deferred again went out; deleted users are owed nothing."""
        now = time.monotonic()
        for user, refresh in deferred.items():
            self.counters.deferred += 1
            self.counters.coalesced += user in taken
            self.lists[user] = (refresh, sources.get(user) or taken[user][1])
            self.first.setdefault(user, now)  # a busy user's wait runs from their first owed click
        for user in set(taken) - deferred.keys():
            self.first.pop(user, None)
        for user in deleted:
            self.lists.pop(user, None)
            self.first.pop(user, None)

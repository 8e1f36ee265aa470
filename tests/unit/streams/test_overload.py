"""The users agent's overload bookkeeping: what is owed, what goes out, when it is behind."""
from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

from coldstart.engine import ClickRefresh
from streams import overload
from streams.overload import Owed, lag_s


def record(age_s: float) -> Any:
    """A consumed record as the agent sees it: only its Kafka timestamp matters here."""
    return SimpleNamespace(message=SimpleNamespace(timestamp=time.time() - age_s))


def test_a_batch_whose_oldest_record_waited_is_late() -> None:
    assert lag_s([record(0.01), record(2.0)]) > 1.9
    assert lag_s([]) == 0.0


def test_records_that_waited_for_a_rebalance_count_as_late_only_from_its_end() -> None:
    """A dead worker's backlog handed over at a fail-over is seconds old; measured from the
    streams' resumption 0.1 s ago it is not late, so the overload mode does not defer the lists
    of the users just handed over."""
    backlog = [record(8.0), record(7.5)]
    assert lag_s(backlog) > 7.0
    assert lag_s(backlog, since=time.time() - 0.1) < overload.LAG_S
    assert lag_s(backlog, since=time.time() - 9.0) > 7.0  # an earlier rebalance: no effect


def test_owed_lists_coalesce_per_user_and_go_out_oldest_first(monkeypatch: Any) -> None:
    owed, src = Owed(), record(0)
    assert owed.note_batch(full=True) and owed.counters.behind == 1
    owed.settle({}, {"u1": ClickRefresh("c1", 1), "u2": ClickRefresh("c2", 2)},
                {"u1": src, "u2": src}, set())
    assert len(owed) == 2 and owed.counters.deferred == 2
    assert owed.take(set(), behind=True, events=64) == {}  # not waited OWED_S yet
    # u1 clicks again while behind: its owed list travels with that batch and is owed again
    taken = owed.take({"u1"}, behind=True, events=64)
    assert set(taken) == {"u1"}
    owed.settle(taken, {"u1": ClickRefresh("c3", 3)}, {"u1": src}, set())
    assert owed.counters.coalesced == 1 and owed.lists["u1"][0] == ClickRefresh("c3", 3)
    monkeypatch.setattr(overload, "OWED_MIN", 1)
    monkeypatch.setattr(overload, "OWED_S", 0.0)
    # behind, a batch of 8 events carries one owed list (OWED_SHARE): the oldest
    assert list(owed.take(set(), behind=True, events=overload.OWED_SHARE)) == ["u1"]
    assert not owed.note_batch(full=False)  # caught up
    assert list(owed.take(set(), behind=False)) == ["u2"]
    owed.settle({}, {"u9": ClickRefresh("c9", 9)}, {"u9": src}, {"u9"})
    assert len(owed) == 0  # a deleted user is owed nothing


def test_lists_taken_by_a_batch_that_failed_are_owed_again() -> None:
    """A batch that raises after taking owed lists gives them back: the retry of its events
    (streams/guard.py) does not bring those users their lists, so they must stay owed."""
    owed, src = Owed(), record(0)
    owed.settle({}, {"u1": ClickRefresh("c1", 1)}, {"u1": src}, set())
    taken = owed.take({"u1"}, behind=False)
    assert len(owed) == 0
    owed.restore(taken)
    assert owed.lists["u1"][0] == ClickRefresh("c1", 1)
    owed.settle({}, {"u1": ClickRefresh("c2", 2)}, {"u1": src}, set())
    owed.restore(taken)  # a newer owed list is not replaced by the older one
    assert owed.lists["u1"][0] == ClickRefresh("c2", 2)


def test_behind_a_batch_carries_owed_lists_in_proportion_to_its_events(monkeypatch: Any) -> None:
    """While behind, ranking lists must not eat the time that catching up needs: a batch takes
    one owed list per OWED_SHARE events; caught up, it takes up to OWED_PER_BATCH at once."""
    monkeypatch.setattr(overload, "OWED_S", 0.0)
    monkeypatch.setattr(overload, "OWED_PER_BATCH", 50)
    owed, src = Owed(), record(0)
    owed.note_batch(full=True)
    users = {f"u{i}": ClickRefresh(f"c{i}", i) for i in range(100)}
    owed.settle({}, users, dict.fromkeys(users, src), set())
    taken = owed.take(set(), behind=True, events=64)
    assert list(taken) == [f"u{i}" for i in range(64 // overload.OWED_SHARE)]  # oldest first
    assert len(owed.take(set(), behind=True, events=1)) == overload.OWED_MIN
    assert len(owed.take(set(), behind=False)) == 50


def test_the_stream_is_idle_only_when_no_batch_came_for_owed_s() -> None:
    """Owed lists are flushed on their own only when the stream is quiet: flushing them between
    two batches of a flood would rank every list the overload mode defers."""
    owed = Owed()
    assert owed.idle()
    owed.note_batch(full=True)
    assert not owed.idle() and owed.behind
    owed.last_batch -= overload.OWED_S
    assert owed.idle()
    owed.caught_up()
    assert not owed.behind

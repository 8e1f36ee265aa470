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


def test_owed_lists_coalesce_per_user_and_go_out_oldest_first(monkeypatch: Any) -> None:
    owed, src = Owed(), record(0)
    assert owed.note_batch(full=True) and owed.counters.behind == 1
    owed.settle({}, {"u1": ClickRefresh("c1", 1), "u2": ClickRefresh("c2", 2)},
                {"u1": src, "u2": src}, set())
    assert len(owed) == 2 and owed.counters.deferred == 2
    assert owed.take(set(), everything=False) == {}  # not waited OWED_S yet
    # u1 clicks again while behind: its owed list travels with that batch and is owed again
    taken = owed.take({"u1"}, everything=False)
    assert set(taken) == {"u1"}
    owed.settle(taken, {"u1": ClickRefresh("c3", 3)}, {"u1": src}, set())
    assert owed.counters.coalesced == 1 and owed.lists["u1"][0] == ClickRefresh("c3", 3)
    monkeypatch.setattr(overload, "OWED_PER_BATCH", 1)
    monkeypatch.setattr(overload, "OWED_S", 0.0)
    assert list(owed.take(set(), everything=False)) == ["u1"]  # the oldest owed first, one a batch
    assert not owed.note_batch(full=False)  # caught up
    assert list(owed.take(set(), everything=True)) == ["u2"]
    owed.settle({}, {"u9": ClickRefresh("c9", 9)}, {"u9": src}, {"u9"})
    assert len(owed) == 0  # a deleted user is owed nothing

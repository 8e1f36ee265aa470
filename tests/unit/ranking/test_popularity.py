"""Popularity's prior: 0..1 against the most popular live item, through updates and removals."""
from __future__ import annotations

import pytest

from coldstart.ranking.popularity import Popularity, merge_keys

T0 = 1_700_000_000_000


def test_prior_follows_the_best_item_through_updates_and_removals() -> None:
    pop = Popularity(half_life_days=1.0)
    pop.update("a", "click", T0)
    assert pop.prior(["a", "unknown"]).tolist() == [1.0, 0.0]
    for _ in range(5):
        pop.update("b", "purchase", T0 + 1)  # b overtakes a: the cached best must move
    b_over_a = pop.prior(["b", "a"])
    assert b_over_a[0] == pytest.approx(1.0) and 0.0 < b_over_a[1] < 1.0
    pop.remove(["b"])  # the best is gone: a leads again
    assert pop.prior(["a", "b"]).tolist() == pytest.approx([1.0, 0.0])
    assert Popularity().prior(["x"]).tolist() == [0.0]


def test_keys_merged_in_any_order_and_loaded_equal_updates_in_place() -> None:
    """What the shared table does (increments log-added, the total loaded) is what `update` does."""
    events = [("a", "click", T0), ("b", "purchase", T0 + 5), ("a", "view", T0 + 9),
              ("a", "purchase", T0 + 3)]
    direct = Popularity()
    for item, action, ts in events:
        direct.update(item, action, ts)
    loaded, table = Popularity(), {}
    for item, action, ts in reversed(events):
        old = table.get(item)
        key = merge_keys(old[0] if old else None, loaded.event_key(action, ts))
        table[item] = (key, max(ts, old[1] if old else 0))
    for item, (key, ts) in table.items():
        loaded.load(item, key, ts)
    assert loaded.now == direct.now
    assert loaded.top(2)[0] == direct.top(2)[0]
    assert loaded.prior(["a", "b"]).tolist() == pytest.approx(direct.prior(["a", "b"]).tolist())
    assert loaded.key("a") == pytest.approx(direct.key("a")) and loaded.key("zz") is None

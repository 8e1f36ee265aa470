"""Popularity's prior: 0..1 against the most popular live item, through updates and removals."""
from __future__ import annotations

import pytest

from coldstart.ranking.popularity import Popularity

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

"""Known-answer tests for the ranking metrics."""
from __future__ import annotations

import math

import pytest

from coldstart.evaluation.metrics import (
    binary_ndcg_at_k,
    catalogue_coverage,
    graded_gains,
    mrr_at_k,
    ndcg_at_k,
    recall_at_k,
)


def test_recall_counts_hits_within_k_over_all_relevant() -> None:
    assert recall_at_k([1, 2, 3, 4], {2, 4, 9}, 2) == pytest.approx(1 / 3)
    assert recall_at_k([1, 2, 3, 4], {2, 4, 9}, 4) == pytest.approx(2 / 3)
    assert recall_at_k([1, 2], set(), 2) == 0.0


def test_mrr_is_reciprocal_rank_of_first_hit_within_k() -> None:
    assert mrr_at_k([5, 6, 7], {7, 6}, 3) == pytest.approx(1 / 2)
    assert mrr_at_k([5, 6, 7], {7}, 2) == 0.0
    assert mrr_at_k([7], {7}, 1) == 1.0


def test_ndcg_graded_gain_is_relevance_minus_one_and_ideal_from_judged() -> None:
    gains = graded_gains({1: 3.0, 2: 2.0, 3: 1.0})
    assert gains == {1: 2.0, 2: 1.0, 3: 0.0}
    assert ndcg_at_k([1, 2, 3], gains, 3) == pytest.approx(1.0)
    dcg = 0 + 1 / math.log2(3) + 2 / math.log2(4)  # unjudged 99 gains 0
    ideal = 2 + 1 / math.log2(3)
    assert ndcg_at_k([99, 2, 1], gains, 3) == pytest.approx(dcg / ideal)


def test_ndcg_ideal_is_cut_at_k() -> None:
    gains = {1: 1.0, 2: 1.0, 3: 1.0}
    assert ndcg_at_k([1, 9], gains, 2) == pytest.approx(1 / (1 + 1 / math.log2(3)))


def test_binary_ndcg() -> None:
    assert binary_ndcg_at_k([1, 2], {1, 2}, 2) == pytest.approx(1.0)
    assert binary_ndcg_at_k([9, 1], {1}, 2) == pytest.approx(1 / math.log2(3))
    assert binary_ndcg_at_k([9], set(), 1) == 0.0


def test_catalogue_coverage_counts_distinct_items_in_top_k() -> None:
    assert catalogue_coverage([[1, 2, 3], [2, 4, 5]], 10, 2) == pytest.approx(3 / 10)

"""Served lists scored against judgements: the offline definitions, and a missing answer is a miss."""
from __future__ import annotations

import math

import pytest

from coldstart.evaluation.datasets import Query
from coldstart.evaluation.served_lists import score_list, score_lists

# product 1 rated 3.0 (a hit, gain 2), product 2 rated 2.0 (no hit, gain 1), product 3 rated 3.0
QUERY = Query("angle bracket", {1: 3.0, 2: 2.0, 3: 3.0})
ONLY_ONE = Query("deck screws", {7: 3.0})


def test_a_list_with_every_hit_first_scores_one() -> None:
    s = score_list([1, 3, 2, 9], QUERY)
    assert (s.recall, s.ndcg, s.mrr, s.answered) == (1.0, pytest.approx(1.0), 1.0, True)


def test_graded_ndcg_and_mrr_follow_the_offline_definitions() -> None:
    s = score_list([9, 2, 1], QUERY)
    dcg = 1 / math.log2(3) + 2 / math.log2(4)
    ideal = 2 + 2 / math.log2(3) + 1 / math.log2(4)
    assert s.recall == pytest.approx(0.5)
    assert s.ndcg == pytest.approx(dcg / ideal)
    assert s.mrr == pytest.approx(1 / 3)


def test_only_the_first_k_items_count() -> None:
    assert score_list([9, 8, 7], ONLY_ONE, k=2).recall == 0.0
    assert score_list([9, 8, 7], ONLY_ONE, k=3).recall == 1.0


def test_a_missing_answer_is_a_miss_counted_in_the_means() -> None:
    out = score_lists([[7], None], [ONLY_ONE, ONLY_ONE])
    assert out["recall@10"] == pytest.approx(0.5)  # not 1.0: the unanswered query stays in
    assert out["ndcg@10"] == pytest.approx(0.5)
    assert out["mrr@10"] == pytest.approx(0.5)
    assert (out["queries"], out["answered"], out["missing"]) == (2, 1, 1)
    assert not score_list(None, ONLY_ONE).answered


def test_an_empty_list_is_answered_but_scores_zero() -> None:
    out = score_lists([[]], [ONLY_ONE])
    assert (out["recall@10"], out["answered"], out["missing"]) == (0.0, 1, 0)


def test_intervals_bracket_the_mean() -> None:
    out = score_lists([[7], [9], [7], [9]], [ONLY_ONE] * 4)
    assert out["recall@10 low"] <= out["recall@10"] == 0.5 <= out["recall@10 high"]
    assert out["ndcg@10 low"] <= out["ndcg@10"] <= out["ndcg@10 high"]


def test_one_list_per_query_is_required() -> None:
    with pytest.raises(ValueError, match="one list per query"):
        score_lists([[1]], [QUERY, ONLY_ONE])

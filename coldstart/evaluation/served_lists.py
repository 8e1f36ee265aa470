"""Served top-k lists scored against Home Depot judgements, a missing list counted as a miss.

The lists come from wherever a ranking was made (a running worker's `recommendations`, an
offline ranker); the metrics are those of the offline protocol (coldstart.evaluation.metrics):
recall@k and MRR@k over the products rated 3.0, nDCG@k with gain = relevance − 1, and 95%
percentile bootstrap intervals of recall@k and nDCG@k over queries.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from coldstart.evaluation import metrics as M
from coldstart.evaluation.datasets import Query


@dataclass(frozen=True)
class QueryScore:
    """One query's figures; `answered` False when no list came back (every figure 0)."""

    recall: float
    ndcg: float
    mrr: float
    answered: bool


def score_list(ranked: Sequence[int] | None, query: Query, k: int = 10) -> QueryScore:
    """The figures of one list (None: no answer, scored as an empty list)."""
    items = list(ranked or [])[:k]
    return QueryScore(M.recall_at_k(items, query.relevant, k),
                      M.ndcg_at_k(items, M.graded_gains(query.judgements), k),
                      M.mrr_at_k(items, query.relevant, k), ranked is not None)


def score_lists(lists: Sequence[Sequence[int] | None], queries: Sequence[Query],
                k: int = 10) -> dict[str, float]:
    """Mean recall@k, nDCG@k and MRR@k over every query, with the intervals and the counts.

    `lists[i]` answers `queries[i]`; None means no answer came back, which counts as a miss
    (zero on every figure) in the means, never as a query left out.
    """
    if len(lists) != len(queries):
        raise ValueError(f"expected one list per query, got {len(lists)} lists for "
                         f"{len(queries)} queries")
    scores = [score_list(ranked, q, k) for ranked, q in zip(lists, queries)]
    recall, ndcg = [s.recall for s in scores], [s.ndcg for s in scores]
    (r_low, r_high), (n_low, n_high) = M.bootstrap_interval(recall), M.bootstrap_interval(ndcg)
    answered = sum(s.answered for s in scores)
    return {
        f"recall@{k}": _mean(recall), f"ndcg@{k}": _mean(ndcg),
        f"mrr@{k}": _mean([s.mrr for s in scores]),
        f"recall@{k} low": r_low, f"recall@{k} high": r_high,
        f"ndcg@{k} low": n_low, f"ndcg@{k} high": n_high,
        "queries": len(queries), "answered": answered, "missing": len(queries) - answered,
    }


def _mean(values: Sequence[float]) -> float:
    return float(np.mean(values)) if len(values) else 0.0

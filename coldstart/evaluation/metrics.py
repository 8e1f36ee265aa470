"""Ranking metrics as plain functions of one ranked id list and its judgements."""
from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence

import numpy as np

Ranked = Sequence[int] | np.ndarray


def _discounts(n: int) -> np.ndarray:
    return 1.0 / np.log2(np.arange(2, n + 2))


def recall_at_k(ranked: Ranked, relevant: Collection[int], k: int) -> float:
    """Share of the relevant ids found in the first k; 0.0 when nothing is relevant."""
    if not relevant:
        return 0.0
    return sum(1 for i in list(ranked)[:k] if i in relevant) / len(relevant)


def mrr_at_k(ranked: Ranked, relevant: Collection[int], k: int) -> float:
    """1 / rank of the first relevant id within the first k, else 0.0."""
    for rank, item in enumerate(list(ranked)[:k], start=1):
        if item in relevant:
            return 1.0 / rank
    return 0.0


def ndcg_at_k(ranked: Ranked, gains: Mapping[int, float], k: int) -> float:
    """nDCG with linear gains (unjudged ids gain 0), the ideal ranking built from `gains`."""
    ideal = sorted((g for g in gains.values() if g > 0), reverse=True)[:k]
    if not ideal:
        return 0.0
    got = np.array([gains.get(i, 0.0) for i in list(ranked)[:k]], dtype=np.float64)
    dcg = float(got @ _discounts(len(got))) if len(got) else 0.0
    return dcg / float(np.asarray(ideal) @ _discounts(len(ideal)))


def graded_gains(judgements: Mapping[int, float]) -> dict[int, float]:
    """Home Depot gains: relevance − 1 for each judged pair (1 → 0, 3 → 2)."""
    return {i: rel - 1.0 for i, rel in judgements.items()}


def binary_ndcg_at_k(ranked: Ranked, relevant: Collection[int], k: int) -> float:
    """nDCG with gain 1 for relevant ids and 0 otherwise."""
    return ndcg_at_k(ranked, {i: 1.0 for i in relevant}, k)


def catalogue_coverage(ranked_lists: Iterable[Ranked], catalogue_size: int, k: int) -> float:
    """Share of the catalogue that appears in at least one top-k list."""
    seen: set[int] = set()
    for ranked in ranked_lists:
        seen.update(int(i) for i in list(ranked)[:k])
    return len(seen) / catalogue_size if catalogue_size else 0.0


def bootstrap_interval(per_query: Sequence[float], level: float = 0.95, resamples: int = 2000,
                       seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean over queries (resampled with replacement, a fixed
    seed so a report is reproducible): how far the figure could move on another draw of queries."""
    values = np.asarray(per_query, dtype=np.float64)
    if not len(values):
        return (0.0, 0.0)
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), size=(resamples, len(values)))].mean(axis=1)
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)

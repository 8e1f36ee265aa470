"""The Home Depot and MovieLens protocols: the named rankers of each, and their metrics."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import numpy as np

from coldstart.errors import ConfigError
from coldstart.evaluation import metrics as M
from coldstart.evaluation import rankers as R
from coldstart.evaluation.datasets import HomeDepot, MovieLens, Query, load_home_depot, load_movielens
from coldstart.evaluation.movielens_blend import REPLAY_VARIANTS, replay_rankers_for
from coldstart.evaluation.vector_cache import item_vectors
from coldstart.text.lexical import SERVED, Analyzer, tokenize

BM25_RANKERS = {R.bm25_name(analyzer): analyzer for analyzer in SERVED}
# the datasets README's reference BM25: lower-cased alphanumeric tokens as they are, k1 1.2, b 0.75
REFERENCE_WORDS = Analyzer("reference", tokenize)
REFERENCE_BM25 = R.bm25_name(REFERENCE_WORDS)
HYBRID_SOURCES = (*BM25_RANKERS, "dense")  # the worker's order (coldstart.catalog, text_retrieval)
HOME_DEPOT_RANKERS = ("popularity", REFERENCE_BM25, *HYBRID_SOURCES, "hybrid")
RERANKED = "reranked"  # the hybrid with the version's re-ranker: what a worker serves for a text
SPLITS = ("test", "train")  # which Home Depot queries (HomeDepot.train_queries says when train)
MOVIELENS_RANKERS = ("popularity", "behaviour", "behaviour+logpop", "item_cf", *REPLAY_VARIANTS)
TEXT_FREE = {"popularity", REFERENCE_BM25, *BM25_RANKERS, "item_cf", "live_popularity", "collaborative",
             "popularity+collaborative"}


def _check(names: Sequence[str], allowed: Sequence[str], encoder: Any) -> None:
    unknown = [n for n in names if n not in allowed]
    if unknown:
        raise ConfigError(f"expected rankers from {list(allowed)}, got {unknown}")
    if encoder is None and any(n not in TEXT_FREE for n in names):
        raise ConfigError(f"rankers {[n for n in names if n not in TEXT_FREE]} need an encoder, got None")


def home_depot_rankers(data: HomeDepot, names: Sequence[str], encoder: Any = None) -> dict[str, R.Ranker]:
    """Build the named Home Depot rankers (popularity = train-split rows per product)."""
    _check(names, (*HOME_DEPOT_RANKERS, RERANKED), encoder)
    cat = data.catalogue
    built: dict[str, R.Ranker] = {}
    position = {int(p): i for i, p in enumerate(cat.ids)}
    counts = np.bincount([position[pid] for _, pid, _ in data.train], minlength=len(cat))
    make: dict[str, Callable[[], R.Ranker]] = {
        "popularity": lambda: R.PopularityRanker(cat, counts),
        **{name: partial(R.BM25Ranker, cat, analyzer) for name, analyzer in BM25_RANKERS.items()},
        REFERENCE_BM25: partial(R.BM25Ranker, cat, REFERENCE_WORDS),
        "dense": lambda: R.DenseRanker(cat, encoder, item_vectors(encoder, cat)),
        "hybrid": lambda: R.HybridRanker(sources(), cat),
        RERANKED: lambda: R.HybridRanker(sources(), cat, encoder.reranker),
    }

    def sources() -> list[R.Ranker]:
        for name in HYBRID_SOURCES:
            built.setdefault(name, make[name]())
        return [built[name] for name in HYBRID_SOURCES]

    for name in names:
        if name not in built:
            built[name] = make[name]()
    return {name: built[name] for name in names}


def evaluate_home_depot(
    encoder: Any = None, rankers: Sequence[str] | None = None, limit_queries: int | None = None,
    data: HomeDepot | None = None, split: str = "test",
) -> dict[str, dict[str, float]]:
    """recall@10, recall@100, MRR@100, nDCG@10 (gain = relevance − 1), coverage@10 and 95% bootstrap
    intervals of recall@10 and nDCG@10 (over queries) per ranker, over the test queries (or,
    `split="train"`, the train split's: see HomeDepot.train_queries)."""
    data = data or load_home_depot()
    names = rankers or (HOME_DEPOT_RANKERS if encoder is not None else ("popularity", "bm25"))
    queries = split_queries(data, split)[: limit_queries or None]
    texts = [q.text for q in queries]
    results = {}
    for name, ranker in home_depot_rankers(data, names, encoder).items():
        ids, _ = ranker.rank(texts, 100)
        rows = [(row, q.relevant, M.graded_gains(q.judgements)) for row, q in zip(ids, queries)]
        recall10 = [M.recall_at_k(r, rel, 10) for r, rel, _ in rows]
        ndcg10 = [M.ndcg_at_k(r, g, 10) for r, _, g in rows]
        (r_low, r_high), (n_low, n_high) = M.bootstrap_interval(recall10), M.bootstrap_interval(ndcg10)
        results[name] = {
            "recall@10": float(np.mean(recall10)),
            "recall@100": float(np.mean([M.recall_at_k(r, rel, 100) for r, rel, _ in rows])),
            "mrr@100": float(np.mean([M.mrr_at_k(r, rel, 100) for r, rel, _ in rows])),
            "ndcg@10": float(np.mean(ndcg10)),
            "coverage@10": M.catalogue_coverage(ids, len(data.catalogue), 10),
            # 95% bootstrap intervals over queries
            "recall@10 low": r_low, "recall@10 high": r_high, "ndcg@10 low": n_low, "ndcg@10 high": n_high,
        }
    return results


def split_queries(data: HomeDepot, split: str) -> list[Query]:
    """The evaluated queries of a split: the test queries, or (`"train"`) HomeDepot.train_queries."""
    if split not in SPLITS:
        raise ConfigError(f"expected split {' or '.join(SPLITS)}, got {split!r}")
    return data.test_queries if split == "test" else data.train_queries()


def movielens_rankers(data: MovieLens, names: Sequence[str], encoder: Any = None) -> dict[str, R.Ranker]:
    """Build the named MovieLens rankers."""
    _check(names, MOVIELENS_RANKERS, encoder)
    cat, counts = data.catalogue, data.positive_counts
    vectors = item_vectors(encoder, cat) if encoder is not None and set(names) - TEXT_FREE else None
    def behaviour(pop_weight: float) -> R.Ranker:
        assert vectors is not None  # _check: behaviour rankers need an encoder
        return R.BehaviourRanker(cat, vectors, counts, pop_weight)

    make: dict[str, Callable[[], R.Ranker]] = {
        "popularity": lambda: R.ClickPopularityRanker(cat, counts),
        "behaviour": lambda: behaviour(0.0),
        "behaviour+logpop": lambda: behaviour(0.5),
        "item_cf": lambda: R.ItemCFRanker(cat, data.positives),
    }
    built: dict[str, R.Ranker] = {name: make[name]() for name in names if name in make}
    built.update(replay_rankers_for(data, names, vectors))  # the live structures, replayed
    return {name: built[name] for name in names}


def evaluate_movielens(
    encoder: Any = None, rankers: Sequence[str] | None = None, limit_users: int | None = None,
    data: MovieLens | None = None,
) -> dict[str, dict[str, float]]:
    """recall@20, nDCG@20 (binary) and coverage@20 per ranker over the protocol's users."""
    data = data or load_movielens()
    names = rankers or (MOVIELENS_RANKERS if encoder is not None else ("popularity", "item_cf"))
    users = data.users[: limit_users or None]
    results = {}
    for name, ranker in movielens_rankers(data, names, encoder).items():
        ids, _ = ranker.rank(users, 20)
        results[name] = {
            "recall@20": float(np.mean([M.recall_at_k(r, set(u.truth), 20) for r, u in zip(ids, users)])),
            "ndcg@20": float(np.mean([M.binary_ndcg_at_k(r, set(u.truth), 20) for r, u in zip(ids, users)])),
            "coverage@20": M.catalogue_coverage(ids, len(data.catalogue), 20),
        }
    return results

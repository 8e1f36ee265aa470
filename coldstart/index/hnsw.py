"""Approximate search on a navigable small-world graph (faiss IndexHNSWFlat, inner product).

HNSW cannot remove a vector, so deletes and updates leave tombstones that searches skip
(over-fetching as needed) until the base class rebuilds the graph from live vectors.
"""
from __future__ import annotations

import faiss
import numpy as np

from coldstart.index.base import IndexConfig, ItemIndex


def new_hnsw(dim: int, config: IndexConfig) -> faiss.IndexHNSWFlat:
    """An empty inner-product HNSW index built with the config's M and efConstruction."""
    index = faiss.IndexHNSWFlat(dim, config.hnsw_m, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = config.ef_construction
    index.hnsw.efSearch = config.ef_search
    return index


def search_hnsw(
    index: faiss.Index, queries: np.ndarray, k: int, config: IndexConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Search with efSearch at least k, so an over-fetch still explores enough of the graph."""
    hnsw_params = faiss.SearchParametersHNSW  # type: ignore[attr-defined]
    params = hnsw_params(efSearch=max(config.ef_search, k))
    return index.search(queries, k, params=params)


class HNSWIndex(ItemIndex):
    """Approximate inner-product search; sub-linear in catalogue size."""

    kind = "hnsw"

    def _fresh(self, n_items: int) -> faiss.Index:
        return new_hnsw(self.dim, self.config)

    def _search_faiss(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return search_hnsw(self._faiss, queries, k, self.config)

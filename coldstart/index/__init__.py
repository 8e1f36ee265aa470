"""Item indexes by name: `flat` (exact), `hnsw` (approximate), `auto` (flat growing into HNSW)."""
from __future__ import annotations

from collections.abc import Sequence

import faiss
import numpy as np

from coldstart.errors import ItemIndexError
from coldstart.index.base import IndexConfig, ItemIndex, measure_recall
from coldstart.index.flat import FlatIndex
from coldstart.index.hnsw import HNSWIndex, new_hnsw, search_hnsw

__all__ = ["AutoIndex", "FlatIndex", "HNSWIndex", "IndexConfig", "ItemIndex", "load_index",
           "make_index", "measure_recall"]


class AutoIndex(ItemIndex):
    """Flat while small; rebuilt once as HNSW when an upsert takes it to `auto_threshold` items.

    It never switches back: a later rebuild (compaction) picks flat again only if the live count
    is below the threshold at that moment.
    """

    kind = "auto"

    @property
    def is_hnsw(self) -> bool:
        return isinstance(self._faiss, faiss.IndexHNSWFlat)

    def _fresh(self, n_items: int) -> faiss.Index:
        if n_items >= self.config.auto_threshold:
            return new_hnsw(self.dim, self.config)
        return faiss.IndexFlatIP(self.dim)

    def _search_faiss(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if self.is_hnsw:
            return search_hnsw(self._faiss, queries, k, self.config)
        return self._faiss.search(queries, k)

    def upsert(self, ids: Sequence[str], vectors: np.ndarray) -> None:
        super().upsert(ids, vectors)
        if not self.is_hnsw and len(self) >= self.config.auto_threshold:
            self.compact()


def make_index(dim: int, config: IndexConfig | None = None) -> ItemIndex:
    """A new empty index of the kind the config names."""
    config = config or IndexConfig()
    backend = ItemIndex.backends.get(config.kind)
    if backend is None:
        raise ItemIndexError(f"expected index kind in {sorted(ItemIndex.backends)}, "
                             f"got {config.kind!r}")
    return backend(dim, config)


def load_index(path: str) -> ItemIndex:
    """Read an index written by `ItemIndex.save`, as the backend that wrote it."""
    return ItemIndex.load(path)

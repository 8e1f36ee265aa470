"""Exact search: every query is scored against every item (faiss IndexFlatIP)."""
from __future__ import annotations

import faiss

from coldstart.index.base import ItemIndex


class FlatIndex(ItemIndex):
    """Exact inner-product search; the right choice up to tens of thousands of items."""

    kind = "flat"

    def _fresh(self, n_items: int) -> faiss.Index:
        return faiss.IndexFlatIP(self.dim)

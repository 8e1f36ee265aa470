"""BM25 over item texts that takes upserts and deletes, for the worker's text retrieval.

The dense index misses exact words a shopper types (a brand, a size, "1/2 in."); BM25 catches
them. Scores equal coldstart.evaluation.bm25.BM25 over the live items (same tokens, k1, b and
idf), so the figures measured offline are what a worker serves.
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Collection, Sequence

import numpy as np

_TOKEN = re.compile(r"[a-z0-9]+")


def tokenize(text: str) -> list[str]:
    """Lower-cased alphanumeric runs."""
    return _TOKEN.findall(text.lower())


class LexicalIndex:
    """Okapi BM25 (k1, b; idf log(1 + (N − df + 0.5) / (df + 0.5))) over the live items."""

    def __init__(self, k1: float = 1.2, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self._slot: dict[str, int] = {}
        self._ids: list[str | None] = []
        self._free: list[int] = []
        self._lengths = np.zeros(0, dtype=np.float64)
        self._total_length = 0.0
        self._terms: dict[int, Counter[str]] = {}
        self._postings: dict[str, dict[int, int]] = {}  # token -> slot -> term count
        self._arrays: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # token -> (slots, counts)

    def __len__(self) -> int:
        return len(self._slot)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._slot

    def upsert(self, ids: Sequence[str], texts: Sequence[str]) -> None:
        """Add or replace items' texts."""
        if len(ids) != len(texts):
            raise ValueError(f"expected one text per id, got {len(ids)} ids and {len(texts)} texts")
        self.delete([i for i in ids if i in self._slot])
        for item_id, text in zip(ids, texts):
            slot = self._new_slot(item_id)
            terms = Counter(tokenize(text))
            self._terms[slot] = terms
            length = float(sum(terms.values()))
            self._lengths[slot] = length
            self._total_length += length
            for token, count in terms.items():
                self._postings.setdefault(token, {})[slot] = count
                self._arrays.pop(token, None)

    def delete(self, ids: Collection[str]) -> None:
        """Remove items; unknown ids are ignored."""
        for item_id in ids:
            slot = self._slot.pop(item_id, None)
            if slot is None:
                continue
            for token in self._terms.pop(slot):
                postings = self._postings[token]
                del postings[slot]
                if not postings:
                    del self._postings[token]
                self._arrays.pop(token, None)
            self._total_length -= self._lengths[slot]
            self._lengths[slot] = 0.0
            self._ids[slot] = None
            self._free.append(slot)

    def search(self, text: str, k: int, exclude: Collection[str] = ()) -> tuple[list[str], np.ndarray]:
        """The k best-scoring items (score > 0) for `text`, best first; equal scores by slot."""
        scores = self.scores(text)
        for item_id in exclude:
            slot = self._slot.get(item_id)
            if slot is not None:
                scores[slot] = 0.0
        hits = np.flatnonzero(scores > 0)
        if len(hits) > k:
            hits = hits[np.argpartition(-scores[hits], k - 1)[:k]]
        hits = hits[np.lexsort((hits, -scores[hits]))]
        return [self._ids[s] for s in hits.tolist()], scores[hits]  # type: ignore[misc]

    def scores(self, text: str) -> np.ndarray:
        """BM25 of every slot (0 for free slots); a repeated query term counts each time."""
        scores = np.zeros(len(self._ids), dtype=np.float64)
        n = len(self._slot)
        if not n:
            return scores
        avg = self._total_length / n
        for token in tokenize(text):
            arrays = self._posting_arrays(token)
            if arrays is None:
                continue
            slots, counts = arrays
            idf = np.log1p((n - len(slots) + 0.5) / (len(slots) + 0.5))
            norm = self.k1 * (1 - self.b + self.b * self._lengths[slots] / avg)
            scores[slots] += idf * counts * (self.k1 + 1) / (counts + norm)
        return scores

    def _posting_arrays(self, token: str) -> tuple[np.ndarray, np.ndarray] | None:
        cached = self._arrays.get(token)
        if cached is None:
            postings = self._postings.get(token)
            if not postings:
                return None
            cached = (np.fromiter(postings.keys(), dtype=np.int64, count=len(postings)),
                      np.fromiter(postings.values(), dtype=np.float64, count=len(postings)))
            self._arrays[token] = cached
        return cached

    def _new_slot(self, item_id: str) -> int:
        if self._free:
            slot = self._free.pop()
            self._ids[slot] = item_id
        else:
            slot = len(self._ids)
            self._ids.append(item_id)
            if slot >= len(self._lengths):
                self._lengths = np.concatenate([self._lengths, np.zeros(max(1024, slot), np.float64)])
        self._slot[item_id] = slot
        return slot

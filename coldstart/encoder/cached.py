"""What every served encoder shares, whatever runs it: the Encoder interface and its text->vector LRU cache."""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np


class CachedEncoder:
    """Texts to float32 unit rows through `_embed`, behind an LRU cache keyed by the exact text.

    Subclasses run a model (torch: coldstart.encoder.encoder; ONNX Runtime:
    coldstart.encoder.onnx_backend) and set `dim`. `query_prefix` and `passage_prefix` are the
    model's instructions for the two sides (e5's "query: " / "passage: ", bge's retrieval
    instruction); the cache keys on the prefixed text, so both sides share it safely.
    """

    query_prefix = ""
    passage_prefix = ""

    def __init__(self, version: str, dim: int, cache_size: int = 10_000, source: str = "",
                 item_encoder: CachedEncoder | None = None, vectors_version: str = "",
                 reranker: Any = None) -> None:
        self.version = version  # the model version: what output events name
        # What the vectors depend on (the encoder's weights, not a re-ranker's): caches key on it.
        self.vectors_version = vectors_version or version
        self.reranker = reranker  # a version's coldstart.encoder.reranker.CrossEncoder, if it has one
        self.source = source  # the model's directory or name, for tools that reload it
        self.item_encoder = item_encoder  # set when items use other maths (a query-side fine-tune keeps the base)
        self.dim = dim
        self.cache_size = cache_size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self._hits = self._misses = 0

    def encode(self, texts: Sequence[str], batch_size: int = 64, show_progress: bool = False,
               remember: bool = True) -> np.ndarray:
        """Embed texts as given (no prefix): float32 unit rows in input order; cached texts skip the model.
        `remember=False`: new texts are not added to the cache (a user's words are personal
        data and must not outlive the request in a long-lived cache)."""
        if isinstance(texts, str):
            raise TypeError("encode expects a sequence of strings, got one str; wrap it in a list")
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        missing = self._from_cache(texts, out)
        if missing:
            vectors = self._embed(list(missing), batch_size, show_progress)
            for (text, rows), vector in zip(missing.items(), vectors):
                out[rows] = vector
                if remember:
                    self._remember(text, vector.copy())  # a copy, so the cache pins no batch array
        return out

    def encode_items(self, texts: Sequence[str], batch_size: int = 64, show_progress: bool = False) -> np.ndarray:
        """Embed catalogue item texts: with `item_encoder` when the model has one, else with the passage prefix."""
        if self.item_encoder is not None:
            return self.item_encoder.encode_items(texts, batch_size=batch_size, show_progress=show_progress)
        return self.encode(_prefixed(self.passage_prefix, texts), batch_size=batch_size, show_progress=show_progress)

    def encode_users(self, texts: Sequence[str], batch_size: int = 64, show_progress: bool = False) -> np.ndarray:
        """Embed user descriptions and queries, with the query prefix; they are not cached (only
        item texts are: a user's words are personal data)."""
        return self.encode(_prefixed(self.query_prefix, texts), batch_size=batch_size, show_progress=show_progress,
                           remember=False)

    def with_cache_size(self, cache_size: int) -> CachedEncoder:
        """The same model behind a fresh cache (0 disables it, e.g. for benchmarks)."""
        raise NotImplementedError

    def cache_info(self) -> dict[str, int]:
        with self._lock:
            return {"hits": self._hits, "misses": self._misses, "size": len(self._cache),
                    "maxsize": self.cache_size}

    def _embed(self, texts: list[str], batch_size: int, show_progress: bool) -> np.ndarray:
        """Run the model on distinct uncached texts; rows in input order, float32, unit norm."""
        raise NotImplementedError

    def _from_cache(self, texts: Sequence[str], out: np.ndarray) -> dict[str, list[int]]:
        """Fill cached rows of `out`; return each other distinct text with the rows it belongs to."""
        missing: dict[str, list[int]] = {}
        with self._lock:
            for row, text in enumerate(texts):
                vector = self._cache.get(text) if self.cache_size else None
                if vector is None:
                    missing.setdefault(text, []).append(row)
                    continue
                self._cache.move_to_end(text)
                out[row] = vector
                self._hits += 1
            self._misses += sum(len(rows) for rows in missing.values())
        return missing

    def _remember(self, text: str, vector: np.ndarray) -> None:
        if not self.cache_size:
            return
        with self._lock:
            self._cache[text] = vector
            self._cache.move_to_end(text)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)


def _prefixed(prefix: str, texts: Sequence[str]) -> Sequence[str]:
    if isinstance(texts, str):
        raise TypeError("encode expects a sequence of strings, got one str; wrap it in a list")
    return [prefix + text for text in texts] if prefix else texts


def length_batches(texts: Sequence[str], batch_size: int, show_progress: bool) -> Iterator[list[int]]:
    """Row indices in batches of `batch_size`, longest texts first, so each batch pads to similar
    lengths (the caller writes each batch's rows back in input order)."""
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    starts: Iterable[int] = range(0, len(texts), batch_size)
    if show_progress:
        from tqdm.auto import tqdm
        starts = tqdm(starts, desc="encode", unit="batch")
    for start in starts:
        yield order[start:start + batch_size]

"""A persistent text -> vector cache (RocksDB), one per model version, so restarts skip re-embedding.

A worker rebuilds its in-memory item index from the catalog topic at every start; with this
cache only texts it has never seen go through the encoder again. Only catalogue and ad texts
are stored here, never user text.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from rocksdict import Rdict


class TextVectorCache:
    """Vectors keyed by a hash of their text, in a RocksDB directory per model version."""

    def __init__(self, root: Path, model_version: str, dim: int) -> None:
        path = Path(root) / "text-vectors" / model_version
        path.mkdir(parents=True, exist_ok=True)
        self.dim = dim
        self._db = Rdict(str(path))

    def close(self) -> None:
        self._db.close()

    def encode(self, texts: Sequence[str], encode: Callable[[list[str]], np.ndarray]) -> np.ndarray:
        """Vectors for `texts`: cached ones read, the rest encoded in one call and stored."""
        keys = [_key(t) for t in texts]
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        missing = []
        for row, key in enumerate(keys):
            raw = self._db.get(key)
            if raw is None or len(raw) != 4 * self.dim:
                missing.append(row)
            else:
                out[row] = np.frombuffer(raw, dtype="<f4")
        if missing:
            fresh = encode([texts[row] for row in missing])
            for row, vec in zip(missing, fresh):
                out[row] = vec
                self._db[keys[row]] = np.asarray(vec, dtype="<f4").tobytes()
        return out


def _key(text: str) -> bytes:
    return hashlib.sha1(text.encode("utf-8", errors="replace")).digest()

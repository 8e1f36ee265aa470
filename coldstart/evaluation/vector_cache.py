"""Item vectors cached as .npy per model version, dataset and text fingerprint, so each is embedded once."""
from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from coldstart.config import Settings
from coldstart.evaluation.datasets import Catalogue


def default_cache_dir() -> Path:
    """$COLDSTART_DATA_DIR/cache (default var/coldstart/cache)."""
    return Settings.from_env().data_dir / "cache"


def text_fingerprint(texts: Sequence[str]) -> str:
    """A short content hash of the texts in order."""
    digest = hashlib.sha1()
    for text in texts:
        encoded = text.encode("utf-8")
        digest.update(len(encoded).to_bytes(8, "little") + encoded)
    return digest.hexdigest()[:16]


def cache_path(version: str, catalogue: Catalogue, cache_dir: Path | None = None) -> Path:
    """Where the vectors of `catalogue` under encoder `version` live."""
    safe_version = re.sub(r"[^A-Za-z0-9_.-]", "_", version)
    name = f"{catalogue.name}-{text_fingerprint(catalogue.texts)}.npy"
    return (cache_dir or default_cache_dir()) / safe_version / name


def item_vectors(encoder: Any, catalogue: Catalogue, cache_dir: Path | None = None, batch_size: int = 64) -> np.ndarray:
    """The catalogue's item vectors: read from the cache, else embedded (with a progress bar) and saved."""
    if getattr(encoder, "item_encoder", None) is not None:  # a query-side fine-tune: items keep its base's vectors
        return item_vectors(encoder.item_encoder, catalogue, cache_dir, batch_size)
    path = cache_path(str(getattr(encoder, "vectors_version", encoder.version)), catalogue, cache_dir)
    if path.is_file():
        vectors = np.load(path)
        if vectors.shape[0] == len(catalogue):
            return vectors
    embed = getattr(encoder, "encode_items", encoder.encode)  # with the model's passage prefix, if it has one
    vectors = np.asarray(embed(catalogue.texts, batch_size=batch_size, show_progress=True), dtype=np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npy")
    np.save(tmp, vectors)
    os.replace(tmp, path)
    return vectors

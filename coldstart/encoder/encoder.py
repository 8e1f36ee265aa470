"""Text to unit vectors: the sentence encoder, its LRU cache, and loading a model offline."""
from __future__ import annotations

import hashlib
import json
import logging
import os
import warnings
from typing import Any

import numpy as np
import torch
from torch import nn

from coldstart.encoder.cached import CachedEncoder, length_batches
from coldstart.encoder.modules import (
    ClsPooling,
    Head,
    Transformer,
    build_pipeline,
    default_model_path,
    item_base,
    transformer_of,
)
from coldstart.encoder.reranker import NAME_SUFFIX, has_reranker, load_reranker, reranker_digest
from coldstart.encoder.threads import torch_threads
from coldstart.errors import ModelError

__all__ = ["Encoder", "default_model_path", "load_encoder"]

log = logging.getLogger(__name__)

_QUANT_RECIPE = "dynamic-int8-per-channel, ffn-down fp32"  # change it whenever _quantize changes

# Up to this many texts run on one torch thread. A parallel region waits for its slowest thread,
# and on a machine whose cores the broker and the worker's Kafka threads also want, that wait set
# the tail of signup latency; one thread for a few short texts is as fast and frees a core.
# `coldstart bench pipeline --phase signups@20:600`: p99 227 ms before, 159 ms with this.
SMALL_BATCH = 8

_ARCH_KEYS = ("model_type", "hidden_size", "num_hidden_layers", "num_attention_heads",
              "intermediate_size", "hidden_act", "layer_norm_eps", "vocab_size")


class Encoder(CachedEncoder):
    """A torch module pipeline (transformer, pooling, [head], normalise) behind a text->vector LRU cache."""

    def __init__(self, pipeline: nn.Sequential, version: str, cache_size: int = 10_000,
                 source: str = "", item_encoder: Encoder | None = None,
                 vectors_version: str = "", reranker: Any = None) -> None:
        if not isinstance(pipeline[0], Transformer):
            raise ModelError(f"an encoder pipeline starts with a Transformer, got {type(pipeline[0]).__name__}")
        transformer = transformer_of(pipeline)
        heads = [module for module in pipeline if isinstance(module, Head)]
        super().__init__(version, heads[-1].dim if heads else transformer.dim, cache_size=cache_size,
                         source=source, item_encoder=item_encoder, vectors_version=vectors_version,
                         reranker=reranker)
        self.pipeline = pipeline
        self.transformer: Transformer = transformer
        self.query_prefix, self.passage_prefix = transformer.query_prefix, transformer.passage_prefix

    def with_cache_size(self, cache_size: int) -> Encoder:
        """The same model behind a fresh cache (0 disables it, e.g. for benchmarks)."""
        items = self.item_encoder.with_cache_size(cache_size) if self.item_encoder is not None else None
        assert items is None or isinstance(items, Encoder)
        return Encoder(self.pipeline, self.version, cache_size=cache_size, source=self.source, item_encoder=items,
                       vectors_version=self.vectors_version, reranker=self.reranker)

    def _embed(self, texts: list[str], batch_size: int, show_progress: bool) -> np.ndarray:
        """Run the model longest-first, so each batch pads to similar lengths; rows come back in input order."""
        result = np.empty((len(texts), self.dim), dtype=np.float32)
        with torch_threads(1 if len(texts) <= SMALL_BATCH else 0):
            for rows in length_batches(texts, batch_size, show_progress):
                features = self.transformer.tokenize([texts[i] for i in rows])
                with torch.inference_mode():
                    embedded = self.pipeline(features)["sentence_embedding"]
                result[rows] = embedded.float().numpy()
        return result


def load_encoder(name_or_path: str | None = None, *, threads: int = 0, cache_size: int = 10_000,
                 quantize: bool = False) -> Encoder:
    """Load an encoder offline: None/"" for the bundled model, a local directory, or a cached HF name.

    `threads` sets torch's process-wide intra-op pool (0: one thread per core); `quantize` turns the
    transformer's Linear layers into dynamic int8, which changes the version id.
    """
    _go_offline()
    torch.set_num_threads(threads or os.cpu_count() or 1)
    pipeline, name, source = build_pipeline(name_or_path or "")
    pipeline.eval()
    items_spec = item_base(name_or_path or "")
    items = (load_encoder(items_spec, threads=threads, cache_size=cache_size, quantize=quantize)
             if items_spec is not None else None)
    recipe = (_QUANT_RECIPE if quantize else "") + (f"; items: {items.version}" if items is not None else "")
    reranks = has_reranker(name_or_path)
    encoder_name = name.removesuffix(NAME_SUFFIX) if reranks else name  # caches share the encoder's name
    vectors_version = f"{encoder_name}-{_content_hash(pipeline, recipe)}" + ("-int8" if quantize else "")
    version, reranker = vectors_version, None
    if reranks:  # a version with a re-ranker: its id covers the re-ranker too
        reranker = load_reranker(str(name_or_path), threads)
        recipe += f"; reranker: {reranker_digest(str(name_or_path))}"
        version = f"{name}-{_content_hash(pipeline, recipe)}" + ("-int8" if quantize else "")
    if quantize:
        _quantize(transformer_of(pipeline))  # after hashing the fp32 weights; the recipe stands for what it does
    log.info("encoder %s loaded from %s (%d torch threads)", version, source, torch.get_num_threads())
    return Encoder(pipeline, version, cache_size=cache_size, source=source, item_encoder=items,
                   vectors_version=vectors_version, reranker=reranker)


def _go_offline() -> None:
    """Model hubs are unreachable here: never let transformers try (read at its import, so set first)."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"


def _content_hash(pipeline: nn.Sequential, recipe: str = "") -> str:
    """8 hex of sha256 over every weight, the architecture, max_seq_length and any quantisation recipe."""
    digest = hashlib.sha256()
    config = transformer_of(pipeline).model.config
    arch = {key: getattr(config, key, None) for key in _ARCH_KEYS}
    transformer = transformer_of(pipeline)
    described: dict[str, object] = {"arch": arch, "max_seq_length": transformer.max_seq_length, "quantize": recipe}
    pooling = "cls" if any(isinstance(module, ClsPooling) for module in pipeline) else "mean"
    if pooling != "mean" or transformer.query_prefix or transformer.passage_prefix:  # a fetched model's maths
        described["serving"] = {"pooling": pooling, "query_prefix": transformer.query_prefix,
                                "passage_prefix": transformer.passage_prefix}
    digest.update(json.dumps(described, sort_keys=True).encode())
    for key, tensor in sorted(pipeline.state_dict().items()):
        digest.update(f"{key}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(tensor.detach().cpu().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:8]


def _quantize(transformer: Transformer) -> None:
    """Dynamic int8 (per-channel weights) on the transformer's Linear layers, bar the FFN down-projections.

    Those read GELU outputs whose outliers per-batch activation quantisation clips badly: quantising
    them too drops the worst cosine to the fp32 vectors from ~0.98 to ~0.87 on all-MiniLM-L6-v2.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization warns that it is deprecated
        try:
            from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic
        except ImportError as err:
            raise ModelError("quantize=True needs torch.ao.quantization, which this torch lacks") from err
        model = transformer.model
        wide = getattr(model.config, "intermediate_size", None)
        targets = {name: per_channel_dynamic_qconfig for name, module in model.named_modules()
                   if isinstance(module, nn.Linear) and module.in_features != wide}
        transformer.model = quantize_dynamic(model, targets, dtype=torch.qint8)

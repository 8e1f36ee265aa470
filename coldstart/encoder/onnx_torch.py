"""A fetched fp32 ONNX encoder's weights as a torch pipeline: its BERT graph's initializers in transformers' BertModel.

The ONNX exports in the catalogue (coldstart model fetch) are BERT graphs traced from PyTorch: the
embeddings and LayerNorm parameters keep their module names as initializers, while each linear
layer's weight is an anonymous (in, out) initializer feeding a MatMul whose output the layer's named
bias is added to. So every parameter of the matching BertModel is found by name or through that
MatMul -> Add(bias) pair, and the shape of the model (layers, heads, FFN width, LayerNorm epsilon)
is read from the graph itself; the jars carry no config.json. The loaded model computes the same
token embeddings as ONNX Runtime does, and the version's manifest adds the pooling and the prefixes.
int8 graphs (quantised operators) hold no fp32 weights to train and are refused with a pointer to
the fp32 sibling.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from coldstart.errors import ModelError

LINEARS = ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense",
           "intermediate.dense", "output.dense")
NAMED = ("embeddings.word_embeddings.weight", "embeddings.position_embeddings.weight",
         "embeddings.token_type_embeddings.weight", "embeddings.LayerNorm.weight", "embeddings.LayerNorm.bias")
QUANTISED_OPS = frozenset({"MatMulInteger", "DynamicQuantizeLinear", "QuantizeLinear", "DequantizeLinear",
                           "QLinearMatMul", "QGemm", "MatMulNBits", "DynamicQuantizeMatMul"})
_LAYER = re.compile(r"encoder\.layer\.(\d+)\.")


@dataclass
class BertGraph:
    """What was read from a BERT ONNX graph: the BertModel state dict (torch layout, numpy arrays),
    the initializer each parameter came from (and whether it is stored transposed), and the config."""

    state: dict[str, np.ndarray]
    sources: dict[str, tuple[str, bool]]  # parameter -> (initializer name, stored as its transpose)
    config: dict[str, Any]


def read_onnx(path: Path) -> Any:
    """The ONNX model proto (with its weights) of `path`."""
    try:
        import onnx
    except ImportError as err:
        raise ModelError("reading an ONNX encoder's weights needs the onnx package (pip install onnx)") from err
    try:
        return onnx.load(str(path))
    except Exception as err:  # onnx raises its own decode errors
        raise ModelError(f"cannot read the ONNX model {path}: {type(err).__name__}: {err}") from err


def bert_graph(model: Any, where: str = "the ONNX model", fp32_hint: str = "", exported: bool = False) -> BertGraph:
    """Map a BERT graph's initializers onto BertModel's parameters; ModelError for an int8 or unknown graph,
    or (unless `exported`) a fine-tuned export, whose head BertModel has no place for."""
    from onnx import numpy_helper

    graph = model.graph
    quantised = sorted({node.op_type for node in graph.node} & QUANTISED_OPS)
    if quantised:
        raise ModelError(f"{where} is an int8 graph ({', '.join(quantised)}): it has no fp32 weights to load into "
                         f"torch{fp32_hint}; a head-only fine-tune (--lora-r 0 --head) can still train on it")
    inits = {init.name: init for init in graph.initializer}
    if "coldstart.head.weight" in inits and not exported:  # coldstart.encoder.onnx_export's head: not a BertModel part
        raise ModelError(f"{where} is a fine-tuned export (a head on the encoder's graph), not a fetched "
                         "encoder: fine-tune its base instead")
    produced = {out: node for node in graph.node for out in node.output}
    state: dict[str, np.ndarray] = {}
    sources: dict[str, tuple[str, bool]] = {}
    for name in NAMED:
        if name in inits:
            state[name], sources[name] = numpy_helper.to_array(inits[name]), (name, False)
    for node in graph.node:  # a linear layer: Add(MatMul(x, W_t), <layer>.bias)
        if node.op_type != "Add":
            continue
        bias = next((i for i in node.input if i.endswith(".bias") and i in inits), None)
        other = next((i for i in node.input if i != bias), None)
        matmul = produced.get(other or "")
        if bias is None or matmul is None or matmul.op_type != "MatMul" or matmul.input[1] not in inits:
            continue
        layer = bias.removesuffix(".bias")
        state[f"{layer}.weight"] = numpy_helper.to_array(inits[matmul.input[1]]).T
        sources[f"{layer}.weight"] = (matmul.input[1], True)
        state[f"{layer}.bias"], sources[f"{layer}.bias"] = numpy_helper.to_array(inits[bias]), (bias, False)
        for suffix in ("weight", "bias"):  # the LayerNorm after a linear layer, by its module's name
            norm = f"{layer.rsplit('.', 1)[0]}.LayerNorm.{suffix}"
            if norm in inits and norm not in state:
                state[norm], sources[norm] = numpy_helper.to_array(inits[norm]), (norm, False)
    layers = sorted({int(m.group(1)) for key in state if (m := _LAYER.match(key))})
    per_layer = [*(f"{lin}.{s}" for lin in LINEARS for s in ("weight", "bias")),
                 *(f"{ln}.LayerNorm.{s}" for ln in ("attention.output", "output") for s in ("weight", "bias"))]
    expected = [*NAMED, *(f"encoder.layer.{i}.{key}" for i in layers for key in per_layer)]
    missing = [key for key in expected if key not in state]
    if not layers or missing or layers != list(range(len(layers))):
        raise ModelError(f"{where} is not a BERT encoder graph this loader knows (initializers named like "
                         f"transformers' BertModel, linear layers as MatMul + bias Add); missing "
                         f"{missing[:4] or 'encoder layers'}")
    if not any(node.op_type == "Erf" for node in graph.node):
        raise ModelError(f"{where}: expected BERT's exact (erf) GELU in the graph, found none")
    vocab, hidden = state["embeddings.word_embeddings.weight"].shape
    heads = _heads(graph, produced, inits, hidden)
    config = {"vocab_size": int(vocab), "hidden_size": int(hidden), "num_hidden_layers": len(layers),
              "num_attention_heads": heads,
              "intermediate_size": int(state["encoder.layer.0.intermediate.dense.weight"].shape[0]),
              "max_position_embeddings": int(state["embeddings.position_embeddings.weight"].shape[0]),
              "type_vocab_size": int(state["embeddings.token_type_embeddings.weight"].shape[0]),
              "hidden_act": "gelu", "layer_norm_eps": _layer_norm_eps(graph, produced, inits)}
    return BertGraph(state, sources, config)


def _constant(name: str, produced: dict[str, Any], inits: dict[str, Any]) -> np.ndarray | None:
    from onnx import numpy_helper

    if name in inits:
        return np.asarray(numpy_helper.to_array(inits[name]))
    node = produced.get(name)
    if node is not None and node.op_type == "Constant" and node.attribute:
        return np.asarray(numpy_helper.to_array(node.attribute[0].t))
    return None


def _heads(graph: Any, produced: dict[str, Any], inits: dict[str, Any], hidden: int) -> int:
    """Attention heads: the (heads, head_dim) ends of the shape the first query projection is reshaped to."""
    query_add = next(n for n in graph.node if n.op_type == "Add" and "encoder.layer.0.attention.self.query.bias"
                     in n.input)
    for node in graph.node:
        if node.op_type == "Reshape" and node.input[0] == query_add.output[0]:
            shape = _constant(node.input[1], produced, inits)
            concat = produced.get(node.input[1])
            if shape is None and concat is not None and concat.op_type == "Concat":
                parts = [_constant(i, produced, inits) for i in concat.input[-2:]]
                shape = np.concatenate(parts) if all(p is not None for p in parts) else None  # type: ignore[arg-type]
            if shape is not None and len(shape) >= 2 and int(shape[-2]) * int(shape[-1]) == hidden:
                return int(shape[-2])
    raise ModelError(f"cannot read the number of attention heads from the graph (hidden size {hidden})")


def _layer_norm_eps(graph: Any, produced: dict[str, Any], inits: dict[str, Any]) -> float:
    """The epsilon added to the variance before the first LayerNorm's Sqrt."""
    for node in graph.node:
        if node.op_type == "Sqrt" and (add := produced.get(node.input[0])) is not None and add.op_type == "Add":
            for name in add.input:
                value = _constant(name, produced, inits)
                if value is not None and value.size == 1:
                    return float(value.reshape(-1)[0])
    return 1e-12


def load_bert(path: Path, where: str = "", fp32_hint: str = "") -> tuple[Any, BertGraph]:
    """The transformers BertModel (no pooler) holding the graph's weights exactly, and what was read."""
    import torch
    from transformers import BertConfig, BertModel

    read = bert_graph(read_onnx(path), where or str(path), fp32_hint)
    model = BertModel(BertConfig(**read.config), add_pooling_layer=False)
    params = dict(model.named_parameters())
    unknown = sorted(set(read.state) - set(params))
    untouched = sorted(set(params) - set(read.state))
    if unknown or untouched:
        raise ModelError(f"{where or path}: the graph's weights do not fit BertModel (unexpected {unknown[:3]}, "
                         f"missing {untouched[:3]})")
    with torch.no_grad():
        for name, value in read.state.items():
            if tuple(params[name].shape) != value.shape:
                raise ModelError(f"{where or path}: {name} has shape {value.shape}, BertModel expects "
                                 f"{tuple(params[name].shape)}")
            params[name].copy_(torch.from_numpy(np.array(value, dtype=np.float32)))  # a writable copy
    model.eval()
    return model, read


def tokenizer_from_file(path: Path, max_seq_length: int) -> Any:
    """A transformers fast tokenizer around a tokenizer.json, padding with its own pad token."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer.from_file(str(path))
    backend.no_padding()
    backend.no_truncation()
    pad = "[PAD]" if backend.token_to_id("[PAD]") is not None else "<pad>"
    return PreTrainedTokenizerFast(tokenizer_object=backend, pad_token=pad, model_max_length=max_seq_length)


def onnx_pipeline(directory: Path) -> tuple[Any, str, str]:
    """An fp32 ONNX version directory as (torch pipeline, name, source): its BertModel, the manifest's
    pooling (mean or CLS) and normalisation, with the query/passage prefixes kept on the Transformer."""
    from torch import nn

    from coldstart.encoder.modules import ClsPooling, MeanPooling, Normalize, Transformer

    manifest = dict(json.loads((directory / "manifest.json").read_text()))
    name = str(manifest.get("name") or directory.name)
    hint = (f" (fetch its fp32 sibling: `coldstart model fetch {name.removesuffix('-q')}`)"
            if manifest.get("int8") or name.endswith("-q") else "")
    model, _ = load_bert(directory / str(manifest.get("onnx", "model.onnx")), f"{directory.name} ({name})", hint)
    max_len = int(manifest.get("max_seq_length", 256))
    tokenizer = tokenizer_from_file(directory / str(manifest.get("tokenizer", "tokenizer.json")), max_len)
    transformer = Transformer(model, tokenizer, max_seq_length=max_len,
                              query_prefix=str(manifest.get("query_prefix", "")),
                              passage_prefix=str(manifest.get("passage_prefix", "")))
    pooling = str(manifest.get("pooling", "mean"))
    if pooling not in ("mean", "cls"):
        raise ModelError(f"{directory / 'manifest.json'}: expected pooling mean or cls, got {pooling!r}")
    pool: nn.Module = ClsPooling() if pooling == "cls" else MeanPooling()
    return nn.Sequential(transformer, pool, Normalize()), name, str(directory)

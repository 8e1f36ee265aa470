"""A fetched fp32 ONNX encoder read into torch (BertModel) computes what ONNX Runtime computes; int8 and
unknown graphs are refused clearly."""
from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from coldstart.encoder.encoder import Encoder, load_encoder
from coldstart.encoder.loader import load_model
from coldstart.encoder.onnx_torch import bert_graph
from coldstart.errors import ModelError

TEXTS = ["cordless drill with two batteries", "I am training for a half marathon and want light running shoes",
         "vegetable gardening handbook", "1/2 in. x 10 ft. copper pipe", "a", "Toliet seat, elongated, white " * 60]


def test_fp32_onnx_weights_in_torch_give_the_onnx_runtime_vectors(fetched_models: Callable[[str], Path]) -> None:
    """Same texts through ONNX Runtime and through the BertModel holding the graph's initializers: the
    same vectors, both sides, padded batches and a text past max_seq_length included."""
    path = fetched_models("all-minilm-l6-v2")
    onnx = load_model(str(path), cache_size=0)
    torch_model = load_encoder(str(path), cache_size=0)
    assert isinstance(torch_model, Encoder) and torch_model.dim == onnx.dim == 384
    assert torch_model.transformer.max_seq_length == 256
    for side in ("encode_users", "encode_items"):
        expected, got = getattr(onnx, side)(TEXTS, batch_size=4), getattr(torch_model, side)(TEXTS, batch_size=4)
        assert np.abs(expected - got).max() < 1e-5, side


def test_cls_pooling_and_prefixes_come_from_the_manifest(fetched_models: Callable[[str], Path],
                                                        tmp_path: Path) -> None:
    """A manifest saying CLS pooling and per-side prefixes (as bge's and e5's do) gets them in torch too,
    and they are part of the torch version id."""
    source = fetched_models("all-minilm-l6-v2")
    copy = tmp_path / "cls-prefixed"
    shutil.copytree(source, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    (copy / "manifest.json").write_text(json.dumps({**manifest, "pooling": "cls", "query_prefix": "query: ",
                                                    "passage_prefix": "passage: "}))
    onnx, torch_model = load_model(str(copy), cache_size=0), load_encoder(str(copy), cache_size=0)
    assert (torch_model.query_prefix, torch_model.passage_prefix) == ("query: ", "passage: ")
    for side in ("encode_users", "encode_items"):
        assert np.abs(getattr(onnx, side)(TEXTS) - getattr(torch_model, side)(TEXTS)).max() < 1e-5, side
    assert np.abs(torch_model.encode_users(TEXTS[:2]) - torch_model.encode_items(TEXTS[:2])).max() > 1e-3
    assert torch_model.version != load_encoder(str(source), cache_size=0).version


def test_an_int8_version_is_refused_and_names_its_fp32_sibling(fetched_models: Callable[[str], Path]) -> None:
    with pytest.raises(ModelError, match=r"int8 graph.*coldstart model fetch all-minilm-l6-v2`"):
        load_encoder(str(fetched_models("all-minilm-l6-v2-q")), cache_size=0)


def test_a_graph_that_is_not_bert_is_a_clear_error() -> None:
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.eye(4, dtype=np.float32), "dense.weight")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "dense.weight"], ["y"])], "not-bert",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], [weight])
    with pytest.raises(ModelError, match="not a BERT encoder graph"):
        bert_graph(helper.make_model(graph), "tiny")

"""Writing fine-tuned weights back into a fetched encoder's ONNX graph, and quantising it to int8.

The export is the base version's own graph with new weights: every BertModel parameter goes back into
the initializer it was read from (coldstart.encoder.onnx_torch), and a projection head becomes one
MatMul on the token embeddings (output 0). A linear map commutes with mean and CLS pooling, and the
L2 normalisation afterwards only keeps the direction, so ONNX Runtime's usual tokenizer -> model ->
pooling -> normalise (coldstart.encoder.onnx_backend) serves the fine-tuned model unchanged.
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from coldstart.encoder.onnx_torch import bert_graph, read_onnx
from coldstart.errors import ModelError

HEAD_WEIGHT = "coldstart.head.weight"
HEAD_BIAS = "coldstart.head.bias"
OUTPUT = "token_embeddings"


def write_onnx(base_model: Path, target: Path, state: Mapping[str, np.ndarray] | None = None,
               head: tuple[np.ndarray, np.ndarray | None] | None = None) -> None:
    """`base_model`'s graph, with `state` (BertModel parameters in torch's layout) in place of its weights
    and `head` ((out, in) weight, optional bias) applied to each token embedding, written to `target`."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = read_onnx(base_model)
    graph = model.graph
    if state:
        read = bert_graph(model, str(base_model))
        inits = {init.name: init for init in graph.initializer}
        unknown = sorted(set(state) - set(read.sources))
        if unknown:
            raise ModelError(f"{base_model}: no initializer for {unknown[:3]}")
        for name, value in state.items():
            source, transposed = read.sources[name]
            array = np.ascontiguousarray((value.T if transposed else value).astype(np.float32))
            if tuple(inits[source].dims) != array.shape:
                raise ModelError(f"{base_model}: {name} has shape {array.shape}, the graph's {source} "
                                 f"{tuple(inits[source].dims)}")
            inits[source].CopyFrom(numpy_helper.from_array(array, source))
    if head is not None:
        weight, bias = head
        tokens = graph.output[0].name
        graph.initializer.append(numpy_helper.from_array(np.ascontiguousarray(weight.T, dtype=np.float32),
                                                         HEAD_WEIGHT))
        projected = OUTPUT if bias is None else f"{OUTPUT}_unbiased"
        graph.node.append(helper.make_node("MatMul", [tokens, HEAD_WEIGHT], [projected], name="coldstart_head"))
        if bias is not None:
            graph.initializer.append(numpy_helper.from_array(np.asarray(bias, dtype=np.float32), HEAD_BIAS))
            graph.node.append(helper.make_node("Add", [projected, HEAD_BIAS], [OUTPUT], name="coldstart_head_bias"))
        out = helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["batch", "sequence", int(weight.shape[0])])
        del graph.output[:]
        graph.output.append(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(target))


def quantize_int8(source: Path, target: Path) -> None:
    """Dynamic int8 (per-channel weights) of the graph's MatMuls, bar the FFN down-projections and the head.

    As for torch's int8 (coldstart.encoder.encoder._quantize), the down-projections read GELU outputs
    whose outliers per-batch activation quantisation clips badly, so they stay fp32.
    """
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as err:
        raise ModelError("an int8 export needs onnxruntime.quantization (pip install onnxruntime onnx)") from err
    model = read_onnx(source)
    read = bert_graph(model, str(source), exported=True)
    down = {read.sources[name][0] for name in read.sources if name.endswith(".output.dense.weight")
            and ".attention." not in name}
    excluded = [node.name for node in model.graph.node
                if node.op_type == "MatMul" and (set(node.input) & down or HEAD_WEIGHT in node.input)]
    quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, per_channel=True,
                     op_types_to_quantize=["MatMul"], nodes_to_exclude=excluded)


def head_arrays(head: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """A coldstart Head's (out, in) weight and optional bias as float32 arrays."""
    linear = head.linear
    bias = linear.bias.detach().cpu().numpy() if linear.bias is not None else None
    return linear.weight.detach().cpu().numpy().astype(np.float32), bias

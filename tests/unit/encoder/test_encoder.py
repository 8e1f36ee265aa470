"""The encoder on the real bundled model: shapes, norms, order, meaning, cache, versions and errors."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from coldstart.encoder.encoder import Encoder, default_model_path, load_encoder
from coldstart.errors import ModelError
from streams.tools.bench.encoder import sample_texts

TEXTS = ["trail running shoes", "", "   ", "lightweight running sneakers for trails",
         "a very long product description " * 80, "stainless steel saucepan"]


def test_shape_dtype_and_unit_norm(encoder: Encoder) -> None:
    vectors = encoder.encode(TEXTS)
    assert vectors.shape == (len(TEXTS), encoder.dim) == (len(TEXTS), 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_empty_input_gives_zero_rows(encoder: Encoder) -> None:
    assert encoder.encode([]).shape == (0, encoder.dim)
    assert encoder.encode_users([]).dtype == np.float32


def test_order_is_kept_despite_length_sorting(encoder: Encoder) -> None:
    uncached = encoder.with_cache_size(0)
    texts = sample_texts(40, seed=3)
    together = uncached.encode(texts, batch_size=8)
    alone = np.stack([uncached.encode([text])[0] for text in texts])
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_nearer_meaning_scores_higher(encoder: Encoder) -> None:
    query, near, far = encoder.encode_users(["trail running shoes"])[0], *encoder.encode_items(
        ["lightweight running sneakers for trails", "stainless steel saucepan"])
    assert query @ near > query @ far + 0.3


def test_cache_hit_is_identical_and_bounded(encoder: Encoder) -> None:
    small = encoder.with_cache_size(3)
    first = small.encode(["wireless headphones"])
    second = small.encode(["wireless headphones"])
    assert np.array_equal(first, second)
    assert small.cache_info()["hits"] == 1
    small.encode([f"text number {i}" for i in range(10)])
    assert small.cache_info()["size"] == 3


def test_user_texts_are_never_kept_in_the_cache(encoder: Encoder) -> None:
    """A user's words are personal data: the long-lived LRU cache holds item texts only."""
    small = encoder.with_cache_size(10)
    small.encode_items(["stainless steel saucepan"])
    small.encode_users(["my unique private words", "stainless steel saucepan"])
    assert small.cache_info()["size"] == 1 and small.cache_info()["hits"] == 1
    assert "my unique private words" not in small._cache


def test_repeated_texts_in_one_call_run_the_model_once(encoder: Encoder) -> None:
    small = encoder.with_cache_size(10)
    vectors = small.encode(["tent", "tent", "lamp", "tent"])
    assert np.array_equal(vectors[0], vectors[3]) and small.cache_info()["size"] == 2


def test_version_is_stable_and_content_derived(encoder: Encoder) -> None:
    assert encoder.version.startswith("all-MiniLM-L6-v2-")
    assert load_encoder().version == encoder.version
    assert load_encoder(str(default_model_path())).version.endswith(encoder.version[-8:])


def test_int8_is_close_to_fp32_and_versioned_apart(encoder: Encoder) -> None:
    quantized = load_encoder(quantize=True, cache_size=0)
    assert quantized.version != encoder.version and quantized.version.endswith("-int8")
    texts = sample_texts(20, seed=5)
    cosines = np.sum(quantized.encode(texts) * encoder.with_cache_size(0).encode(texts), axis=1)
    assert cosines.min() > 0.95


def test_version_dir_applies_its_head(encoder: Encoder, tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text(json.dumps({"base": str(default_model_path()), "name": "ft"}))
    torch.save({"weight": torch.eye(16, encoder.dim)}, tmp_path / "head.pt")
    tuned = load_encoder(str(tmp_path), cache_size=0)
    assert tuned.dim == 16 and tuned.version.startswith("ft-")
    expected = encoder.encode(["tent"])[0, :16]
    np.testing.assert_allclose(tuned.encode(["tent"])[0], expected / np.linalg.norm(expected), atol=1e-5)


def test_missing_model_raises_a_helpful_model_error() -> None:
    with pytest.raises(ModelError, match="COLDSTART_MODEL") as info:
        load_encoder("/nonexistent/coldstart-model")
    assert "/nonexistent/coldstart-model" in str(info.value) and "unreachable" in str(info.value)


def test_a_bare_string_is_refused(encoder: Encoder) -> None:
    with pytest.raises(TypeError):
        encoder.encode("tent")  # type: ignore[arg-type]


def test_a_few_texts_run_on_one_thread_and_the_setting_is_restored(encoder: Encoder) -> None:
    """Small batches (a signup or two) run single-threaded: on shared cores a parallel region
    waits for its slowest thread, which set the tail of signup latency."""
    import torch

    from coldstart.encoder.encoder import SMALL_BATCH

    seen: list[int] = []
    hook = encoder.transformer.register_forward_pre_hook(
        lambda *_: seen.append(torch.get_num_threads()))
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        encoder.encode_users([f"small batch text {i}" for i in range(2)])
        encoder.encode_users([f"large batch text {i}" for i in range(SMALL_BATCH + 1)])
        assert seen == [1, 2]
        assert torch.get_num_threads() == 2
    finally:
        hook.remove()
        torch.set_num_threads(before)

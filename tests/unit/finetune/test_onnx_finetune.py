"""Fine-tuning fetched ONNX encoders: a head on frozen ONNX features (int8 too), LoRA on an fp32 one's weights,
and the export back to ONNX (fp32 and int8) that the worker serves without torch."""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from coldstart.encoder import registry
from coldstart.encoder.encoder import Encoder
from coldstart.encoder.loader import load_model
from coldstart.encoder.onnx_backend import OnnxEncoder
from coldstart.errors import ConfigError, ModelError
from coldstart.finetune import FinetuneConfig, finetune, save
from coldstart.finetune.export import export_version
from tests.unit.pairs import tiny_pairs

TEXTS = ["cordless drill", "garden hose 50 ft", "how to bake sourdough", "Toliet seat, elongated, white " * 30]


def test_a_head_on_frozen_int8_onnx_features_saves_an_onnx_version(fetched_models: Callable[[str], Path]) -> None:
    """lora_r 0 + head on an int8 version: ONNX Runtime gives the base vectors, the head trains in torch, and
    the saved version is the int8 graph plus the head, served by ONNX Runtime: base vectors times the head."""
    base = fetched_models("all-minilm-l6-v2-q")
    root = base.parent
    config = FinetuneConfig(lora_r=0, head=True, epochs=2, batch_size=8, lr=1e-2, val_fraction=0.3)
    result = finetune(tiny_pairs(), config, base=str(base), progress=False)
    assert result.best["step"] > 0
    version = save(result, root)
    manifest = registry.manifest(version, root)
    assert version.startswith("all-minilm-l6-v2-q-ft-") and manifest["runtime"] == "onnx" and manifest["kind"] == "head"
    assert manifest["files"] == ["model.onnx", "tokenizer.json", "head.pt"] and manifest["int8"] is True
    served = load_model(str(registry.resolve(version, root)), cache_size=0)
    assert isinstance(served, OnnxEncoder) and served.version == version
    head = torch.load(registry.resolve(version, root) / "head.pt", weights_only=True)["weight"].numpy()
    projected = load_model(str(base), cache_size=0).encode(TEXTS) @ head.T
    projected /= np.linalg.norm(projected, axis=1, keepdims=True)
    assert np.abs(served.encode(TEXTS) - projected).max() < 1e-4  # the head applied per token = after pooling


def test_a_query_side_head_on_onnx_is_refused(fetched_models: Callable[[str], Path]) -> None:
    with pytest.raises(ConfigError, match="towers"):
        finetune(tiny_pairs(), FinetuneConfig(towers="query", lora_r=0, head=True, batch_size=8),
                 base=str(fetched_models("all-minilm-l6-v2-q")), progress=False)


def test_lora_on_fp32_onnx_weights_exports_back_to_onnx_fp32_and_int8(fetched_models: Callable[[str], Path]) -> None:
    """LoRA (and a head) on the fetched fp32 graph's weights in torch; the version exports to ONNX with the
    same vectors (fp32: ~1e-7; int8: cosine > 0.99), each registered with runtime onnx and the base's pooling."""
    base = fetched_models("all-minilm-l6-v2")
    root = base.parent
    config = FinetuneConfig(lora_r=4, lora_targets=("query", "value", "dense"), head=True, batch_size=10, lr=5e-3,
                            val_fraction=0.0)
    version = save(finetune(tiny_pairs(2), config, base=str(base), progress=False), root)
    tuned = load_model(str(registry.resolve(version, root)), cache_size=0)
    assert isinstance(tuned, Encoder) and version.startswith("all-minilm-l6-v2-ft-")
    base_vectors = load_model(str(base), cache_size=0).encode(TEXTS)
    assert float((tuned.encode(TEXTS) * base_vectors).sum(axis=1).max()) < 0.99999  # it moved
    fp32 = export_version(version, root)
    exported = load_model(str(registry.resolve(fp32, root)), cache_size=0)
    assert isinstance(exported, OnnxEncoder) and exported.version == fp32 != version
    assert np.abs(exported.encode_users(TEXTS) - tuned.encode_users(TEXTS)).max() < 1e-5
    manifest = registry.manifest(fp32, root)
    assert manifest["runtime"] == "onnx" and manifest["exported_from"] == version and manifest["pooling"] == "mean"
    int8 = export_version(version, root, int8=True)
    quantised = load_model(str(registry.resolve(int8, root)), cache_size=0)
    assert registry.manifest(int8, root)["int8"] is True and int8.startswith("all-minilm-l6-v2-ft-q-")
    assert float((quantised.encode(TEXTS) * tuned.encode(TEXTS)).sum(axis=1).min()) > 0.99
    with pytest.raises(ModelError, match="ONNX version already"):
        export_version(fp32, root)


def test_export_refuses_a_version_without_an_onnx_base(tmp_path: Path) -> None:
    (tmp_path / "v1").mkdir()
    (tmp_path / "v1" / "manifest.json").write_text(json.dumps({"name": "all-MiniLM-L6-v2-ft", "base": "", "kind": "head"}))
    with pytest.raises(ModelError, match="not built on a fetched ONNX encoder"):
        export_version("v1", tmp_path)


def test_cli_fine_tunes_a_fetched_model_by_name_and_exports_it(fetched_models: Callable[[str], Path], tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    """`coldstart finetune --base <fetched name> --lora-r 0 --head` then `coldstart model export V --int8`."""
    from streams.tools.cli import main as cli_main

    root = fetched_models("all-minilm-l6-v2").parent
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps({"text": p.text, "item_text": p.item}) + "\n" for p in tiny_pairs()))
    assert cli_main(["finetune", "--pairs", str(pairs), "--base", "all-minilm-l6-v2", "--out", str(root),
                     "--lora-r", "0", "--head", "--lr", "1e-2", "--batch-size", "8", "--quiet"]) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    manifest = registry.manifest(printed["model_version"], root)
    assert manifest["runtime"] == "onnx" and manifest["base"] == str(fetched_models("all-minilm-l6-v2").resolve())
    assert cli_main(["model", "export", printed["model_version"], "--int8", "--root", str(root)]) == 0
    exported = capsys.readouterr().out.split()[1]
    assert registry.manifest(exported, root)["int8"] is True
    assert isinstance(load_model(str(registry.resolve(exported, root)), cache_size=0), OnnxEncoder)


def test_a_fine_tuned_onnx_version_is_served_without_torch(fetched_models: Callable[[str], Path]) -> None:
    """The worker's model loader, with a head-on-ONNX version: vectors come, torch and transformers never load."""
    import os
    import subprocess
    import sys

    base = fetched_models("all-minilm-l6-v2-q")
    config = FinetuneConfig(lora_r=0, head=True, batch_size=8, lr=1e-2, val_fraction=0.0)
    path = registry.resolve(save(finetune(tiny_pairs(), config, base=str(base), progress=False), base.parent),
                            base.parent)
    script = f"""
import sys
import streams.worker
from streams.state import load_model
encoder = load_model({str(path)!r})
assert encoder.encode_users(["light shoes for a half marathon"]).shape == (1, encoder.dim)
assert encoder.encode_items(["trail running shoes"]).shape == (1, encoder.dim)
print(encoder.version, "torch" in sys.modules, "transformers" in sys.modules)
"""
    repo = Path(__file__).resolve().parents[3]
    env = {**os.environ, "PYTHONPATH": str(repo), "COLDSTART_DATA_DIR": str(base.parent.parent / "data")}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=repo,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split()[-3:] == [path.name, "False", "False"]

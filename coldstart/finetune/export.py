"""Fine-tuned versions of a fetched ONNX encoder as ONNX versions, which the worker serves without torch.

Two ways in: a head trained on frozen ONNX features (`finetune` with lora_r 0 on an ONNX version, fp32
or int8) is saved this way directly, and a torch fine-tune of a fetched fp32 encoder (LoRA and/or a
head) is exported on request (`coldstart model export VERSION [--int8]`). Either way the new version
is the base's graph with the tuned weights (coldstart.encoder.onnx_export), its tokenizer, and a
manifest whose runtime is "onnx", with the base's pooling and prefixes and the fine-tune's record.
"""
from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from coldstart.encoder.manifest import manifest_runtime
from coldstart.encoder.onnx_backend import RUNTIME
from coldstart.encoder.onnx_export import head_arrays, quantize_int8, write_onnx
from coldstart.errors import ModelError

SERVING_KEYS = ("dim", "pooling", "query_prefix", "passage_prefix", "max_seq_length", "languages", "int8", "licence",
                "layers", "intermediate_size", "source")


def onnx_base(version_dir: Path) -> Path | None:
    """The fetched ONNX version a fine-tuned version is built on (following "base" through versions), or None."""
    seen: set[Path] = set()
    path = version_dir
    while path not in seen:
        seen.add(path)
        if manifest_runtime(path) == RUNTIME:
            return path
        manifest = _manifest(path)
        base = str(manifest.get("base", ""))
        if not base:
            return None
        path = path / base if (path / base).is_dir() else Path(base).expanduser()
        if not (path / "manifest.json").is_file():
            return None
    return None


def _manifest(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads((path / "manifest.json").read_text()))
    except (OSError, ValueError) as err:
        raise ModelError(f"{path / 'manifest.json'} should be a JSON object: {err}") from err


def onnx_manifest(base_dir: Path, **fields: Any) -> dict[str, Any]:
    """A manifest serving like `base_dir` (pooling, prefixes, lengths, licence, source) with `fields` on top."""
    base = _manifest(base_dir)
    return {**{key: base[key] for key in SERVING_KEYS if key in base}, "kind": "onnx", "runtime": RUNTIME,
            "onnx": "model.onnx", "tokenizer": "tokenizer.json", **fields}


def _writer(base_dir: Path, state: dict[str, np.ndarray] | None, head: tuple[np.ndarray, np.ndarray | None] | None,
            int8: bool, extra: dict[str, Path] | None = None) -> Any:
    base = _manifest(base_dir)

    def write(staging: Path) -> list[str]:
        target = staging / "model.onnx"
        if int8:
            with tempfile.TemporaryDirectory(dir=staging) as scratch:
                fp32 = Path(scratch) / "fp32.onnx"
                write_onnx(base_dir / str(base.get("onnx", "model.onnx")), fp32, state, head)
                quantize_int8(fp32, target)
        else:
            write_onnx(base_dir / str(base.get("onnx", "model.onnx")), target, state, head)
        shutil.copyfile(base_dir / str(base.get("tokenizer", "tokenizer.json")), staging / "tokenizer.json")
        for name, source in (extra or {}).items():
            shutil.copyfile(source, staging / name)
        return ["model.onnx", "tokenizer.json", *(extra or {})]

    return write


def save_onnx_head(result: Any, manifest: dict[str, Any], root: Path | str | None = None) -> str:
    """Save a head trained on a fetched ONNX version's frozen features as an ONNX version; return its id."""
    import torch

    from coldstart.encoder.modules import Head
    from coldstart.encoder.registry import save_version

    base_dir = Path(result.base).expanduser()
    head = next(module for module in result.pipeline if isinstance(module, Head))
    weight, bias = head_arrays(head)
    with tempfile.TemporaryDirectory() as scratch:
        saved = Path(scratch) / "head.pt"  # kept beside the graph: what a later fine-tune can start from
        torch.save({k: v.detach().cpu() for k, v in head.linear.state_dict().items()}, saved)
        fields = onnx_manifest(base_dir, **{**manifest, "kind": "head", "dim": int(weight.shape[0])})
        return save_version(_writer(base_dir, None, (weight, bias), False, {"head.pt": saved}), fields, root)


def export_version(spec: str, root: Path | str | None = None, int8: bool = False) -> str:
    """Export a fine-tuned version (id, name, `current`, `latest` or directory) to ONNX (`int8`: quantised),
    registered as a new version whose runtime is onnx; return its id."""
    from coldstart.encoder.modules import Head, build_pipeline, transformer_of
    from coldstart.encoder.registry import resolve, save_version

    path = resolve(spec, root)
    manifest = _manifest(path)
    if manifest.get("items") == "base" or manifest.get("reranker"):
        raise ModelError(f"{path.name}: a query-side version (items keep the base) or one with a re-ranker "
                         "cannot be served as one ONNX graph; export a fine-tune of both towers")
    base_dir = onnx_base(path)
    if base_dir is None:
        raise ModelError(f"{path.name} is not built on a fetched ONNX encoder, so there is no graph to export "
                         "it into; fine-tune one: `coldstart finetune --base all-minilm-l6-v2 ...` after "
                         "`coldstart model fetch all-minilm-l6-v2`")
    extra: dict[str, Any] = {"exported_from": path.name, "base_version": base_dir.name,
             **{key: manifest[key] for key in ("config", "data", "metrics") if key in manifest}}
    name = str(manifest.get("name") or path.name)
    if manifest_runtime(path) == RUNTIME:  # already ONNX (a head on frozen features): only quantising is left
        if not int8 or manifest.get("int8"):
            raise ModelError(f"{path.name} is an ONNX version already" + ("" if int8 else "; --int8 quantises it"))
        fields = onnx_manifest(path, **extra, name=f"{name}-q", kind=f"{manifest.get('kind', 'onnx')}+int8",
                               int8=True)
        return save_version(_writer(path, None, None, True), fields, root)
    pipeline, _, _ = build_pipeline(str(path))  # the tuned torch model, LoRA merged
    state = {key: value.detach().cpu().numpy() for key, value in transformer_of(pipeline).model.named_parameters()}
    heads = [module for module in pipeline if isinstance(module, Head)]
    head = head_arrays(heads[-1]) if heads else None
    kind = "+".join(k for k in (str(manifest.get("kind", "")), "int8" if int8 else "") if k)
    fields = onnx_manifest(base_dir, **extra, name=f"{name}-q" if int8 else name, kind=kind, int8=int8,
                           dim=int(head[0].shape[0]) if head else int(_manifest(base_dir)["dim"]))
    return save_version(_writer(base_dir, state, head, int8), fields, root)

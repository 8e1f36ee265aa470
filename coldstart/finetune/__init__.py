"""Parameter-efficient fine-tuning of the encoder: pairs in, a versioned model directory out."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from coldstart.finetune.events import pairs_from_events
from coldstart.finetune.pairs import Pair, catalog_items, home_depot_pairs, read_items, read_pairs, split_by_text
from coldstart.finetune.train import FinetuneConfig, FinetuneResult, finetune

__all__ = ["FinetuneConfig", "FinetuneResult", "Pair", "catalog_items", "finetune", "home_depot_pairs",
           "pairs_from_events", "read_items", "read_pairs", "save", "save_reranker", "split_by_text"]


def save(result: FinetuneResult, root: Path | str | None = None, extra: dict[str, Any] | None = None) -> str:
    """Save a fine-tuning result as a model version (see coldstart.encoder.registry); return its id."""
    from coldstart.encoder.modules import Transformer
    from coldstart.encoder.registry import save_version
    from coldstart.finetune.adapters import save_trained

    manifest = {
        "name": f"{result.base_version.rsplit('-', 1)[0]}-ft",
        "base": result.base,
        "base_version": result.base_version,
        "kind": result.config.kind,
        **({"items": "base"} if result.config.towers == "query" else {}),
        "config": result.config.as_dict(),
        "data": {**result.counts, **(extra or {})},
        "metrics": {"validation": result.history, "best": result.best},
    }
    if not isinstance(result.pipeline[0], Transformer):  # a head on a fetched ONNX version's frozen features
        from coldstart.finetune.export import save_onnx_head

        return save_onnx_head(result, manifest, root)
    return save_version(lambda d: save_trained(result.pipeline, d), manifest, root)


def save_reranker(result: Any, encoder_version: str | None = None, root: Path | str | None = None,
                  extra: dict[str, Any] | None = None) -> str:
    """Save a trained re-ranker (coldstart.finetune.reranker.RerankerResult) as a model version:
    the encoder of `encoder_version` (its files copied; None: the bundled model) plus `reranker/`."""
    import json
    import shutil

    from coldstart.encoder.registry import resolve, save_version
    from coldstart.encoder.reranker import NAME_SUFFIX, RERANKER_DIR

    source = resolve(encoder_version, root) if encoder_version else None
    manifest: dict[str, Any] = {"name": "all-MiniLM-L6-v2", "base": "", "kind": ""}
    if source is not None:
        manifest = {k: v for k, v in json.loads((source / "manifest.json").read_text()).items()
                    if k not in ("files", "created", "version", "reranker")}
        manifest["encoder_version"] = source.name
    if not str(manifest["name"]).endswith(NAME_SUFFIX):  # the id says the version re-ranks
        manifest["name"] = f"{manifest['name']}{NAME_SUFFIX}"
    manifest["kind"] = "+".join(k for k in (str(manifest.get("kind", "")).replace("+reranker", ""), "reranker") if k)
    manifest["reranker"] = {"config": result.config.as_dict(), "data": {**result.counts, **(extra or {})},
                            "metrics": {"validation": result.history, "best": result.best,
                                        "rank_prior": result.model.rank_prior,
                                        "val_recall@10_by_rank_prior": result.prior_recall}}

    def write(directory: Path) -> list[str]:
        files = []
        for name in ("lora", "head.pt"):
            if source is not None and (source / name).exists():
                copy = shutil.copytree if (source / name).is_dir() else shutil.copy2
                copy(source / name, directory / name)
                files.append(name)
        result.model.save(directory / RERANKER_DIR)
        return files + [RERANKER_DIR]

    return save_version(write, manifest, root)

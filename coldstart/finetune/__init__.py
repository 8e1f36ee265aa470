"""Parameter-efficient fine-tuning of the encoder: pairs in, a versioned model directory out."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from coldstart.finetune.events import pairs_from_events
from coldstart.finetune.pairs import Pair, catalog_items, home_depot_pairs, read_items, read_pairs, split_by_text
from coldstart.finetune.train import FinetuneConfig, FinetuneResult, finetune

__all__ = ["FinetuneConfig", "FinetuneResult", "Pair", "catalog_items", "finetune", "home_depot_pairs", "pairs_from_events",
           "read_items", "read_pairs", "save", "split_by_text"]


def save(result: FinetuneResult, root: Path | str | None = None, extra: dict[str, Any] | None = None) -> str:
    """Save a fine-tuning result as a model version (see coldstart.model_registry); return its id."""
    from coldstart.finetune.adapters import save_trained
    from coldstart.model_registry import save_version

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
    return save_version(lambda d: save_trained(result.pipeline, d), manifest, root)

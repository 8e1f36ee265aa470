"""A fine-tuned model version beside the zero-shot baselines on Home Depot: dense and hybrid for each."""
from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch

from coldstart.encoder.encoder import Encoder, load_encoder
from coldstart.encoder.modules import Head
from coldstart.evaluation.datasets import Catalogue, HomeDepot, load_home_depot
from coldstart.evaluation.protocols import RERANKED, evaluate_home_depot
from coldstart.evaluation.vector_cache import cache_path, item_vectors

TUNED_RANKERS = ("dense", "hybrid")


def head_only(tuned: Encoder, base: Encoder) -> Head | None:
    """The head, when `tuned` is exactly `base` plus one bias-free linear head (else None)."""
    heads = [m for m in tuned.pipeline if isinstance(m, Head)]
    if len(heads) != 1 or heads[0].linear.bias is not None or any(isinstance(m, Head) for m in base.pipeline):
        return None
    ours, theirs = tuned.transformer.state_dict(), base.transformer.state_dict()
    same = ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)
    return heads[0] if same else None


def tuned_item_vectors(tuned: Encoder, base: Encoder, catalogue: Catalogue) -> np.ndarray:
    """The catalogue under `tuned`, cached; a head-only version is the base's cached vectors through its
    head (exact: the head is linear and bias-free, and a unit vector's direction is all that is kept)."""
    path = cache_path(tuned.vectors_version, catalogue)
    head = head_only(tuned, base)
    if not path.is_file() and head is not None:
        with torch.inference_mode():
            projected = torch.from_numpy(item_vectors(base, catalogue)) @ head.linear.weight.T
        vectors = torch.nn.functional.normalize(projected, dim=1).numpy().astype(np.float32)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npy")
        np.save(tmp, vectors)
        os.replace(tmp, path)
    return item_vectors(tuned, catalogue)


def evaluate_with_version(model: str, limit: int | None = None, data: HomeDepot | None = None,
                          record: bool = True,
                          split: str = "test") -> tuple[dict[str, dict[str, float]], dict[str, Any]]:
    """Baselines (popularity, BM25, zero-shot dense and hybrid) and the version's dense and hybrid
    (`dense-ft`, `hybrid-ft`); full-protocol figures (all test queries) are recorded in the
    version's manifest."""
    from coldstart.encoder import registry as model_registry

    data = data or load_home_depot()
    spec = model_registry.model_spec(model)
    base, tuned = load_encoder(None, cache_size=0), load_encoder(spec, cache_size=0)
    results = evaluate_home_depot(base, None, limit, data, split)
    tuned_item_vectors(tuned, base, data.catalogue)
    tuned_rankers = (*TUNED_RANKERS, RERANKED) if tuned.reranker is not None else TUNED_RANKERS
    for name, row in evaluate_home_depot(tuned, tuned_rankers, limit, data, split).items():
        results[f"{name}-ft"] = row
    if record and not limit and split == "test" and spec and os.path.isdir(spec):
        model_registry.record_metrics(spec, {"home_depot": {k: results[f"{k}-ft"] for k in tuned_rankers}})
    return results, {"model": tuned.version, "base": base.version, "limit": limit or None, "split": split}

"""The re-ranker: a short real training moves it, it saves as a version whose id covers it, and
a worker's engine uses it to order a text's hybrid list."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from coldstart.encoder.encoder import Encoder, load_encoder
from coldstart.encoder.reranker import CrossEncoder, has_reranker, load_reranker
from coldstart.finetune import Pair, save_reranker
from coldstart.finetune.reranker import (
    RANK_PRIORS,
    RerankerConfig,
    graded_pairs,
    lexical_candidates,
    train_reranker,
    with_hard_negatives,
)
from coldstart.text.retrieval import by_score, fuse, rerank_many
from streams.tools.sample_data import SAMPLE_DIR
from tests.unit.pairs import TOPICS, tiny_pairs

ITEMS = [item for _, item in TOPICS] + ["Trail running socks", "Rain boots for kids", "LED strip light",
                                          "Cordless drill battery 20V", "Garden hose nozzle"]


@pytest.fixture(scope="module")
def trained():
    config = RerankerConfig(lora_r=4, batch_size=8, lr=5e-3, epochs=3, val_fraction=0.3, eval_every=0,
                            hard_negatives=2, negative_pool=5, max_pairs=0)
    return train_reranker(tiny_pairs(), ITEMS, config, progress=False)


def test_graded_pairs_label_relevance_from_0_to_1() -> None:
    rows = [("drill", 1, 3.0), ("drill", 2, 2.0), ("hose", 2, 1.0)]
    assert graded_pairs(rows, {1: "Drill", 2: "Hose"}) == [
        Pair("drill", "Drill", 1.0), Pair("drill", "Hose", 0.5), Pair("hose", "Hose", 0.0)]


def test_hard_negatives_are_lexical_look_alikes_never_labelled_for_the_text() -> None:
    import random

    pairs = [Pair("cordless drill", "DEWALT 20V MAX cordless drill driver kit", 1.0)]
    candidates = lexical_candidates(["cordless drill"], ITEMS, 30)
    out = with_hard_negatives(pairs, candidates, RerankerConfig(hard_negatives=3), random.Random(1))
    negatives = [p for p in out if p.label == 0.0]
    assert out[0] == pairs[0] and negatives == [Pair("cordless drill", "Cordless drill battery 20V", 0.0)]


def test_training_moves_the_reranker_and_keeps_the_best_validation(trained) -> None:
    steps = [h["step"] for h in trained.history]
    assert steps[0] == 0 and len(steps) == 4 and trained.best["step"] == trained.chosen_step > 0
    assert trained.best["val_mrr"] >= trained.history[0]["val_mrr"]
    assert set(trained.prior_recall) == {f"{p:g}" for p in RANK_PRIORS}
    assert trained.prior_recall[f"{trained.model.rank_prior:g}"] == max(trained.prior_recall.values())
    scores = trained.model.scores(["cordless drill"] * 2, ["DEWALT 20V MAX cordless drill driver kit",
                                                          "Sourdough baking book"])
    assert scores[0] > scores[1]  # an untrained head (head_std 0) scores every pair 0


@pytest.mark.parametrize("head_std", [0.0, 0.02])
def test_the_adapters_learn_from_the_first_step_only_when_the_head_starts_random(head_std: float) -> None:
    import torch

    from coldstart.finetune.adapters import add_lora

    model = CrossEncoder.from_base("", head_std)
    add_lora(model.transformer, 4, 8, ("query", "value"))
    with torch.no_grad():  # LoRA's B starts at zero; give it weights so A's gradient shows too
        for name, weight in model.named_parameters():
            if "lora_B" in name:
                weight.normal_(std=0.01)
    logits = model(["cordless drill", "garden hose"], ["DEWALT cordless drill", "Sourdough baking book"])
    torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.tensor([1.0, 0.0])).backward()
    adapter_grads = [w.grad.abs().sum().item() for n, w in model.named_parameters() if "lora_" in n]
    assert adapter_grads and (all(g > 0 for g in adapter_grads) if head_std else all(g == 0 for g in adapter_grads))


def test_version_with_a_reranker_loads_it_and_its_id_covers_it(trained, encoder: Encoder, tmp_path: Path) -> None:
    version = save_reranker(trained, None, tmp_path, {"source": "test"})
    path = tmp_path / version
    manifest = json.loads((path / "manifest.json").read_text())
    assert version.startswith("all-MiniLM-L6-v2-rr-") and manifest["kind"] == "reranker"
    assert has_reranker(path) and manifest["reranker"]["data"]["source"] == "test"
    loaded = load_encoder(str(path), cache_size=0)
    assert loaded.version == version != encoder.version
    assert loaded.vectors_version == encoder.version  # the encoder is the bundled one: vectors shared
    np.testing.assert_allclose(loaded.encode(["hose"]), encoder.encode(["hose"]), atol=1e-6)
    again = load_reranker(path)
    assert again.rank_prior == trained.model.rank_prior
    texts = ["Flexzilla 50 ft. garden hose", "Garden hose nozzle", "Sourdough baking book"]
    np.testing.assert_allclose(again.scores(["garden hose 50 ft"] * 3, texts),
                               trained.model.scores(["garden hose 50 ft"] * 3, texts), atol=1e-4)


def test_rerank_reorders_only_the_top_depth_of_each_list_in_one_call() -> None:
    texts = {"a": "x", "b": "y", "c": "z", "d": "w"}
    calls = []

    class ByText:  # scores a pair by its item text's letter
        def scores(self, queries, shown):
            calls.append((list(queries), list(shown)))
            return np.array([ord(t) for t in shown], dtype=np.float32)

    ranked = rerank_many(["q1", "q2"], [["a", "b", "c", "d"], ["d", "c"]], texts, ByText(), 3)
    assert ranked == [["c", "b", "a", "d"], ["c", "d"]]  # z > y > x; d (w) stays below the top 3
    assert calls == [(["q1"] * 3 + ["q2"] * 2, ["x", "y", "z", "w", "z"])]
    assert rerank_many(["q"], [["a", "b"]], texts, None, 3) == [["a", "b"]]
    rising = np.array([0.0, 1.0, 2.0])
    # the prior: 2 − 3 ln 3 < 1 − 3 ln 2 < 0 − 3 ln 1, so a strong prior keeps the fused order
    assert by_score(["a", "b", "c", "d"], rising, rank_prior=3.0) == ["a", "b", "c", "d"]
    assert by_score(["a", "b", "c", "d"], rising, rank_prior=0.5) == ["c", "b", "a", "d"]
    assert fuse([["a", "b", "c"], ["c", "d"]], 3, rrf_k=10) == ["c", "a", "b"]


def test_an_untrained_reranker_scores_every_pair_alike() -> None:
    fresh = CrossEncoder.from_base("")
    assert np.all(fresh.scores(["a", "b"], ["x", "y"]) == 0)


def test_cli_trains_a_reranker_from_recorded_events(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from coldstart.encoder import registry as model_registry
    from streams.tools.cli import main as cli_main

    sample = SAMPLE_DIR
    code = cli_main(["finetune", "--events", str(sample), "--out", str(tmp_path), "--reranker", "--rr-pairs", "200",
                     "--rr-eval-every", "0", "--rr-lr", "1e-3", "--rr-head-std", "0.02", "--set-current", "--quiet"])
    assert code == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    version = printed["model_version"]
    assert version == model_registry.current(tmp_path) and printed["kind"] == "reranker"
    manifest = model_registry.manifest(version, tmp_path)
    assert manifest["reranker"]["data"]["source"] == "events:sample"
    assert 0 < manifest["reranker"]["data"]["train_pairs"] <= 200
    assert "rank_prior" in manifest["reranker"]["metrics"]
    assert (manifest["reranker"]["config"]["lr"], manifest["reranker"]["config"]["head_std"]) == (1e-3, 0.02)
    assert load_encoder(str(tmp_path / version), cache_size=0).reranker is not None


def test_fusion_weights_let_a_stronger_list_lead() -> None:
    """A list's weight scales its reciprocal ranks: weighted 3 against 1, the second list's first
    item beats the first list's; a list beyond the weights counts 1."""
    assert fuse([["a", "b"], ["b", "c"]], 3, rrf_k=10, weights=(1.0, 1.0)) == ["b", "a", "c"]
    assert fuse([["a", "x"], ["c", "y"]], 2, rrf_k=10, weights=(1.0, 3.0)) == ["c", "y"]
    assert fuse([["a"], ["c"]], 2, rrf_k=10, weights=(2.0,)) == ["a", "c"]

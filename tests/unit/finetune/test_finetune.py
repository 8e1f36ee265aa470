"""Fine-tuning: pair readers, the event join, and short real trainings that must move the model."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from coldstart.encoder.encoder import Encoder, load_encoder
from coldstart.errors import ConfigError
from coldstart.finetune import (
    FinetuneConfig,
    Pair,
    finetune,
    home_depot_pairs,
    pairs_from_events,
    read_pairs,
    save,
    split_by_text,
)
from streams.tools.sample_data import SAMPLE_DIR
from tests.unit.pairs import tiny_pairs

ITEMS = {"sku-1": "Trail running shoes, lightweight", "sku-2": "Cast iron dutch oven, 5 litre",
         "sku-3": "Stainless steel saucepan", "sku-4": "Waterproof rain jacket", "sku-5": "Sourdough baking book"}


def test_read_pairs_csv_and_jsonl_with_item_ids(tmp_path: Path) -> None:
    (tmp_path / "p.csv").write_text("text,item_text,label\ntrail shoes,Trail running shoes,1\nsoup pot,Saucepan,0\n")
    (tmp_path / "p.jsonl").write_text('{"text": "bread pot", "item_id": "sku-2"}\n\n{"query": "pan", "item_id": "sku-3", "label": 0}\n')
    assert read_pairs(tmp_path / "p.csv") == [Pair("trail shoes", "Trail running shoes", 1.0),
                                              Pair("soup pot", "Saucepan", 0.0)]
    assert read_pairs(tmp_path / "p.jsonl", ITEMS) == [Pair("bread pot", ITEMS["sku-2"], 1.0),
                                                       Pair("pan", ITEMS["sku-3"], 0.0)]
    with pytest.raises(ConfigError, match="sku-9"):
        (tmp_path / "bad.jsonl").write_text('{"text": "x", "item_id": "sku-9"}\n')
        read_pairs(tmp_path / "bad.jsonl", ITEMS)
    with pytest.raises(ConfigError, match="item_text"):
        (tmp_path / "bad.csv").write_text("text,other\nx,y\n")
        read_pairs(tmp_path / "bad.csv")


def test_home_depot_pairs_thresholds_and_split_by_text() -> None:
    rows = [("drill", 1, 3.0), ("drill", 2, 2.0), ("drill", 3, 1.0), ("hose", 2, 2.67)]
    pairs = home_depot_pairs(rows, {1: "Drill", 2: "Hose", 3: "Lamp"})
    assert pairs == [Pair("drill", "Drill", 1.0), Pair("drill", "Lamp", 0.0), Pair("hose", "Hose", 1.0)]
    train, val = split_by_text(tiny_pairs(), 0.3, seed=1)
    assert not {p.text for p in train} & {p.text for p in val} and len(train) + len(val) == 30
    assert split_by_text(tiny_pairs(), 0.3, seed=1) == (train, val)


def test_events_join_texts_with_the_same_users_later_clicks() -> None:
    signups = [{"user_id": "u1", "description": "I run on trails", "ts": 1000}]
    searches = [{"user_id": "u1", "query": "dutch oven", "ts": 5000}, {"user_id": "u2", "query": "  ", "ts": 1}]
    clicks = [
        {"user_id": "u1", "item_id": "sku-1", "action": "click", "ts": 2000},  # after the signup
        {"user_id": "u1", "item_id": "sku-4", "action": "view", "ts": 2500},  # a view is no positive
        {"user_id": "u1", "item_id": "sku-2", "action": "purchase", "ts": 6000},  # after the search only
        {"user_id": "u1", "item_id": "sku-9", "action": "click", "ts": 6100},  # unknown item
        {"user_id": "u1", "item_id": "sku-3", "action": "click", "ts": 500},  # before any text
        {"user_id": "u2", "item_id": "sku-5", "action": "click", "ts": 2},  # u2's text was blank
        {"user_id": "u1", "item_id": "sku-5", "action": "click", "ts": 5000 + 3_600_001},  # out of window
    ]
    pairs = pairs_from_events(signups, searches, clicks, ITEMS)
    assert pairs == [Pair("I run on trails", ITEMS["sku-1"]), Pair("dutch oven", ITEMS["sku-2"])]
    catalogue = {**ITEMS, **{f"x-{i}": f"Other item {i}" for i in range(6)}}
    with_negs = pairs_from_events(signups, searches, clicks, catalogue, negatives=2, seed=3)
    negs = [p for p in with_negs if p.label == 0.0]
    clicked = {ITEMS[i] for i in ("sku-1", "sku-2", "sku-3", "sku-5")}  # never a negative for u1
    assert len(negs) == 4 and not {p.item for p in negs} & clicked
    assert with_negs == pairs_from_events(signups, searches, clicks, catalogue, negatives=2, seed=3)


def test_config_refuses_nothing_to_train() -> None:
    with pytest.raises(ConfigError, match="nothing to train"):
        FinetuneConfig(lora_r=0, head=False)
    with pytest.raises(ConfigError, match="loss"):
        FinetuneConfig(loss="hinge")


@pytest.mark.parametrize("loss", ["contrastive", "bce"])
def test_head_training_moves_the_model_and_improves_validation(encoder: Encoder, loss: str) -> None:
    config = FinetuneConfig(loss=loss, lora_r=0, head=True, epochs=3, batch_size=8, lr=1e-2, val_fraction=0.3,
                            eval_every=0)
    result = finetune(tiny_pairs(), config, progress=False)
    assert result.config.kind == "head" and len(result.history) == 4 and result.best["step"] > 0
    tuned = Encoder(result.pipeline, "tuned", cache_size=0)
    before, after = encoder.encode(["cheap cordless drill"]), tuned.encode(["cheap cordless drill"])
    np.testing.assert_allclose(np.linalg.norm(after), 1.0, atol=1e-5)
    assert float(before[0] @ after[0]) < 0.99999


def test_lora_smoke_saves_a_version_that_loads_moved_and_rebuilds_identically(encoder: Encoder, tmp_path: Path) -> None:
    config = FinetuneConfig(lora_r=4, lora_targets=("query", "value"), batch_size=10, lr=5e-3, val_fraction=0.0)
    pairs = tiny_pairs(2)
    version = save(finetune(pairs, config, progress=False), tmp_path)
    assert version.startswith("all-MiniLM-L6-v2-ft-") and version != encoder.version
    manifest = json.loads((tmp_path / version / "manifest.json").read_text())
    assert manifest["kind"] == "lora" and manifest["files"] == ["lora"] and manifest["version"] == version
    assert (tmp_path / version / "lora" / "adapter_config.json").is_file()
    loaded = load_encoder(str(tmp_path / version), cache_size=0)
    assert loaded.version == version
    cosine = float(loaded.encode(["garden hose 50 ft"])[0] @ encoder.encode(["garden hose 50 ft"])[0])
    assert 0.5 < cosine < 0.99999  # moved, not wrecked
    assert save(finetune(pairs, config, progress=False), tmp_path) == version  # same seed, same content, same id


def test_query_side_version_keeps_the_base_item_vectors(encoder: Encoder, tmp_path: Path) -> None:
    config = FinetuneConfig(towers="query", lora_r=0, head=True, epochs=2, batch_size=8, lr=1e-2, val_fraction=0.3)
    version = save(finetune(tiny_pairs(), config, progress=False), tmp_path)
    assert json.loads((tmp_path / version / "manifest.json").read_text())["items"] == "base"
    tuned = load_encoder(str(tmp_path / version), cache_size=0)
    assert tuned.version == version and tuned.item_encoder is not None
    np.testing.assert_allclose(tuned.encode_items(["cordless drill"]), encoder.encode(["cordless drill"]), atol=1e-6)
    assert float(tuned.encode_users(["cordless drill"])[0] @ encoder.encode(["cordless drill"])[0]) < 0.99999


def test_cli_finetunes_from_recorded_events_and_sets_current(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from coldstart.encoder import registry as model_registry
    from streams.tools.cli import main as cli_main

    sample = SAMPLE_DIR
    code = cli_main(["finetune", "--events", str(sample), "--out", str(tmp_path), "--towers", "query", "--lora-r", "0",
                     "--head", "--lr", "1e-2", "--batch-size", "8", "--val-fraction", "0", "--set-current", "--quiet"])
    assert code == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["model_version"] == model_registry.current(tmp_path) == model_registry.latest(tmp_path)
    manifest = model_registry.manifest("current", tmp_path)
    assert manifest["data"]["source"] == "events:sample" and manifest["data"]["pairs"] > 0


def test_catalog_items_follow_topic_order_last_write_wins_and_deletes_remove() -> None:
    from coldstart.finetune import catalog_items

    items = catalog_items([{"item_id": "a", "title": "Old"}, {"item_id": "b", "title": "Bee"},
                           {"item_id": "a", "title": "New"}, {"item_id": "b", "title": "Bee", "deleted": True}])
    assert list(items) == ["a"] and items["a"].startswith("New")

"""`coldstart eval --pipeline` in small, on the real broker with a real worker and the bundled
model: every query is answered, and the metrics are computed from the served events."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from coldstart.config import Settings
from coldstart.evaluation.datasets import is_test_term, load_home_depot
from streams.tools.pipeline_eval import Options, evaluate, write_report

pytestmark = pytest.mark.integration

BRANDS = ("Husky", "Ryobi", "Everbilt", "Glacier Bay", "Hampton Bay", "Behr", "DEWALT", "Rheem")
THINGS = ("Cordless Drill", "Galvanized Angle Bracket", "Exterior Deck Screws", "Ceiling Fan",
          "Round Toilet Seat", "Paint Roller Cover", "Garden Hose Nozzle", "LED Flood Light",
          "Water Heater Element", "Cabinet Door Hinge")
SIZES = ("1/2 in.", "3 ft.", "24-Pack")
EXACT_QUERIES = 6


@pytest.fixture
def home_depot_datasets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A Home Depot-shaped train.csv of 240 products in a tmp COLDSTART_DATASETS; the train-split
    queries are product titles, each with its own product the only one rated 3.0 (and another
    rated 2.0). Returns those queries."""
    titles = [f"{brand} {size} {thing}" for brand in BRANDS for thing in THINGS for size in SIZES]
    queries = [t for t in titles if not is_test_term(t)][:EXACT_QUERIES]
    rows, uid = [], {t: 100001 + n for n, t in enumerate(titles)}
    for t in titles:  # every product in the catalogue; terms rated 1.0 are no query
        rows.append((uid[t], t, f"filler {uid[t]}", 1.0))
    for q in queries:
        rows.append((uid[q], q, q, 3.0))
        other = titles[(titles.index(q) + 7) % len(titles)]
        rows.append((uid[other], other, q, 2.0))
    folder = tmp_path / "home_depot"
    folder.mkdir()
    with (folder / "train.csv").open("w", encoding="latin-1", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["id", "product_uid", "product_title", "search_term", "relevance"])
        out.writerows((n + 1, *row) for n, row in enumerate(rows))
    monkeypatch.setenv("COLDSTART_DATASETS", str(tmp_path))
    return queries


@pytest.mark.parametrize("mode", ["signup", "search"])
def test_every_query_is_answered_and_an_exact_title_scores_recall_one(
        mode: str, home_depot_datasets: list[str], broker: str, unique_prefix: str,
        tmp_path: Path) -> None:
    data = load_home_depot()
    assert [q.text for q in data.train_queries()] == home_depot_datasets  # the fixture's intent
    base = Settings(broker=f"kafka://{broker}", topic_prefix=unique_prefix, partitions=2)

    result = evaluate(base, Options(split="train", mode=mode, idle_timeout=120.0), data)

    meta = result["meta"]
    assert meta["counts"] == {"queries": EXACT_QUERIES, "sent": EXACT_QUERIES,
                              "answered": EXACT_QUERIES, "missing": 0, "dead_letters": 0,
                              "items": 240}
    assert meta["errors"] == []
    assert "240 items" in meta["catalogue_ready"]["line"]
    assert meta["settings"]["explore_rate"] == 0.1  # a fresh install's default
    assert len(meta["model_version"]) == 1 and meta["model_version"][0]
    by_query = {p["query"]: p for p in result["per_query"]}
    titles = dict(zip(data.catalogue.texts, data.catalogue.ids))
    for q in home_depot_datasets:
        served = by_query[q]
        assert len(served["items"]) == 10 and len(set(served["items"])) == 10
        assert served["relevant"] == [int(titles[q])]
        assert int(titles[q]) in served["items"], served  # the exact title is served ...
        assert served["recall"] == 1.0 and served["mrr"] > 0 and served["ndcg"] > 0  # ... and scored
    metrics = result["results"]["pipeline"]
    assert metrics["recall@10"] == 1.0
    assert metrics["ndcg@10"] == pytest.approx(sum(p["ndcg"] for p in result["per_query"])
                                               / EXACT_QUERIES)
    assert metrics["recall@10 low"] <= metrics["recall@10"] <= metrics["recall@10 high"]

    json_path, md_path = write_report(result, tmp_path / "reports")
    assert json.loads(json_path.read_text()) == result
    assert f"{EXACT_QUERIES} answered, 0 missing" in md_path.read_text()

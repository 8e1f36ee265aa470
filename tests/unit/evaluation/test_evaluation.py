"""Evaluation protocols on the real data (skipped without it), BM25, fusion and reports."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from coldstart.errors import ConfigError
from coldstart.evaluation.bm25 import BM25, tokenize
from coldstart.evaluation.datasets import Catalogue, datasets_root, is_test_term, load_home_depot, load_movielens
from coldstart.evaluation.protocols import REFERENCE_BM25, evaluate_home_depot, evaluate_movielens
from coldstart.evaluation.rankers import HybridRanker, top_k
from coldstart.evaluation.report import write_report

ROOT = datasets_root()
needs_data = pytest.mark.skipif(
    not (ROOT / "home_depot" / "train.csv").is_file() or not (ROOT / "movielens_small" / "ratings.csv").is_file(),
    reason=f"real datasets not found at {ROOT} (set COLDSTART_DATASETS to the datasets folder)",
)


@needs_data
def test_home_depot_protocol_counts() -> None:
    data = load_home_depot()
    assert len(data.catalogue) == 54_667
    assert len(data.test_queries) == 1_432
    assert all(is_test_term(q.text) and q.relevant for q in data.test_queries)
    assert not any(is_test_term(term) for term, _, _ in data.train)


@needs_data
def test_train_split_queries_never_touch_the_test_split() -> None:
    data = load_home_depot()
    queries = data.train_queries()
    assert len(queries) > 3 * len(data.test_queries)
    assert not any(is_test_term(q.text) for q in queries) and all(q.relevant for q in queries)
    bm25 = evaluate_home_depot(None, ["bm25"], 200, data, split="train")["bm25"]
    assert 0.2 < bm25["recall@10"] < 0.8  # a real retrieval over judged queries, not an empty list
    with pytest.raises(ConfigError):
        evaluate_home_depot(None, ["bm25"], 10, data, split="validation")


@needs_data
def test_movielens_protocol_counts() -> None:
    data = load_movielens()
    assert len(data.users) == 412
    assert all(len(u.clicks) == 5 and len(u.truth) == 20 for u in data.users)
    assert len(data.catalogue) == 9_742


@needs_data
def test_reference_figures_bm25_and_movielens_baselines() -> None:
    bm25 = evaluate_home_depot(None, [REFERENCE_BM25])[REFERENCE_BM25]
    assert bm25["recall@10"] == pytest.approx(0.441, abs=0.005)
    assert bm25["recall@100"] == pytest.approx(0.734, abs=0.005)
    assert bm25["mrr@100"] == pytest.approx(0.328, abs=0.005)
    assert bm25["ndcg@10"] == pytest.approx(0.369, abs=0.005)
    ml = evaluate_movielens(None, ["popularity", "item_cf"])
    assert (ml["popularity"]["recall@20"], ml["popularity"]["ndcg@20"]) == pytest.approx((0.148, 0.164), abs=0.005)
    assert (ml["item_cf"]["recall@20"], ml["item_cf"]["ndcg@20"]) == pytest.approx((0.153, 0.170), abs=0.005)


def test_tokenize_lowercases_alphanumeric_runs() -> None:
    assert tokenize("3/4-in. PVC Elbow") == ["3", "4", "in", "pvc", "elbow"]


def test_bm25_ranks_the_exact_term_doc_first() -> None:
    corpus = ["red cotton shirt", "blue denim jeans", "galvanized steel hinge", "steel blue paint"]
    scores = BM25(corpus).scores(["galvanized hinge", "denim"])
    assert scores.shape == (2, 4)
    assert scores.argmax(axis=1).tolist() == [2, 1]
    assert scores[1, 0] == 0.0


def test_top_k_orders_by_score_then_lower_index() -> None:
    idx, scores = top_k(np.array([[0.1, 0.5, 0.5, 0.9]]), 3)
    assert idx.tolist() == [[3, 1, 2]]
    assert scores[0].tolist() == pytest.approx([0.9, 0.5, 0.5])


class _Fixed:
    def __init__(self, rows: list[list[int]]) -> None:
        self.rows = np.array(rows)

    def rank(self, queries, k):
        return self.rows[:, :k], np.zeros(self.rows[:, :k].shape)


def test_hybrid_fusion_rewards_agreement_and_the_reranker_orders_the_top() -> None:
    ids, _ = HybridRanker([_Fixed([[1, 2, 3]]), _Fixed([[2, 4, 1]])]).rank(["q"], k=2)
    assert ids.tolist() == [[2, 1]]  # 2: 1/12 + 1/11 beats 1: 1/11 + 1/13

    class Backwards:
        rank_prior = 0.0

        def scores(self, queries, texts):
            return np.tile(np.arange(4, dtype=np.float32), len(queries) // 4)

    catalogue = Catalogue("toy", np.array([1, 2, 3, 4]), ["a", "b", "c", "d"])
    hybrid = HybridRanker([_Fixed([[1, 2, 3]]), _Fixed([[2, 4, 1]])], catalogue, Backwards())
    assert hybrid.rank(["q"], k=4)[0].tolist() == [[3, 4, 1, 2]]  # fused 2, 1, 4, 3 re-read backwards


def test_write_report_writes_json_markdown_png(tmp_path: Path) -> None:
    results = {"bm25": {"recall@10": 0.4, "ndcg@10": 0.3}, "dense": {"recall@10": 0.5, "ndcg@10": 0.2}}
    paths = write_report(results, tmp_path, "toy", {"model": "m1"})
    assert json.loads(paths["json"].read_text())["results"] == results
    assert "| dense | 0.500 | 0.200 |" in paths["markdown"].read_text()
    assert paths["png"].read_bytes()[:4] == b"\x89PNG"


def test_the_bootstrap_interval_brackets_the_mean_and_narrows_with_more_queries() -> None:
    from coldstart.evaluation.metrics import bootstrap_interval

    rng = np.random.default_rng(3)
    few, many = rng.random(50), rng.random(2000)
    low, high = bootstrap_interval(few)
    assert low < few.mean() < high and bootstrap_interval(few) == (low, high)  # seeded: reproducible
    wide, narrow = high - low, np.subtract(*bootstrap_interval(many)[::-1])
    assert narrow < wide / 3  # ~ 1/sqrt(n)
    assert bootstrap_interval([1.0] * 10) == (1.0, 1.0) and bootstrap_interval([]) == (0.0, 0.0)

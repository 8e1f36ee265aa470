"""The MovieLens replay: users ranked at their 5th click from other users' past rows only."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from coldstart.evaluation.datasets import load_movielens
from coldstart.evaluation.movielens_blend import ReplayConfig, evaluate_replay, replay
from coldstart.ranking.cooccurrence import CooccurrenceConfig


def tiny_movielens(root: Path, early_user_rows: bool = False) -> None:
    """Users 1-3 like movies 1..30 in order (a day apart each); user 4 likes the same, later.
    User 5 rates 30 movies (100..129) before anyone else, so nothing is known when they arrive."""
    base = root / "movielens_small"
    base.mkdir(parents=True)
    movies = list(range(1, 31)) + list(range(100, 130))
    (base / "movies.csv").write_text("movieId,title,genres\n" + "".join(
        f"{m},Movie {m} (1999),Drama\n" for m in movies))
    (base / "tags.csv").write_text("userId,movieId,tag,timestamp\n")
    rows = ["userId,movieId,rating,timestamp"]
    for user, start in ((1, 10_000_000), (2, 20_000_000), (3, 30_000_000), (4, 90_000_000)):
        rows += [f"{user},{m},4.5,{start + 86_400 * m}" for m in range(1, 31)]
    rows += [f"5,{m},5.0,{1_000 + m}" for m in range(100, 130)]
    (base / "ratings.csv").write_text("\n".join(rows) + "\n")


def test_what_others_liked_next_comes_first_and_nothing_leaks(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tiny_movielens(tmp_path)
    monkeypatch.setenv("COLDSTART_DATASETS", str(tmp_path))
    data = load_movielens()
    assert [u.user_id for u in data.users] == [1, 2, 3, 4, 5]
    config = ReplayConfig(variants=("collaborative", "live_popularity"),
                          cooccurrence=CooccurrenceConfig(half_life_days=math.inf, window=3))
    ranked = replay(data, None, 20, config)
    assert ranked["collaborative"][4][:3] == [6, 7, 8]  # 6 followed 3, 4, 5; 7 followed 4, 5...
    assert not set(ranked["collaborative"][4]) & {1, 2, 3, 4, 5}  # its own clicks are excluded
    # user 1 comes before users 2-4 rated anything: only user 5's unrelated movies are known
    assert set(ranked["live_popularity"][1]) <= set(range(100, 130))
    assert set(ranked["collaborative"][1]) <= set(range(100, 130))


def test_the_report_has_the_protocols_metrics(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    tiny_movielens(tmp_path)
    monkeypatch.setenv("COLDSTART_DATASETS", str(tmp_path))
    data = load_movielens()
    vectors = np.eye(len(data.catalogue), 8, dtype=np.float32) + 0.1
    results = evaluate_replay(data, vectors / np.linalg.norm(vectors, axis=1, keepdims=True))
    assert set(results) == {"live_popularity", "content", "collaborative",
                            "popularity+collaborative", "blend"}
    assert results["collaborative"]["recall@20"] > 0.5  # user 4 gets 6..25 from users 1-3
    assert all(0.0 <= m <= 1.0 for row in results.values() for m in row.values())

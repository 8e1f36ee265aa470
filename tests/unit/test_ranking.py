"""Ranking: k distinct allowed items, diversity by MMR, popularity fallback, readable reasons."""
from __future__ import annotations

import math

import numpy as np
import pytest

from coldstart.index import IndexConfig, ItemIndex, make_index
from coldstart.popularity import Popularity
from coldstart.profile import Profile, with_interaction, with_signup
from coldstart.ranking import Recommendation, mmr, recommend

DIM = 16
T0 = 1_700_000_000_000
E = np.eye(DIM, dtype=np.float32)


def unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v, axis=-1, keepdims=True)).astype(np.float32)


def catalogue(n: int = 50, kind: str = "flat") -> tuple[ItemIndex, list[str], np.ndarray]:
    index = make_index(DIM, IndexConfig(kind=kind))
    ids = [f"item-{i}" for i in range(n)]
    vecs = unit(np.random.default_rng(3).normal(size=(n, DIM)))
    index.upsert(ids, vecs)
    return index, ids, vecs


def user(vec: np.ndarray, words: str = "trail running shoes") -> Profile:
    return with_signup(None, vec, words, T0)


def assert_valid(recs: list[Recommendation], k: int) -> None:
    assert len(recs) == k and len({r.item_id for r in recs}) == k
    assert all(isinstance(r.score, float) and math.isfinite(r.score) for r in recs)
    assert all(r.reason and len(r.reason) <= 80 for r in recs)


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_exactly_k_distinct_never_purchased_deleted_or_excluded(kind: str) -> None:
    index, ids, vecs = catalogue(kind=kind)
    p = with_interaction(user(vecs[0]), ids[0], vecs[0], "purchase", T0 + 1)
    index.delete([ids[1]])
    recs = recommend(p, index, k=10, exclude=[ids[2]])
    assert_valid(recs, 10)
    assert not {ids[0], ids[1], ids[2]} & {r.item_id for r in recs}


def test_best_match_comes_first_and_reason_quotes_the_interest() -> None:
    index, ids, vecs = catalogue()
    recs = recommend(user(vecs[7], "I love trail running shoes and muddy mountain paths"), index)
    assert recs[0].item_id == ids[7] and recs[0].score == pytest.approx(1.0, abs=1e-5)
    assert recs[0].reason == "matches 'I love trail running shoes and muddy…'"


def test_fewer_items_than_k_returns_the_whole_catalogue() -> None:
    index, ids, vecs = catalogue(n=5)
    assert {r.item_id for r in recommend(user(vecs[0]), index, k=10)} == set(ids)


def near_duplicates_and_alternatives() -> tuple[ItemIndex, list[str]]:
    rng = np.random.default_rng(0)
    dups = unit(0.95 * E[0] + 0.31 * E[1] + 0.005 * rng.normal(size=(10, DIM)))
    alts = unit(0.85 * E[0] + 0.53 * E[2:12])  # less relevant, but each different
    index = make_index(DIM, IndexConfig(kind="flat"))
    dup_ids = [f"dup-{i}" for i in range(10)]
    index.upsert(dup_ids + [f"alt-{i}" for i in range(10)], np.vstack([dups, alts]))
    return index, dup_ids


def test_mmr_keeps_near_duplicates_from_filling_the_list() -> None:
    index, dup_ids = near_duplicates_and_alternatives()
    plain = recommend(user(E[0]), index, mmr_lambda=1.0, near_duplicate=1.01)
    assert {r.item_id for r in plain} == set(dup_ids)  # relevance alone: all duplicates
    for kwargs in ({}, {"mmr_lambda": 0.5, "near_duplicate": 1.01}):
        recs = recommend(user(E[0]), index, **kwargs)
        assert_valid(recs, 10)
        assert sum(r.item_id in dup_ids for r in recs) <= 2


def test_near_duplicates_still_fill_places_nothing_else_could() -> None:
    vecs = unit(np.array([E[0], E[0] + 0.01 * E[1], E[0] + 0.01 * E[2]]))
    assert sorted(mmr(vecs @ E[0], vecs, 3, 0.7, 0.95)) == [0, 1, 2]


def popular(*counts: tuple[str, int]) -> Popularity:
    pop = Popularity()
    for item_id, n in counts:
        for _ in range(n):
            pop.update(item_id, "click", T0)
    return pop


def test_cold_user_gets_popular_items_then_new_ones() -> None:
    index, ids, _ = catalogue(n=20)
    index.delete([ids[4]])
    pop = popular((ids[3], 5), (ids[4], 9), (ids[8], 3), ("gone-from-catalogue", 7))
    recs = recommend(None, index, k=5, popularity=pop)
    assert_valid(recs, 5)
    assert [r.item_id for r in recs[:2]] == [ids[3], ids[8]]
    assert all(r.reason == "popular right now" for r in recs[:2])
    assert [r.item_id for r in recs[2:]] == [ids[19], ids[18], ids[17]]
    assert all("new" in r.reason for r in recs[2:])
    assert 1.0 >= recs[0].score > recs[1].score > 0.0  # popularity prior


def test_user_without_vectors_still_has_purchases_excluded() -> None:
    index, ids, _ = catalogue(n=20)
    p = with_interaction(None, ids[3], None, "purchase", T0)
    recs = recommend(p, index, k=3, popularity=popular((ids[3], 9), (ids[5], 1)))
    assert [r.item_id for r in recs][:1] == [ids[5]] and ids[3] not in {r.item_id for r in recs}


def test_padding_with_popular_items_when_retrieval_runs_short() -> None:
    index, ids, vecs = catalogue(n=12)
    recs = recommend(user(vecs[0]), index, k=10, exclude=ids[:4],
                     popularity=popular((ids[1], 3)))
    assert_valid(recs, 8)  # 12 items, 4 excluded


def test_behaviour_reason_names_the_item_the_user_viewed() -> None:
    index, ids, vecs = catalogue()
    p = user(E[0])
    for i in range(10):
        p = with_interaction(p, ids[9], vecs[9], "view", T0 + i, item_title="Acme Trail 3")
    recs = recommend(p, index, k=10, exclude=[ids[9]])
    near_9 = max(recs, key=lambda r: float(index.vector(r.item_id) @ vecs[9]))
    assert near_9.reason == "like the Acme Trail 3 you viewed"
    titled = recommend(p, index, titles={ids[9]: "Trail Runner X"}, exclude=[ids[9]])
    assert any(r.reason == "like the Trail Runner X you viewed" for r in titled)

"""The batched ranker gives every list exactly what the one-list ranker gives it."""
from __future__ import annotations

import numpy as np
import pytest

from coldstart.index import IndexConfig, make_index
from coldstart.index.base import ItemIndex
from coldstart.ranking.bandit import Estimates
from coldstart.ranking.blend import (
    STRATEGIES,
    BlendConfig,
    ListRequest,
    recommend_blended,
    recommend_blended_many,
)
from coldstart.ranking.cooccurrence import Cooccurrence
from coldstart.ranking.popularity import Popularity
from coldstart.ranking.profile import Profile, query_vector, with_interaction, with_signup

DIM, ITEMS, T0 = 16, 300, 1_700_000_000_000
ACTIONS = ("view", "click", "add_to_cart", "purchase")


def _unit(rng: np.random.Generator, rows: int) -> np.ndarray:
    x = rng.normal(size=(rows, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _world(seed: int, from_table: bool) -> tuple[ItemIndex, Cooccurrence, Popularity, Estimates,
                                                 list[Profile | None], np.ndarray]:
    """A catalogue, a skewed clickstream learned into co-occurrence and popularity (rows loaded
    from their table bytes, as a worker holds them, when `from_table`), items shown unevenly,
    and users in every state: unknown, words only, words and clicks, buyers."""
    rng = np.random.default_rng(seed)
    vectors = _unit(rng, ITEMS)
    index = make_index(DIM, IndexConfig(kind="flat"))
    index.upsert([f"i{n}" for n in range(ITEMS)], vectors)
    index.delete([f"i{n}" for n in range(0, ITEMS, 37)])  # deleted items linger in the models
    learned, popularity, shown = Cooccurrence(), Popularity(), Estimates()
    profiles: list[Profile | None] = [None]
    zipf = np.minimum(rng.zipf(1.3, size=4000) - 1, ITEMS - 1)
    for u in range(40):
        p: Profile | None = None
        if u % 3:
            p = with_signup(None, _unit(rng, 1)[0], T0)
        for c in range(int(rng.integers(0, 30))):
            item = f"i{zipf[(u * 97 + c) % len(zipf)]}"
            action = ACTIONS[int(rng.integers(4))]
            ts = T0 + 1000 * u + c
            learned.update(p.recent if p else (), item, action, ts)
            popularity.update(item, action, ts)
            p = with_interaction(p, item, vectors[int(item[1:])], action, ts, f"title {item}")
        profiles.append(p)
    for n in range(0, ITEMS, 2):
        shown.betas[f"i{n}"] = shown.prior.with_shown(float(n % 30))
        if n % 6 == 0:
            shown.clicked(f"i{n}")
    cooc = learned
    if from_table:
        cooc = Cooccurrence()
        for item in list(learned.rows):
            row = learned.row_bytes(item)
            assert row is not None
            cooc.load_row(item, row)
        cooc.now = learned.now
    queries = _unit(rng, len(profiles))
    return index, cooc, popularity, shown, profiles, queries


@pytest.mark.parametrize("seed,from_table,explore", [(0, False, 0.0), (1, True, 0.3),
                                                     (2, True, 0.1), (3, False, 0.5)])
def test_a_batch_of_lists_has_the_same_items_order_scores_and_reasons_as_one_by_one(
        seed: int, from_table: bool, explore: float) -> None:
    """Intent (matches first) included: the batched path honours it as the one-list ranker does."""
    index, cooc, popularity, shown, profiles, _ = _world(seed, from_table)
    config = BlendConfig(explore_rate=explore)
    titles = {f"i{n}": f"Item {n}" for n in range(0, ITEMS, 3)}
    arms = list(STRATEGIES.values())
    requests = []
    expected = []
    for n, profile in enumerate(profiles):
        weights = arms[n % len(arms)] if n % 5 else None
        text = [f"i{(n * 7 + j) % ITEMS}" for j in range(12)] if n % 4 == 1 else []
        query = query_vector(profile, config.profile)[0]
        if n % 4 == 3 and query is not None:  # a text ranking whose head matches: intent bites
            text = list(index.search(query, 12)[0][0])
        exclude = {f"i{(n * 11) % ITEMS}"} if n % 6 == 2 else set()
        intent = n % 3 != 0  # with and without text, with and without a profile to match it
        expected.append(recommend_blended(profile, index, cooc, popularity, k=10, titles=titles,
                                          exclude=exclude, weights=weights, shown=shown,
                                          rng=np.random.default_rng(n), config=config,
                                          text_ranked=text, intent=intent))
        requests.append(ListRequest(profile, weights, np.random.default_rng(n), text, exclude,
                                    intent))
    got = recommend_blended_many(requests, index, cooc, popularity, k=10, titles=titles,
                                 shown=shown, config=config)
    assert len(got) == len(expected)
    for mine, theirs in zip(got, expected):
        assert [(r.item_id, r.reason, r.kind) for r in mine] == \
            [(r.item_id, r.reason, r.kind) for r in theirs]
        assert [r.score for r in mine] == pytest.approx([r.score for r in theirs], abs=1e-5)
    # Intent moved some list's matches first: without it the one-list ranker orders it otherwise.
    assert any(recommend_blended(r.profile, index, cooc, popularity, k=10, titles=titles,
                                 exclude=r.exclude, weights=r.weights, shown=shown,
                                 rng=np.random.default_rng(n), config=config,
                                 text_ranked=r.text_ranked) != theirs
               for n, (r, theirs) in enumerate(zip(requests, expected)) if r.intent)
    kinds = {r.kind for recs in got for r in recs}
    assert {"content", "collaborative", "popular"} <= kinds  # every reason is exercised
    if explore:
        assert "explore" in kinds


def test_a_batch_of_one_and_an_empty_batch() -> None:
    index, cooc, popularity, shown, profiles, _ = _world(4, True)
    assert recommend_blended_many([], index, cooc, popularity) == []
    one = recommend_blended_many([ListRequest(profiles[5])], index, cooc, popularity, k=7)
    assert one == [recommend_blended(profiles[5], index, cooc, popularity, k=7)]


def test_an_empty_world_fills_a_batch_with_the_newest_items() -> None:
    index = make_index(DIM, IndexConfig(kind="flat"))
    index.upsert(["a", "b", "c"], _unit(np.random.default_rng(0), 3))
    lists = recommend_blended_many([ListRequest(None), ListRequest(None)], index, Cooccurrence(),
                                   Popularity(), k=5)
    assert [[r.item_id for r in recs] for recs in lists] == [["c", "b", "a"]] * 2


def test_co_occurrence_candidates_for_many_users_are_each_users_own() -> None:
    _, cooc, _, _, profiles, _ = _world(5, True)
    recents = [list(p.recent[-10:]) if p else [] for p in profiles]
    excludes = [set(p.recent) if p and n % 2 else set() for n, p in enumerate(profiles)]
    many = cooc.candidates_many(recents, 7, excludes)
    assert [set(m) for m in many] == [set(cooc.candidates(r, 7, exclude=e))
                                      for r, e in zip(recents, excludes)]
    assert any(many) and cooc.candidates_many(recents, 0, excludes) == [[]] * len(recents)

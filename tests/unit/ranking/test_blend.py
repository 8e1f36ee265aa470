"""Blended ranking: three candidate sources, weights that follow evidence, bounded exploration."""
from __future__ import annotations

import math

import numpy as np
import pytest

from coldstart.index import IndexConfig, make_index
from coldstart.ranking.bandit import Estimates
from coldstart.ranking.blend import STRATEGIES, BlendConfig, BlendWeights, recommend_blended, score_candidates
from coldstart.ranking.cooccurrence import Cooccurrence, CooccurrenceConfig
from coldstart.ranking.explain import EXPLORE, POPULAR
from coldstart.ranking.popularity import Popularity
from coldstart.ranking.profile import Profile, with_interaction, with_signup

DIM = 8
T0 = 1_700_000_000_000
E = np.eye(DIM, dtype=np.float32)


def world() -> tuple[object, Cooccurrence, Popularity]:
    """Items t0..t7 lie on the axes, p0 and p1 between t6 and t7; whoever clicks t0 goes on to
    click t5; p0 is about as popular as t5, p1 less."""
    index = make_index(DIM, IndexConfig(kind="flat"))
    index.upsert([f"t{i}" for i in range(DIM)], E)
    index.upsert(["p0", "p1"], np.stack([E[6] + E[7]] * 2) / math.sqrt(2))
    cooc = Cooccurrence(CooccurrenceConfig(half_life_days=math.inf))
    popularity = Popularity(half_life_days=math.inf)
    for u in range(6):
        cooc.update(["t0"], "t5", "click", T0 + u)
        popularity.update("t0", "click", T0 + u)
        popularity.update("t5", "click", T0 + u)
    for u in range(5):
        popularity.update("p0", "click", T0 + u)
        popularity.update("p1", "view", T0 + u)
        cooc.update([], "p0", "click", T0 + u)
    return index, cooc, popularity


def clicked(*items: str) -> Profile:
    p: Profile | None = None
    for i, item in enumerate(items):
        p = with_interaction(p, item, E[int(item[1:])], "click", T0 + 100 + i)
    assert p is not None
    return p


def test_a_user_with_clicks_gets_what_followed_them_first_and_is_told_why() -> None:
    index, cooc, popularity = world()
    recs = recommend_blended(clicked("t0"), index, cooc, popularity, k=5,
                             titles={"t0": "Trail Shoes"})
    assert recs[0].item_id == "t5"
    assert recs[0].reason == "people who liked Trail Shoes liked this"
    assert "t0" not in {r.item_id for r in recs}  # what the user clicked is not offered back
    assert len({r.item_id for r in recs}) == 5


def test_a_user_with_only_words_gets_content_matches_then_popular_items() -> None:
    index, cooc, popularity = world()
    words = with_signup(None, E[3], T0)
    s = score_candidates(words, index, cooc, popularity)
    assert np.all(s.parts["collaborative"] == 0)  # no known items: the cold weights, no CF
    recs = recommend_blended(words, index, cooc, popularity, k=3)
    assert recs[0].item_id == "t3" and recs[0].reason == "matches your interests"
    assert POPULAR in {r.reason for r in recs[1:]}


def test_weights_move_from_cold_to_warm_with_the_users_evidence() -> None:
    index, cooc, popularity = world()
    config = BlendConfig(cold=BlendWeights(1.0, 0.0, 0.0), warm=BlendWeights(0.0, 1.0, 0.0),
                         user_k=1.0, item_k=0.0)
    s = score_candidates(clicked("t0"), index, cooc, popularity, config=config)  # e_u = 1 / 2
    t5 = s.ids.index("t5")
    assert s.parts["collaborative"][t5] == pytest.approx(0.5)  # best candidate, scaled to 1
    assert s.parts["content"][t5] == pytest.approx(0.5 * float(E[0] @ E[5]))


def test_items_with_little_evidence_get_less_collaborative_trust() -> None:
    index, cooc, popularity = world()
    cooc.update(["t0"], "t6", "view", T0)  # one view: mass 1, against t5's 6 clicks
    only_cf = BlendWeights(0.0, 1.0, 0.0)
    config = BlendConfig(warm=only_cf, cold=only_cf, item_k=100.0)
    s = score_candidates(clicked("t0"), index, cooc, popularity, config=config)
    i5, i6 = s.ids.index("t5"), s.ids.index("t6")
    trust = cooc.mass(["t5", "t6"]) / (cooc.mass(["t5", "t6"]) + 100.0)
    raw = cooc.similarity("t0", ["t5", "t6"])
    assert s.parts["collaborative"][i5] / s.parts["collaborative"][i6] == pytest.approx(
        raw[0] * trust[0] / (raw[1] * trust[1]))
    assert trust[0] / trust[1] > 10  # 12 against 1 of mass


def test_exploration_takes_a_bounded_share_of_rarely_shown_items() -> None:
    index, cooc, popularity = world()
    shown = Estimates()
    for _ in range(50):
        shown.shown(["t1", "t2"])  # shown a lot: never explored
    config = BlendConfig(explore_rate=0.2, explore_max_shown=20)
    rng = np.random.default_rng(0)
    for _ in range(20):
        recs = recommend_blended(clicked("t0"), index, cooc, popularity, k=5, shown=shown, rng=rng,
                                 config=config)
        explored = [r.item_id for r in recs if r.reason == EXPLORE]
        assert len(explored) == 1  # 0.2 * 5 slots
        assert not {"t1", "t2"} & set(explored)
        assert len({r.item_id for r in recs}) == 5
    off = recommend_blended(clicked("t0"), index, cooc, popularity, k=5, shown=shown, rng=rng)
    assert EXPLORE not in {r.reason for r in off}


def shown_often(items: list[str], config: BlendConfig = BlendConfig()) -> Estimates:
    """Impression counts with `items` shown enough that an explored item may take their place."""
    shown = Estimates()
    for _ in range(config.explore_max_shown):
        shown.shown(items)
    return shown


def test_a_fractional_share_explores_that_often_on_average() -> None:
    index, cooc, popularity = world()
    config = BlendConfig(explore_rate=0.05)
    listed = [r.item_id for r in recommend_blended(clicked("t0"), index, cooc, popularity, k=4)]
    rng, shown = np.random.default_rng(1), shown_often(listed, config)
    counts = [sum(r.reason == EXPLORE for r in recommend_blended(
        clicked("t0"), index, cooc, popularity, k=4, shown=shown, rng=rng, config=config))
        for _ in range(400)]
    assert set(counts) <= {0, 1} and 0.12 < np.mean(counts) < 0.28  # 0.05 * 4 = 0.2 per list


def test_excluded_and_purchased_items_never_appear_and_small_worlds_fill_up() -> None:
    index, cooc, popularity = world()
    p = with_interaction(clicked("t0"), "t5", E[5], "purchase", T0 + 500)
    recs = recommend_blended(p, index, cooc, popularity, k=10, exclude={"p0"})
    ids = [r.item_id for r in recs]
    assert "t5" not in ids and "p0" not in ids and len(ids) == len(set(ids)) == 7
    assert all(math.isfinite(r.score) for r in recs)


def test_every_strategy_is_a_valid_weight_set() -> None:
    index, cooc, popularity = world()
    for name, weights in STRATEGIES.items():
        recs = recommend_blended(clicked("t0"), index, cooc, popularity, k=4, weights=weights)
        assert len(recs) == 4, name


def intent_world() -> tuple[object, Cooccurrence, Popularity, list[str]]:
    """m0..m2 stand out towards the query's axis (cosines 0.6, 0.55, 0.5: the matches); u0..u5
    are very popular and a little alike (0.3)."""
    index = make_index(DIM, IndexConfig(kind="flat"))
    index.upsert(["m0", "m1", "m2"], np.stack([a * E[0] + math.sqrt(1 - a * a) * E[1 + i]
                                               for i, a in enumerate((0.6, 0.55, 0.5))]))
    index.upsert([f"u{i}" for i in range(6)], np.stack([0.3 * E[0] + math.sqrt(0.91) * E[2 + i] for i in range(6)]))
    popularity = Popularity(half_life_days=math.inf)
    for n in range(40):
        for i in range(6):
            popularity.update(f"u{i}", "purchase", T0 + n)
    popularity.update("m2", "click", T0)
    return index, Cooccurrence(), popularity, ["m0", "m1", "m2", "u0", "u1"]


@pytest.mark.parametrize("seed", range(8))
def test_with_intent_no_unrelated_item_comes_before_a_match(seed: int) -> None:
    """A search: popularity and exploration reorder and fill within the matches, never above them."""
    index, cooc, popularity, text_ranked = intent_world()
    profile = with_signup(None, E[0], T0)
    config = BlendConfig(explore_rate=0.5)
    shown = Estimates()
    kw = dict(k=5, shown=shown, config=config, text_ranked=text_ranked)
    with_intent = recommend_blended(profile, index, cooc, popularity, rng=np.random.default_rng(seed),
                                    intent=True, **kw)
    assert {r.item_id for r in with_intent[:3]} == {"m0", "m1", "m2"}, with_intent
    without = recommend_blended(profile, index, cooc, popularity, rng=np.random.default_rng(seed), **kw)
    assert any(r.item_id.startswith("u") for r in without[:3])  # what intent prevents


def test_with_intent_popularity_still_reorders_within_the_matches() -> None:
    index, cooc, popularity, text_ranked = intent_world()
    for n in range(40):
        popularity.update("m2", "purchase", T0 + n)
    profile = with_signup(None, E[0], T0)
    picks = recommend_blended(profile, index, cooc, popularity, k=5, text_ranked=text_ranked, intent=True)
    assert [r.item_id for r in picks[:3]] == ["m2", "m0", "m1"]


def test_with_intent_but_nothing_matching_popularity_decides_as_before() -> None:
    index, cooc, popularity, _ = intent_world()
    profile = with_signup(None, E[0], T0)
    plain = recommend_blended(profile, index, cooc, popularity, k=5)
    assert recommend_blended(profile, index, cooc, popularity, k=5, intent=True) == plain


@pytest.mark.parametrize("near, often, ranked, allowed", [
    (2, ("m2",), 12, {"m3", "m4"}), (2, ("m2", "m3"), 12, {"m4", "m5"}), (2, ("m2",), 2, {"m3", "m4"}),
    (100, ("m2",), 12, None)])
def test_with_intent_exploration_draws_from_the_next_matches_only(
        near: int, often: tuple[str, ...], ranked: int, allowed: set[str] | None) -> None:
    """A search explores among the near misses of what was asked for (the next `explore_near`
    rarely shown matches), not among every item that matches at all; one shown often makes room
    for the next, and once the text's matches are all listed the best-scored others come next
    (`ranked`: how many items the text ranking lists, all of them matching). The third slot's
    own item (m2) is shown often, so an explored one may take its place."""
    dim = 40
    axes = np.eye(dim, dtype=np.float32)
    index = make_index(dim, IndexConfig(kind="flat"))
    matches = [f"m{i}" for i in range(12)]
    index.upsert(matches, np.stack([a * axes[0] + math.sqrt(1 - a * a) * axes[1 + i]
                                    for i, a in enumerate(np.linspace(0.9, 0.6, 12))]))
    index.upsert([f"u{i}" for i in range(20)], axes[13:33])
    popularity = Popularity(half_life_days=math.inf)
    for i in range(20):
        popularity.update(f"u{i}", "click", T0 + i)
    config = BlendConfig(explore_rate=1 / 3, explore_near=near)
    shown = shown_often(list(often), config)
    explored = set()
    for seed in range(30):
        recs = recommend_blended(with_signup(None, axes[0], T0), index, Cooccurrence(), popularity, k=3,
                                 shown=shown, rng=np.random.default_rng(seed), config=config,
                                 text_ranked=matches[:ranked], intent=True)
        assert [r.item_id for r in recs[:2]] == ["m0", "m1"]
        explored |= {r.item_id for r in recs if r.reason == EXPLORE}
    if allowed is not None:
        assert explored and explored <= allowed
    else:
        assert explored - {"m3", "m4"}  # what the bound prevents


@pytest.mark.parametrize("intent, by", [(False, "anyone"), (True, "anyone"), (False, "this user"),
                                        (True, "this user")])
def test_an_explored_item_takes_only_the_place_of_one_shown_before(intent: bool, by: str) -> None:
    """Exploration is for items that would get no impressions: a last slot whose item is new to
    the user and still rarely shown is exploring where it stands, and swapping it for another
    unknown item would learn no more while matching the request less, so a first list keeps its
    best matches. Shown often to anyone, or to this user before, it gives way."""
    index, cooc, popularity, text_ranked = intent_world()
    profile = with_signup(None, E[0], T0)
    config = BlendConfig(explore_rate=0.2)  # one slot of five
    kw = dict(k=5, config=config, text_ranked=text_ranked, intent=intent)
    plain = [r.item_id for r in recommend_blended(profile, index, cooc, popularity, **kw)]
    for seed in range(10):
        fresh = recommend_blended(profile, index, cooc, popularity, shown=Estimates(),
                                  rng=np.random.default_rng(seed), **kw)
        assert [r.item_id for r in fresh] == plain and EXPLORE not in {r.reason for r in fresh}
        before = dict(shown=shown_often(plain[-1:], config)) if by == "anyone" else dict(
            shown=Estimates(), seen={plain[-1]})
        last_known = recommend_blended(profile, index, cooc, popularity, rng=np.random.default_rng(seed),
                                       **before, **kw)
        assert [r.item_id for r in last_known[:4]] == plain[:4]
        assert last_known[4].reason == EXPLORE and last_known[4].item_id not in plain

"""Ad placement: expected value per impression, most prominent slot first, each ad once."""
from __future__ import annotations

import numpy as np

from coldstart.ads.placement import Ad, Placement, place_ads
from coldstart.ranking.popularity import Popularity

E = np.eye(4, dtype=np.float32)
SLOTS = [("side", 3), ("top", 1), ("middle", 2)]


def test_strongest_ad_goes_to_position_one() -> None:
    ads = [Ad("near-cheap", 1.0, vector=E[0]), Ad("far-rich", 1.5, vector=-E[0]),
           Ad("mid", 1.0, vector=E[1])]
    placed = place_ads(E[0], ads, SLOTS)
    # scores: 1.0 * 1.0, 1.5 * ~0 (opposite), 1.0 * 0.5 (unrelated)
    assert [(p.slot_id, p.ad_id) for p in placed] == [("top", "near-cheap"), ("middle", "mid"),
                                                       ("side", "far-rich")]
    assert placed[0].score == 1.0 and placed[1].score == 0.5


def test_bid_beats_relevance_when_the_expected_value_is_higher() -> None:
    ads = [Ad("relevant", 1.0, vector=E[0]), Ad("rich", 3.0, vector=E[1])]
    assert place_ads(E[0], ads, SLOTS)[0].ad_id == "rich"  # 3 * 0.5 > 1 * 1


def test_no_ad_twice_and_inactive_or_worthless_ads_excluded() -> None:
    ads = [Ad("a", 2.0, vector=E[0]), Ad("a", 9.0, vector=E[0]), Ad("off", 9.0, active=False),
           Ad("free", 0.0), Ad("nan", float("nan")), Ad("b", 1.0, item_id="bought"),
           Ad("c", 1.0)]
    placed = place_ads(E[0], ads, SLOTS, exclude_items={"bought"})
    assert [p.ad_id for p in placed] == ["a", "c"]
    assert placed[0].score == 2.0


def test_more_slots_than_ads_leaves_later_slots_empty() -> None:
    placed = place_ads(None, [Ad("only", 1.0, item_id="x")], SLOTS)
    assert placed == [Placement("top", "only", "x", 0.5)]


def test_duplicate_slot_ids_take_the_first() -> None:
    slots = [("s", 2), ("s", 1), ("t", 3)]
    placed = place_ads(None, [Ad("a", 2.0), Ad("b", 1.0)], slots)
    assert [(p.slot_id, p.ad_id) for p in placed] == [("s", "a"), ("t", "b")]


def test_user_without_vector_gets_bid_times_popularity() -> None:
    pop = Popularity()
    for _ in range(20):
        pop.update("hot", "purchase", 1)
    pop.update("cold", "view", 1)
    ads = [Ad("cold-ad", 1.5, item_id="cold"), Ad("hot-ad", 1.0, item_id="hot"),
           Ad("text-ad", 1.2, text="Summer sale")]
    placed = place_ads(None, ads, SLOTS, popularity=pop)
    assert [p.ad_id for p in placed] == ["hot-ad", "cold-ad", "text-ad"]
    assert placed[0].score == 1.0  # best prior: relevance factor 1
    assert [p.ad_id for p in place_ads(None, ads, SLOTS)] == ["cold-ad", "text-ad", "hot-ad"]


def test_ties_break_by_bid_then_ad_id_and_input_is_untouched() -> None:
    ads = [Ad("b", 1.0), Ad("a", 1.0), Ad("c", 1.0)]
    assert [p.ad_id for p in place_ads(E[0], ads, SLOTS)] == ["a", "b", "c"]
    assert [a.ad_id for a in ads] == ["b", "a", "c"]


def test_no_slots_or_no_ads_place_nothing() -> None:
    assert place_ads(E[0], [Ad("a", 1.0)], []) == []
    assert place_ads(E[0], [], SLOTS) == []

"""Ad click-through: placements remembered per user, clicks credited to the ad that explains them."""
from __future__ import annotations

import json

from coldstart.ads.feedback import PlacedAds, impressions, placed_ads
from coldstart.attribution import Served, ServedLog


def ad_slots(placement_id: str, *ads: tuple[str, str | None], ts: int = 0) -> dict:
    """An ad_slots event as the worker emits it (slots in prominence order)."""
    placements = [{"slot_id": f"s{n}", "ad_id": ad, "score": 1.0, **({"item_id": item} if item
                                                                       else {})}
                  for n, (ad, item) in enumerate(ads)]
    return {"placement_id": placement_id, "user_id": "u1", "page_id": "home",
            "trigger_event_id": f"pv-{placement_id}", "placements": placements,
            "source_ts": ts, "produced_ts": ts}


def log_with(*events: dict) -> ServedLog:
    log = ServedLog()
    for event in events:
        log = log.placed(event["placement_id"], placed_ads(event))
    return log


def test_a_click_on_a_promoted_item_credits_that_ad_once() -> None:
    log = log_with(ad_slots("p1", ("A", "x"), ("B", "y")))
    log, ad = log.attribute_ad(None, "x")
    assert ad == "A"
    assert log.attribute_ad(None, "x")[1] is None  # that placement already credited A
    assert log.attribute_ad(None, "y")[1] == "B"
    assert log.attribute_ad(None, "z")[1] is None  # no ad promoted z


def test_the_newest_placement_that_promoted_the_item_is_credited() -> None:
    log = log_with(ad_slots("p1", ("A", "x")), ad_slots("p2", ("C", "x")))
    log, ad = log.attribute_ad(None, "x")
    assert ad == "C" and dict(log.ads)["p2"].clicked == {"C"} and not dict(log.ads)["p1"].clicked


def test_a_click_naming_the_placement_credits_its_ad_even_a_text_only_one() -> None:
    log = log_with(ad_slots("p1", ("T", None), ("A", "x")))
    assert log.attribute_ad("p1", "x")[1] == "A"
    assert log.attribute_ad("p1", "elsewhere")[1] == "T"  # a text ad led somewhere unseen
    assert log.attribute_ad(None, "elsewhere")[1] is None  # without the id, nothing explains it


def test_a_click_from_a_recommendation_list_is_the_lists_not_an_ads() -> None:
    log = log_with(ad_slots("p1", ("A", "x"))).served("rec-1", Served("content", ("x",)))
    assert log.attribute_ad("rec-1", "x")[1] is None
    assert log.attribute_ad("unknown-id", "x")[1] == "A"  # an id we never served names nothing


def test_placements_are_bounded_and_a_repeat_keeps_its_clicks() -> None:
    log = ServedLog(ads_cap=2)
    for n in range(3):
        log = log.placed(f"p{n}", PlacedAds((("A", f"x{n}"),)))
    assert [k for k, _ in log.ads] == ["p1", "p2"]
    log, _ = log.attribute_ad(None, "x2")
    log = log.placed("p2", PlacedAds((("A", "x2"),)))  # a redelivered page view
    assert log.attribute_ad(None, "x2")[1] is None


def test_the_log_round_trips_and_older_values_without_ads_still_load() -> None:
    log = log_with(ad_slots("p1", ("T", None), ("A", "x"))).served("r", Served("content", ("i",)))
    log, _ = log.attribute_ad(None, "x")
    assert ServedLog.from_dict(json.loads(json.dumps(log.to_dict()))) == log
    old = {"cap": 20, "lists": [["r", "content", ["i"], [], False]]}
    assert ServedLog.from_dict(old).ads == ()


def test_impressions_count_each_placed_ad() -> None:
    counts = impressions([ad_slots("p1", ("A", "x"), ("B", None)), ad_slots("p2", ("A", "y"))])
    assert counts == {"ad:A": (2, 0), "ad:B": (1, 0)}

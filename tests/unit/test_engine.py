"""The batch engine: what one batch of user events does to profiles and output events."""
from __future__ import annotations

import numpy as np
import pytest

from coldstart.encoder.encoder import Encoder
from coldstart.engine import Engine
from tests.unit.shop import shop_engine, without

ITEMS = without("run-4", "pan-4")


@pytest.fixture
def engine(encoder: Encoder) -> Engine:
    return shop_engine(encoder, ITEMS)


def signup(user: str, text: str, ts: int, event_id: str = "") -> tuple[str, dict]:
    return "signups", {"event_id": event_id or f"s-{user}-{ts}", "user_id": user,
                       "description": text, "ts": ts}


def click(user: str, item: str, ts: int, action: str = "click") -> tuple[str, dict]:
    return "clicks", {"event_id": f"c-{user}-{ts}", "user_id": user, "item_id": item,
                      "action": action, "ts": ts}


def test_signup_recommends_matching_items_first(engine: Engine) -> None:
    result = engine.handle_users([signup("u1", "I run on mountain trails", 1)], {})
    (rec,) = result.recommendations
    assert rec["trigger"] == "signup" and rec["trigger_event_id"] == "s-u1-1"
    assert [i["item_id"][:3] for i in rec["items"][:3]] == ["run", "run", "run"]
    assert "u1" in result.profiles


def test_a_burst_of_clicks_gives_one_refresh_naming_the_last_click(engine: Engine) -> None:
    events = [click("u1", "run-1", 10), click("u1", "run-2", 11), click("u1", "run-3", 12)]
    result = engine.handle_users(events, {})
    (rec,) = result.recommendations
    assert rec["trigger"] == "click" and rec["trigger_event_id"] == "c-u1-12"
    assert result.profiles["u1"].n_interactions == 3


def test_redelivered_event_changes_nothing_twice_but_is_answered_again(engine: Engine) -> None:
    first = engine.handle_users([click("u1", "run-1", 10)], {})
    again = engine.handle_users([click("u1", "run-1", 10)], first.profiles)
    assert "u1" not in again.profiles  # unchanged, so nothing to write back
    assert len(again.recommendations) == 1  # a repeat is allowed, a loss is not


def test_purchased_items_are_not_recommended(engine: Engine) -> None:
    result = engine.handle_users([signup("u1", "running gear", 1),
                                  click("u1", "run-1", 2, "purchase")], {})
    refresh = result.recommendations[-1]
    assert refresh["trigger"] == "click"
    assert "run-1" not in {i["item_id"] for i in refresh["items"]}


def test_click_on_unknown_item_is_rejected_with_a_reason(engine: Engine) -> None:
    result = engine.handle_users([click("u1", "ghost", 1)], {})
    assert result.recommendations == []
    ((position, error),) = result.rejected
    assert position == 0 and "ghost" in error and "not in the catalogue" in error


def test_deletion_before_a_click_in_the_same_batch_keeps_the_click(engine: Engine) -> None:
    """Topics are read side by side: event time, not arrival order, decides."""
    old = engine.handle_users([signup("u1", "kitchen knives", 1)], {}).profiles
    deletion = ("user_deletions", {"user_id": "u1", "ts": 5})
    result = engine.handle_users([click("u1", "run-1", 6), deletion], old)
    assert result.deleted == {"u1"}
    profile = result.profiles["u1"]  # rebuilt from the click alone
    assert profile.text_vec is None and profile.recent == ("run-1",)


def test_page_view_fills_slots_with_distinct_active_ads(engine: Engine, encoder: Encoder) -> None:
    ads = [{"ad_id": "a1", "item_id": "run-1", "bid": 2.0},
           {"ad_id": "a2", "text": "copper pans on sale", "bid": 1.0},
           {"ad_id": "a3", "item_id": "pan-2", "bid": 5.0, "active": False}]
    engine.catalog.apply_ads(ads, encoder.encode_items(engine.catalog.ad_texts(ads)))
    view = {"event_id": "p1", "user_id": "nobody", "page_id": "home", "ts": 3,
            "slots": [{"slot_id": "side", "position": 2}, {"slot_id": "top", "position": 1},
                      {"slot_id": "foot", "position": 3}]}
    (out,) = engine.handle_page_views([view], {})
    placed = [(p["slot_id"], p["ad_id"]) for p in out["placements"]]
    assert placed == [("top", "a1"), ("side", "a2")]  # strongest first, inactive a3 never
    assert np.isfinite([p["score"] for p in out["placements"]]).all()


def test_an_inactive_ad_leaves_the_inventory_until_it_comes_back(engine: Engine,
                                                                 encoder: Encoder) -> None:
    ads = [{"ad_id": "a1", "item_id": "run-1", "bid": 1.0}]
    engine.catalog.apply_ads(ads, encoder.encode_items(engine.catalog.ad_texts(ads)))
    engine.catalog.apply_ads([{**ads[0], "active": False}], np.zeros((0, encoder.dim)))
    assert engine.catalog.ads() == [] and engine.catalog.contents().ads == {}
    engine.catalog.apply_ads(ads, np.zeros((0, encoder.dim)))
    assert [ad.ad_id for ad in engine.catalog.ads()] == ["a1"]


def test_a_deleted_item_is_forgotten_by_popularity_co_occurrence_and_feedback(engine: Engine) -> None:
    engine.popularity.update("run-1", "click", 3)
    engine.cooc.update(["run-2"], "run-1", "click", 3)
    engine.load_feedback("item:run-1", 5, 1)
    assert "run-1" in engine.popularity and "run-1" in engine.cooc
    held = engine.forget_items(["run-1", "pan-1"])
    assert held == ["run-1"]  # the only one with a row or an estimate: its tables get tombstones
    assert "run-1" not in engine.popularity and "run-1" not in engine.cooc
    assert "run-1" not in engine.items_shown.betas


def test_a_deleted_item_known_only_to_popularity_still_gets_tombstones(engine: Engine) -> None:
    """The popularity table holds its row too: without a tombstone it outlives the delete."""
    engine.load_popularity("run-2", 1.5, 3)
    assert engine.forget_items(["run-2"]) == ["run-2"] and "run-2" not in engine.popularity
def deletion(user: str, ts: int) -> tuple[str, dict]:
    return "user_deletions", {"event_id": f"d-{user}-{ts}", "user_id": user, "ts": ts}


def test_a_deletion_bars_the_users_earlier_events_that_come_after_it(engine: Engine) -> None:
    """Late events dated at or before a deletion are dropped and counted: no profile, no output."""
    gone = engine.handle_users([signup("u1", "running gear", 5), deletion("u1", 10)], {})
    assert gone.deleted == {"u1"} and gone.barriers == {"u1": 10}
    late = [signup("u1", "muddy trails", 9), click("u1", "run-1", 10),
            ("ad_slots", {"user_id": "u1", "placement_id": "p1", "source_ts": 8, "slots": []})]
    result = engine.handle_users(late, {}, {}, barriers=gone.barriers)
    assert (result.profiles, result.served, result.recommendations) == ({}, {}, [])
    assert result.barred == {"signups": 1, "clicks": 1, "ad_slots": 1}
    later = engine.handle_users([signup("u1", "muddy trails", 11)], {}, {}, gone.barriers)
    assert later.profiles["u1"].n_texts == 1 and not later.barred  # after it: a new user


def test_a_deletion_bars_what_follows_it_in_the_same_batch_by_event_time(engine: Engine) -> None:
    result = engine.handle_users([deletion("u1", 10), click("u1", "run-1", 10),
                                  click("u1", "run-2", 11)], {})
    assert result.barred == {"clicks": 1}
    assert result.profiles["u1"].recent == ("run-2",)


def test_no_output_or_state_quotes_the_users_words(engine: Engine) -> None:
    """A user's words are embedded, never kept: not in the profile, not in any reason."""
    word = "zqxwordling"
    result = engine.handle_users([signup("u1", f"trail running shoes, {word}", 1),
                                  ("searches", {"event_id": "q1", "user_id": "u1",
                                                "query": f"rain jacket {word}", "ts": 2}),
                                  click("u1", "run-1", 3, "purchase")], {})
    assert result.recommendations
    assert word not in repr(result.recommendations)
    assert word.encode() not in result.profiles["u1"].to_bytes()
    reasons = {i["reason"] for r in result.recommendations for i in r["items"]}
    assert not any("bought" in r or "cart" in r or "'" in r for r in reasons), reasons

"""The contract's behaviour end to end: real broker, real `coldstart worker`, outputs read back."""
from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest
from e2e import (
    KITCHEN,
    OUTPUTS,
    RUNNING,
    Pipeline,
    categories,
    check_ad_slots,
    check_recommendation,
    click,
    items_of,
    load_sample,
    majority,
    new_id,
    page_view,
    search,
    signup,
)

import schemas

pytestmark = pytest.mark.integration

# --- recommendations ------------------------------------------------------------------------------

def test_every_signup_and_search_gets_its_recommendation(pipeline: Pipeline) -> None:
    """Each signup and search yields a recommendations event naming it (repeats, never losses)."""
    users = [new_id("u") for _ in load_sample("signups")]
    signups = [signup(user, s["description"]) for user, s in zip(users, load_sample("signups"))]
    queries = [s["query"] for s in load_sample("searches")]
    searches = [search(user, q) for user, q in zip(users, queries)]
    searches += [search(new_id("never-signed-up"), q) for q in queries[:3]]
    pipeline.send("signups", signups)
    pipeline.send("searches", searches)

    found = pipeline.recommendations([e["event_id"] for e in signups + searches])
    for trigger, events in (("signup", signups), ("search", searches)):
        for event in events:
            recs = found[event["event_id"]]
            assert len({r["recommendation_id"] for r in recs}) == 1, "a repeat is the same answer"
            for rec in recs:
                check_recommendation(pipeline, rec, event, trigger)


@pytest.mark.parametrize("words, wanted, unwanted", [
    ("I run every morning and I am training for a trail marathon in the hills", RUNNING, KITCHEN),
    ("I bake sourdough bread and cook slow stews in a cast iron pot", KITCHEN, RUNNING),
])
def test_a_description_brings_its_own_category_first(pipeline: Pipeline, words: str, wanted: str,
                                                     unwanted: str) -> None:
    """Words about running bring running gear before kitchenware (and the other way round)."""
    event = signup(new_id("u"), words)
    rec = pipeline.recommend(event)
    check_recommendation(pipeline, rec, event, "signup")
    assert majority(pipeline, rec, wanted), categories(pipeline, rec)
    cats = categories(pipeline, rec, top=10)
    if unwanted in cats:
        assert cats.index(wanted) < cats.index(unwanted), cats


def test_clicks_refresh_recommendations_and_a_burst_is_coalesced(pipeline: Pipeline) -> None:
    """Clicks move the profile toward what was clicked; a burst may give fewer refreshes."""
    user = new_id("u")
    words = "I bake bread every weekend and want a proper dutch oven"
    first = pipeline.recommend(signup(user, words))
    assert majority(pipeline, first, KITCHEN), categories(pipeline, first)

    clicked = items_of(pipeline, RUNNING)[:8]
    burst = [click(user, item) for item in clicked]
    pipeline.send("clicks", burst)  # one flush: the worker sees them close together
    last = burst[-1]["event_id"]
    pipeline.recommendations([last])
    refreshes = [r for r in pipeline.reader("recommendations").values
                 if r["user_id"] == user and r["trigger"] == "click"]
    assert 1 <= len(refreshes) <= len(burst)
    by_id = {e["event_id"]: e for e in burst}
    for rec in refreshes:
        check_recommendation(pipeline, rec, by_id[rec["trigger_event_id"]], "click")

    latest = next(r for r in refreshes if r["trigger_event_id"] == last)
    assert majority(pipeline, latest, RUNNING), categories(pipeline, latest)
    reasons = [i["reason"] for i in latest["items"]]
    assert any(r.startswith("similar to an item you viewed: ") for r in reasons), reasons


def test_a_flood_of_clicks_is_applied_in_full_and_every_users_latest_click_gets_its_list(
        pipeline: Pipeline) -> None:
    """Behind its stream, the worker says so, defers clicks' lists and coalesces them per user,
    yet applies every click, and each user's latest click gets a list; page views sent in the
    middle of the flood are answered too."""
    users = [new_id("flood") for _ in range(30)]
    # one category no other test reads, and small enough to leave the shared worker little
    # co-occurrence work: the popularity and rows it teaches stay out of the other tests' way
    items = items_of(pipeline, "pet supplies")
    flood = [click(users[n % len(users)], items[(n * 7) % len(items)]) for n in range(450)]
    views = [page_view(u, [("top", 1)]) for u in users[:10]]
    pipeline.send_mixed([("clicks", e, None) for e in flood[:225]]
                        + [("page_views", v, None) for v in views]
                        + [("clicks", e, None) for e in flood[225:]])
    last = {e["user_id"]: e for e in flood}  # each user's latest click
    got = pipeline.recommendations([e["event_id"] for e in last.values()], timeout=180)
    for event in last.values():
        check_recommendation(pipeline, got[event["event_id"]][0], event, "click")
    pipeline.ad_slots([v["event_id"] for v in views], timeout=180)
    pipeline.worker.wait_for_log("users agent behind its stream", 30)
    pipeline.worker.wait_for_log("users agent caught up", 60)
    # every click reached the profile: the latest list leaves out each user's latest items
    for user in users[:3]:
        recent = [e["item_id"] for e in flood if e["user_id"] == user][-10:]
        listed = {i["item_id"] for i in got[last[user]["event_id"]][0]["items"]}
        assert not listed & set(recent), (listed & set(recent))


def test_purchased_items_are_not_recommended_again(pipeline: Pipeline) -> None:
    user = new_id("u")
    first = pipeline.recommend(signup(user, "trail running shoes and a light rain jacket"))
    bought = [i["item_id"] for i in first["items"][:3]]
    purchases = [click(user, item, "purchase") for item in bought]
    pipeline.send("clicks", purchases)
    refreshed = pipeline.recommendations([purchases[-1]["event_id"]])[purchases[-1]["event_id"]]
    assert not {i["item_id"] for r in refreshed for i in r["items"]} & set(bought)

    later = [search(user, "trail running shoes"), search(user, "waterproof rain jacket")]
    pipeline.send("searches", later)
    view = click(user, items_of(pipeline, RUNNING)[-1], "view")
    pipeline.send("clicks", [view])
    found = pipeline.recommendations([e["event_id"] for e in later] + [view["event_id"]])
    for recs in found.values():
        for rec in recs:
            shown = [i["item_id"] for i in rec["items"]]
            assert not set(shown) & set(bought), f"purchased {bought} recommended again: {shown}"


def test_deleted_catalogue_items_never_appear_afterwards(pipeline: Pipeline) -> None:
    """Items added, recommended, then deleted: no recommendation made afterwards holds them."""
    tag = new_id("kayak")
    new_items = [{"item_id": f"{tag}-{n}", "title": f"Glacierline Sea Kayak {noun}",
                  "description": f"Sea kayak {noun.lower()} for paddling coastal waters and lakes.",
                  "brand": "Glacierline", "category": "watersports", "price": 80.0 + n}
                 for n, noun in enumerate(["Paddle", "Spray Deck", "Dry Bag"])]
    ids = {item["item_id"] for item in new_items}
    pipeline.send("catalog", new_items)
    words = "sea kayaking: a paddle, a spray deck and a dry bag for the lakes"
    probe_until(pipeline, words, lambda shown: bool(shown & ids), "the new items to be recommended")

    user = new_id("u")
    pipeline.recommend(signup(user, words))
    warm = click(user, f"{tag}-0")  # the user's behaviour now points at the doomed items
    pipeline.send("clicks", [warm])
    pipeline.recommendations([warm["event_id"]])

    pipeline.send("catalog", [dict(item, deleted=True) for item in new_items])
    probe_until(pipeline, words, lambda shown: not shown & ids, "the deleted items to go")

    after = [signup(new_id("u"), words) for _ in range(3)]
    searches = [search(user, "kayak paddle and spray deck"), search(new_id("u"), "dry bag")]
    clicks = [click(user, items_of(pipeline, RUNNING)[0])]
    pipeline.send("signups", after)
    pipeline.send("searches", searches)
    pipeline.send("clicks", clicks)
    found = pipeline.recommendations([e["event_id"] for e in after + searches + clicks])
    for recs in found.values():
        for rec in recs:
            assert not {i["item_id"] for i in rec["items"]} & ids, rec
    gone = pipeline.send("clicks", [click(user, f"{tag}-1")])  # a deleted item's click: refused
    letter = pipeline.dead_letters(gone)[gone[0]]
    assert "not in the catalogue" in letter["error"]


def probe_until(pipeline: Pipeline, words: str, done: Any, what: str,
                timeout: float = 60.0) -> None:
    """Send fresh signups until one's items satisfy `done` (the catalogue replica runs apart)."""
    deadline = time.monotonic() + timeout
    while True:
        rec = pipeline.recommend(signup(new_id("probe"), words))
        if done({i["item_id"] for i in rec["items"]}):
            return
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


# --- ads ----------------------------------------------------------------------------------------

def test_every_page_view_gets_one_ad_slots_event(pipeline: Pipeline) -> None:
    """The sample page views (never-seen users, with and without a page item) each get ad_slots."""
    views = []
    for sample in load_sample("page_views"):
        view = dict(sample, event_id=new_id("pv"), user_id=f"{sample['user_id']}-{new_id('x')}")
        views.append(view)
    odd = page_view(new_id("u"), [("side", 2), ("top", 1), ("top", 3), ("inline", 3)])  # top twice
    views.append(odd)
    pipeline.send("page_views", views)
    found = pipeline.ad_slots([v["event_id"] for v in views])
    for view in views:
        outs = found[view["event_id"]]
        assert len({o["placement_id"] for o in outs}) == 1
        for out in outs:
            check_ad_slots(pipeline, out, view)
    placed = [p["slot_id"] for p in found[odd["event_id"]][0]["placements"]]
    assert placed == ["top", "side", "inline"]


def test_the_strongest_ad_takes_the_most_prominent_slot(pipeline: Pipeline) -> None:
    """More slots than ads ranks every active ad; a small page gets that ranking's head."""
    user = new_id("u")
    pipeline.recommend(signup(user, "podcasts on my commute, noise cancelling please"))
    everything = page_view(user, [(f"s{n}", n) for n in range(50, 0, -1)])  # least prominent first
    small = page_view(user, [("inline", 3), ("top", 1), ("side", 2)])
    pipeline.send("page_views", [everything, small])
    found = pipeline.ad_slots([everything["event_id"], small["event_id"]])
    ranked = found[everything["event_id"]][0]
    check_ad_slots(pipeline, ranked, everything)
    assert {p["ad_id"] for p in ranked["placements"]} == pipeline.active_ads()
    inactive_in_sample = {"ad-008", "ad-029"}
    assert not inactive_in_sample & {p["ad_id"] for p in ranked["placements"]}
    head = found[small["event_id"]][0]
    check_ad_slots(pipeline, head, small)
    order = sorted(ranked["placements"], key=lambda p: int(p["slot_id"][1:]))
    assert [p["ad_id"] for p in head["placements"]] == [p["ad_id"] for p in order[:3]]
    assert head["placements"][0]["score"] == max(p["score"] for p in ranked["placements"])


def test_a_deactivated_ad_is_no_longer_placed(pipeline: Pipeline) -> None:
    ad = {"ad_id": new_id("ad"), "text": "Fellstride: trail running shoes for muddy hills",
          "bid": 40.0}
    pipeline.send("ads", [ad])
    slots = [("top", 1), ("side", 2), ("inline", 3)]
    first = ad_probe_until(pipeline, slots, lambda placed: placed[:1] == [ad["ad_id"]],
                           "the new ad")
    assert first["placements"][0]["score"] == max(p["score"] for p in first["placements"])

    pipeline.send("ads", [dict(ad, active=False)])
    ad_probe_until(pipeline, slots, lambda placed: ad["ad_id"] not in placed, "the ad to go")
    views = [page_view(new_id("u"), slots) for _ in range(3)]
    pipeline.send("page_views", views)
    for view in views:
        out = pipeline.ad_slots([view["event_id"]])[view["event_id"]][0]
        check_ad_slots(pipeline, out, view)


def ad_probe_until(pipeline: Pipeline, slots: list[tuple[str, int]], done: Any, what: str,
                   timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        view = page_view(new_id("probe"), slots)
        pipeline.send("page_views", [view])
        out = pipeline.ad_slots([view["event_id"]])[view["event_id"]][0]
        if done([p["ad_id"] for p in out["placements"]]):
            return out
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


# --- users never seen -----------------------------------------------------------------------------

def test_users_never_seen_get_sensible_output(pipeline: Pipeline) -> None:
    """No signup: a click still refreshes recommendations from behaviour; a page view gets ads."""
    clicker = new_id("stranger")
    running = items_of(pipeline, RUNNING)
    only = click(clicker, running[3])
    pipeline.send("clicks", [only])
    rec = pipeline.recommendations([only["event_id"]])[only["event_id"]][0]
    check_recommendation(pipeline, rec, only, "click")
    assert majority(pipeline, rec, RUNNING), categories(pipeline, rec)
    title = pipeline.items[running[3]]["title"]
    assert any(title[:20] in i["reason"] for i in rec["items"]), [i["reason"] for i in rec["items"]]

    slots = [("top", 1), ("side", 2), ("inline", 3), ("footer", 4)]
    views = [page_view(new_id("stranger"), slots),
             page_view(new_id("stranger"), slots, context_item_id=running[5], page_id="item/x"),
             page_view(clicker, slots)]
    pipeline.send("page_views", views)
    found = pipeline.ad_slots([v["event_id"] for v in views])
    for view in views:
        check_ad_slots(pipeline, found[view["event_id"]][0], view)


# --- every output ------------------------------------------------------------------------------

def test_every_output_event_matches_its_schema(pipeline: Pipeline) -> None:
    """All outputs so far (the readers check each event as it arrives; this re-checks them all)."""
    for topic in OUTPUTS:
        reader = pipeline.reader(topic)
        reader.poll()
        for value in reader.values:
            schemas.validate(topic, value)
    counts = Counter({t: len(pipeline.reader(t).values) for t in OUTPUTS})
    assert counts["recommendations"] > 0 and counts["ad_slots"] > 0, counts

"""The engine's blend: co-occurrence learned from clicks, served lists, bandit feedback, ad CTR."""
from __future__ import annotations

import pytest

from coldstart.catalog import Catalog
from coldstart.encoder.encoder import Encoder
from coldstart.engine import Engine, UserBatchResult
from coldstart.ranking.blend import BlendConfig
from coldstart.ranking.cooccurrence import apply_update_bytes
from coldstart.ranking.explain import EXPLORE
from coldstart.ranking.popularity import merge_keys
from tests.unit.shop import SHOP_ITEMS, shop_engine

ITEMS = SHOP_ITEMS
T0 = 1_700_000_000_000


@pytest.fixture
def engine(encoder: Encoder) -> Engine:
    return shop_engine(encoder, ITEMS)


def signup(user: str, text: str, ts: int) -> tuple[str, dict]:
    return "signups", {"event_id": f"s-{user}-{ts}", "user_id": user, "description": text,
                       "ts": ts}


def search(user: str, text: str, ts: int) -> tuple[str, dict]:
    return "searches", {"event_id": f"q-{user}-{ts}", "user_id": user, "query": text, "ts": ts}


def click(user: str, item: str, ts: int, rec_id: str | None = None) -> tuple[str, dict]:
    event = {"event_id": f"c-{user}-{ts}", "user_id": user, "item_id": item, "action": "click",
             "ts": ts}
    if rec_id:
        event["recommendation_id"] = rec_id
    return "clicks", event


def route(engine: Engine, result: UserBatchResult, table: dict[str, bytes],
          popular: dict[str, tuple[float, int]] | None = None) -> None:
    """What the streaming layer does: row updates and popularity increments to their tables,
    the tables back to the engine."""
    for update in result.cooccurrence:
        table[update.item_id] = apply_update_bytes(table.get(update.item_id), update,
                                                   engine.cooc.config)
        engine.load_cooccurrence(update.item_id, table[update.item_id], T0 + 10_000)
    popular = {} if popular is None else popular
    for item, (key, ts) in result.popularity.items():
        old = popular.get(item)
        popular[item] = (merge_keys(old[0] if old else None, key), max(ts, old[1] if old else 0))
        engine.load_popularity(item, *popular[item])


def test_new_clicks_emit_row_updates_and_a_redelivery_emits_none(engine: Engine) -> None:
    first = engine.handle_users([click("u1", "run-1", T0), click("u1", "pan-2", T0 + 1)], {})
    rows = [(u.item_id, [o for o, _ in u.pairs]) for u in first.cooccurrence]
    assert rows == [("run-1", []), ("pan-2", ["run-1"]), ("run-1", ["pan-2"])]
    again = engine.handle_users([click("u1", "pan-2", T0 + 1)], first.profiles, first.served)
    assert again.cooccurrence == [] and len(again.recommendations) == 1


def test_what_others_clicked_next_reaches_a_new_user_with_its_reason(engine: Engine) -> None:
    table: dict[str, bytes] = {}
    before = engine.handle_users([click("new-0", "run-1", T0)], {}).recommendations[0]
    assert "pan-4" not in [i["item_id"] for i in before["items"]]  # content alone: running
    for u in range(6):  # whoever clicks run-1 goes on to buy a chopping board
        route(engine, engine.handle_users([click(f"u{u}", "run-1", T0 + 10 * u),
                                           click(f"u{u}", "pan-4", T0 + 10 * u + 1)], {}), table)
    for u in range(6):  # and others make kitchen items about as popular
        route(engine, engine.handle_users([click(f"v{u}", "pan-1", T0 + 100 + u)], {}), table)
    (rec,) = engine.handle_users([click("new-1", "run-1", T0 + 200)], {}).recommendations
    reasons = {i["item_id"]: i["reason"] for i in rec["items"]}
    assert reasons.get("pan-4") == "people who liked Trail running shoes liked this", reasons


def test_clicks_return_popularity_increments_and_a_redelivery_none(engine: Engine) -> None:
    first = engine.handle_users([click("u1", "run-1", T0), click("u2", "run-1", T0 + 5)], {})
    assert set(first.popularity) == {"run-1"} and first.popularity["run-1"][1] == T0 + 5
    assert len(engine.popularity) == 0  # returned, not applied: the table is loaded back
    again = engine.handle_users([click("u1", "run-1", T0)], first.profiles, first.served)
    assert again.popularity == {}


def test_two_engines_fed_one_popularity_table_give_a_new_user_the_same_list(
        encoder: Encoder) -> None:
    """Two workers, each handling half the users' clicks, share popularity through the table."""
    def new_engine() -> Engine:
        catalog = Catalog(encoder.dim)
        catalog.apply_items(ITEMS, encoder.encode_items(catalog.item_texts(ITEMS)))
        return Engine(catalog, encoder.encode_users, encoder.version, top_k=4)

    a, b = new_engine(), new_engine()
    table: dict[str, tuple[float, int]] = {}
    for u in range(8):  # a handles the even users, b the odd: both click the socks
        worker = a if u % 2 == 0 else b
        result = worker.handle_users([click(f"u{u}", "run-3", T0 + u)], {})
        for item, (key, ts) in result.popularity.items():
            old = table.get(item)
            table[item] = (merge_keys(old[0] if old else None, key), max(ts, old[1] if old else 0))
    for engine in (b, a):  # every worker follows the whole table, in its own order
        for item, (key, ts) in table.items():
            engine.load_popularity(item, key, ts)
    lists = [[i["item_id"] for i in e.handle_users([signup("new", "a gift", T0 + 99)],
                                                   {}).recommendations[0]["items"]]
             for e in (a, b)]
    assert lists[0] == lists[1] and "run-3" in lists[0]


def test_a_click_on_a_served_list_rewards_its_arm_once(engine: Engine) -> None:
    first = engine.handle_users([signup("u1", "running gear", T0)], {})
    (rec,) = first.recommendations
    log = first.served["u1"]
    (served,) = [s for k, s in log.lists if k == rec["recommendation_id"]]
    assert served.items == tuple(i["item_id"] for i in rec["items"])
    assert first.feedback[f"arm:{served.arm}"] == (1, 0)
    assert all(first.feedback[f"item:{i}"] == (1, 0) for i in served.items)

    item = served.items[1]
    hit = engine.handle_users([click("u1", item, T0 + 1, rec["recommendation_id"])],
                              first.profiles, first.served)
    assert hit.feedback[f"arm:{served.arm}"][1] == 1 and hit.feedback[f"item:{item}"][1] == 1
    # The same click again, and a second click on that list: no more reward.
    again = engine.handle_users([click("u1", item, T0 + 1, rec["recommendation_id"]),
                                 click("u1", served.items[2], T0 + 2, rec["recommendation_id"])],
                                hit.profiles, {**first.served, **hit.served})
    assert all(clicked == 0 for _, clicked in again.feedback.values())


def test_a_repeated_trigger_repeats_its_list_without_counting_it_twice(engine: Engine) -> None:
    first = engine.handle_users([signup("u1", "kitchen knives", T0)], {})
    again = engine.handle_users([signup("u1", "kitchen knives", T0)], first.profiles, first.served)
    assert [i["item_id"] for i in again.recommendations[0]["items"]] == \
        [i["item_id"] for i in first.recommendations[0]["items"]]
    assert all(shown == 0 for shown, _ in again.feedback.values())


def test_the_bandit_and_the_estimates_load_from_feedback_totals(engine: Engine) -> None:
    engine.load_feedback("arm:content", 100, 40)
    engine.load_feedback("arm:collaborative", 100, 1)
    engine.load_feedback("ad:a2", 50, 25)
    engine.load_feedback("nonsense", 1, 1)  # ignored
    assert engine.bandit.best() == "content"
    assert engine.ad_ctr["a2"].mean == pytest.approx(26 / 52)


def test_explored_items_say_so_and_are_remembered(encoder: Encoder) -> None:
    catalog = Catalog(encoder.dim)
    catalog.apply_items(ITEMS, encoder.encode_items(catalog.item_texts(ITEMS)))
    engine = Engine(catalog, encoder.encode_users, encoder.version, top_k=4,
                    blend=BlendConfig(explore_rate=0.5))
    first = engine.handle_users([signup(f"u{i}", "running gear", T0 + i) for i in range(5)], {})
    assert not [i for r in first.recommendations for i in r["items"] if i["reason"] == EXPLORE]
    # a new user's first list keeps its best matches; their next list explores past what they saw
    result = engine.handle_users([search(f"u{i}", "running gear", T0 + 10 + i) for i in range(5)],
                                 first.profiles, first.served)
    explored = {i["item_id"] for r in result.recommendations for i in r["items"]
                if i["reason"] == EXPLORE}
    assert explored
    seen = {i["item_id"] for r in first.recommendations for i in r["items"]}
    assert not explored & seen
    remembered = {i for log in result.served.values() for _, s in log.lists for i in s.explored}
    assert remembered == explored
    # a redelivered search gets the same list: its own earlier copy is not among what the user saw
    again = engine.handle_users([search(f"u{i}", "running gear", T0 + 10 + i) for i in range(5)],
                                result.profiles, result.served)
    assert [r["items"] for r in again.recommendations] == [r["items"] for r in result.recommendations]


def test_a_deletion_drops_the_served_log(engine: Engine) -> None:
    first = engine.handle_users([signup("u1", "running gear", T0)], {})
    gone = engine.handle_users([("user_deletions", {"user_id": "u1", "ts": T0 + 1})],
                               first.profiles, first.served)
    assert gone.deleted == {"u1"} and gone.served == {} and gone.profiles == {}


def test_page_views_prefer_the_ad_people_click(engine: Engine, encoder: Encoder) -> None:
    ads = [{"ad_id": "a1", "text": "running shoes sale", "bid": 1.0},
           {"ad_id": "a2", "text": "running socks sale", "bid": 1.0}]
    engine.catalog.apply_ads(ads, encoder.encode_items(engine.catalog.ad_texts(ads)))
    view = {"event_id": "p1", "user_id": "nobody", "page_id": "home", "ts": T0,
            "slots": [{"slot_id": "top", "position": 1}, {"slot_id": "side", "position": 2}]}
    engine.load_feedback("ad:a1", 100, 1)
    engine.load_feedback("ad:a2", 100, 30)
    (out,) = engine.handle_page_views([view], {})
    assert [p["ad_id"] for p in out["placements"]] == ["a2", "a1"]


def test_a_click_on_what_a_placed_ad_promoted_counts_for_the_ad(engine: Engine,
                                                                 encoder: Encoder) -> None:
    ads = [{"ad_id": "a-shoes", "item_id": "run-1", "bid": 1.0},
           {"ad_id": "a-pan", "item_id": "pan-1", "bid": 0.5}]
    engine.catalog.apply_ads(ads, encoder.encode_items(engine.catalog.ad_texts(ads)))
    view = {"event_id": "p1", "user_id": "u1", "page_id": "home", "ts": T0,
            "slots": [{"slot_id": "top", "position": 1}, {"slot_id": "side", "position": 2}]}
    (out,) = engine.handle_page_views([view], {})
    assert {p["ad_id"] for p in out["placements"]} == {"a-shoes", "a-pan"}
    # The users agent gets the ad_slots event back, then the user's clicks.
    placed = engine.handle_users([("ad_slots", out)], {})
    # The placement counts its impressions once, when it reaches the user's served log.
    assert placed.recommendations == []
    assert placed.feedback == {"ad:a-shoes": (1, 0), "ad:a-pan": (1, 0)}
    again = engine.handle_users([("ad_slots", out)], {}, placed.served)
    assert again.feedback == {}  # a redelivered placement counts nothing twice
    other = engine.handle_users([click("u1", "pan-3", T0 + 1)], placed.profiles, placed.served)
    assert not any(k.startswith("ad:") for k in other.feedback)  # no ad promoted pan-3
    hit = engine.handle_users([click("u1", "run-1", T0 + 2)], other.profiles,
                              {**placed.served, **other.served})
    assert hit.feedback["ad:a-shoes"] == (0, 1) and "ad:a-pan" not in hit.feedback


def test_a_placement_and_a_click_in_one_batch_go_in_event_time_order(engine: Engine) -> None:
    out = {"placement_id": "pl-1", "user_id": "u1", "page_id": "home", "trigger_event_id": "p1",
           "placements": [{"slot_id": "top", "ad_id": "a-shoes", "item_id": "run-1",
                           "score": 1.0}], "source_ts": T0, "produced_ts": T0 + 5}
    result = engine.handle_users([click("u1", "run-1", T0 + 1), ("ad_slots", out)], {})
    assert result.feedback["ad:a-shoes"] == (1, 1)  # shown (the placement), then clicked

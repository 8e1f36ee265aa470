"""A worker behind its stream: every click changes the state at once, the lists come later."""
from __future__ import annotations

import pytest

from coldstart.encoder.encoder import Encoder
from coldstart.engine import ClickRefresh, Engine
from tests.unit.shop import SHOP_ITEMS, shop_engine

T0 = 1_700_000_000_000


@pytest.fixture
def engine(encoder: Encoder) -> Engine:
    return shop_engine(encoder, SHOP_ITEMS)


def click(user: str, item: str, ts: int) -> tuple[str, dict]:
    return "clicks", {"event_id": f"c-{user}-{ts}", "user_id": user, "item_id": item,
                      "action": "click", "ts": ts}


def test_deferred_clicks_change_the_profile_now_and_are_listed_with_a_later_batch(
        engine: Engine) -> None:
    items = [i["item_id"] for i in SHOP_ITEMS]
    first = engine.handle_users([click("u1", items[0], T0), click("u2", items[1], T0 + 1)],
                                {}, {}, defer_refresh=True)
    assert first.recommendations == []  # owed, not sent
    assert first.profiles["u1"].recent == (items[0],)  # the click is applied all the same
    assert first.cooccurrence  # and co-occurrence learns from it
    assert first.deferred == {"u1": ClickRefresh(f"c-u1-{T0}", T0),
                              "u2": ClickRefresh(f"c-u2-{T0 + 1}", T0 + 1)}
    # Still behind: u1 clicks again (that list is owed instead); u2's owed list goes out.
    second = engine.handle_users([click("u1", items[2], T0 + 5)], first.profiles, first.served,
                                 refresh=first.deferred, defer_refresh=True)
    assert [r["trigger_event_id"] for r in second.recommendations] == [f"c-u2-{T0 + 1}"]
    assert second.deferred == {"u1": ClickRefresh(f"c-u1-{T0 + 5}", T0 + 5)}
    # Caught up: what is owed goes out with the batch, for the latest click only.
    third = engine.handle_users([], {**first.profiles, **second.profiles},
                                {**first.served, **second.served}, refresh=second.deferred)
    assert [r["trigger_event_id"] for r in third.recommendations] == [f"c-u1-{T0 + 5}"]
    assert third.deferred == {}
    assert items[2] not in {r["item_id"] for r in third.recommendations[0]["items"]}


def test_a_user_deleted_after_a_deferred_click_gets_no_list(engine: Engine) -> None:
    item = SHOP_ITEMS[0]["item_id"]
    first = engine.handle_users([click("u1", item, T0)], {}, {}, defer_refresh=True)
    gone = engine.handle_users([("user_deletions", {"event_id": "d1", "user_id": "u1",
                                                    "ts": T0 + 10})],
                               first.profiles, first.served, refresh=first.deferred)
    assert gone.recommendations == [] and gone.deleted == {"u1"} and gone.deferred == {}


def test_without_deferral_every_click_is_listed_in_its_batch(engine: Engine) -> None:
    item = SHOP_ITEMS[0]["item_id"]
    result = engine.handle_users([click("u1", item, T0), click("u1", item, T0 + 1)], {}, {})
    assert [r["trigger_event_id"] for r in result.recommendations] == [f"c-u1-{T0 + 1}"]
    assert result.deferred == {}

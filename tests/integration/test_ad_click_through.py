"""Issue 7 on the real broker: a click on what a placed ad promoted raises that ad's click count;
a click on an item no ad promoted credits no ad."""
from __future__ import annotations

import pytest
from e2e import Pipeline, check_ad_slots, click, feedback_totals, new_id, page_view, served_log, table_latest

pytestmark = pytest.mark.integration


def test_a_click_on_an_item_a_placed_ad_promoted_counts_for_that_ad(pipeline: Pipeline) -> None:
    user = new_id("u")
    view = page_view(user, [("top", 1), ("side", 2), ("footer", 3)])
    pipeline.send("page_views", [view])
    (out,) = pipeline.ad_slots([view["event_id"]])[view["event_id"]]
    check_ad_slots(pipeline, out, view)
    placed = {p["ad_id"]: p.get("item_id") for p in out["placements"]}
    ad, item = next((a, i) for a, i in placed.items() if i)  # the sample ads promote items
    placement_id = out["placement_id"]

    # The users agent remembers the placement in the user's served log; the ad counts as shown.
    table_latest(pipeline, "served", user,
                 lambda v: v is not None and placement_id in dict(served_log(v).ads),
                 "the placement in the served log")
    shown = table_latest(pipeline, "feedback", f"ad:{ad}", lambda v: v is not None,
                         "the ad's impression")
    shown_before, clicked_before = feedback_totals(shown)
    assert shown_before >= 1

    elsewhere = next(i for i in pipeline.items if i not in placed.values())
    for target in (elsewhere, item):  # in this order: the served log shows both were handled
        event = click(user, target)
        pipeline.send("clicks", [event])
        pipeline.recommendations([event["event_id"]])

    after = table_latest(pipeline, "feedback", f"ad:{ad}",
                         lambda v: v is not None and feedback_totals(v)[1] > clicked_before,
                         "the ad's click")
    assert feedback_totals(after)[1] == clicked_before + 1
    log = table_latest(pipeline, "served", user,
                       lambda v: v is not None and dict(served_log(v).ads)[placement_id].clicked,
                       "the placement marked clicked")
    # The click on `elsewhere` came first and credited nothing; the one on `item` credited `ad`.
    assert {a for _, p in served_log(log).ads for a in p.clicked} == {ad}

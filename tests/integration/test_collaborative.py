"""Issue 7 on the real broker: co-occurrence learned from clicks reaches a later user's list, and
a click that names the list it came from updates the bandit."""
from __future__ import annotations

import time
from typing import Any

import pytest
from e2e import (
    WAIT,
    Pipeline,
    check_recommendation,
    click,
    feedback_totals,
    items_of,
    new_id,
    served_log,
    signup,
    table_latest,
)

from coldstart.ranking.cooccurrence import Neighbours
from streams.partitioned import split_applied

pytestmark = pytest.mark.integration

OFFICE = "home office"
TRAINING_USERS = 6


def refresh_after_click(pipeline: Pipeline, item: str) -> dict[str, Any]:
    """A brand-new user clicks `item`; their refreshed recommendations."""
    event = click(new_id("u"), item)
    pipeline.send("clicks", [event])
    rec = pipeline.recommendations([event["event_id"]])[event["event_id"]][0]
    check_recommendation(pipeline, rec, event, "click")
    return rec


def test_clicks_teach_co_occurrence_that_reaches_a_later_user(pipeline: Pipeline) -> None:
    office = items_of(pipeline, OFFICE)
    a = office[0]
    before = [i["item_id"] for i in refresh_after_click(pipeline, a)["items"]]
    b = next(i for i in office[1:] if i not in before)  # content alone does not offer it

    # Whoever clicks A goes on to click B; as many one-click visitors make other items as
    # popular as B, so popularity alone does not set B apart.
    background = [items_of(pipeline, c)[7] for c in ("books", "baby", "beauty", "gardening")]
    for _ in range(TRAINING_USERS):
        user = new_id("u")
        pipeline.send("clicks", [click(user, a)] + [click(new_id("u"), x) for x in background])
        pipeline.send("clicks", [click(user, b)])
    table_latest(pipeline, "cooccurrence", a,
           lambda v: v is not None and b in Neighbours.from_bytes(split_applied(v)[1]).keys, "A's row naming B")

    # Every worker follows the table's changelog; give the replica a moment, then a new user.
    deadline, rec = time.monotonic() + WAIT, None
    while time.monotonic() < deadline:
        rec = refresh_after_click(pipeline, a)
        reasons = {i["item_id"]: i["reason"] for i in rec["items"]}
        if reasons.get(b, "").startswith("people who liked"):  # B may be popular before that
            break
        time.sleep(1.0)
    assert rec is not None
    found = {i["item_id"]: i["reason"] for i in rec["items"]}
    assert b in found, f"{b} not recommended after {a}: {rec['items']}"
    title = pipeline.items[a]["title"]
    assert found[b].startswith("people who liked") and title[:20] in found[b], found[b]


def test_a_click_on_a_served_list_rewards_its_strategy(pipeline: Pipeline) -> None:
    user = new_id("u")
    event = signup(user, "a quiet mechanical keyboard and a good desk lamp")
    rec = pipeline.recommend(event)
    rec_id, item = rec["recommendation_id"], rec["items"][0]["item_id"]
    log = table_latest(pipeline, "served", user,
                 lambda v: v is not None and rec_id in dict(served_log(v).lists),
                 "the served list")
    arm = dict(served_log(log).lists)[rec_id].arm
    shown_arm = table_latest(pipeline, "feedback", f"arm:{arm}", lambda v: v is not None, "arm shown")
    clicked_before = feedback_totals(shown_arm)[1]
    assert feedback_totals(shown_arm)[0] >= 1

    chosen = dict(click(user, item), recommendation_id=rec_id)
    pipeline.send("clicks", [chosen])
    pipeline.recommendations([chosen["event_id"]])
    after = table_latest(pipeline, "feedback", f"arm:{arm}",
                   lambda v: v is not None and feedback_totals(v)[1] > clicked_before,
                   "the arm's click")
    assert feedback_totals(after)[1] == clicked_before + 1
    log = table_latest(pipeline, "served", user, lambda v: v is not None
                 and dict(served_log(v).lists)[rec_id].clicked, "the list marked clicked")
    assert dict(served_log(log).lists)[rec_id].items[0] == item
    item_totals = table_latest(pipeline, "feedback", f"item:{item}",
                         lambda v: v is not None and feedback_totals(v)[1] >= 1, "the item's click")
    assert feedback_totals(item_totals)[1] >= 1


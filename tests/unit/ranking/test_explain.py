"""Reasons: a content pick names what it resembles; code decides on kinds, not on sentences."""
from __future__ import annotations

import numpy as np

from coldstart.index import IndexConfig, make_index
from coldstart.ranking import explain
from coldstart.ranking.explain import (
    EXPLORE,
    NEW,
    POPULAR,
    Explainer,
    kind_of,
    like_the,
    liked_together,
    matches_interest,
)
from coldstart.ranking.profile import with_interaction, with_signup

DIM = 16
T0 = 1_700_000_000_000
E = np.eye(DIM, dtype=np.float32)


def test_a_signup_pick_names_its_category_not_the_users_words() -> None:
    index = make_index(DIM, IndexConfig(kind="flat"))
    index.upsert(["a", "b"], E[:2])
    profile = with_signup(None, E[0], T0)
    reasons = Explainer(profile, index, {}, 0.0, {"a": "trail running shoes"})
    assert reasons("a", E[0]) == "matches your interest in trail running shoes"
    assert reasons("b", E[1]) == explain.YOUR_INTERESTS  # no category: the generic reason


def test_behaviour_reason_names_the_item_the_user_viewed() -> None:
    index = make_index(DIM, IndexConfig(kind="flat"))
    index.upsert(["seen", "near"], np.stack([E[0], (E[0] + E[1]) / np.sqrt(2)]))
    profile = with_signup(None, E[5], T0)
    for i in range(10):
        profile = with_interaction(profile, "seen", E[0], "view", T0 + i, item_title="Acme Trail 3")
    reason = Explainer(profile, index, {}, 0.9)("near", index.vectors(["near"])[0])
    assert reason == "similar to an item you viewed: Acme Trail 3"
    titled = Explainer(profile, index, {"seen": "Trail Runner X"}, 0.9)
    assert titled("near", index.vectors(["near"])[0]) == "similar to an item you viewed: Trail Runner X"


def test_a_purchase_is_never_named_as_one() -> None:
    """Reasons go out on `recommendations`: they say "viewed", never what the user bought."""
    index = make_index(DIM, IndexConfig(kind="flat"))
    index.upsert(["bought", "near"], np.stack([E[0], (E[0] + E[1]) / np.sqrt(2)]))
    profile = with_signup(None, E[5], T0)
    for action in ("add_to_cart", "purchase"):
        profile = with_interaction(profile, "bought", E[0], action, T0 + 1, item_title="Tent")
    reason = Explainer(profile, index, {}, 0.9)("near", index.vectors(["near"])[0])
    assert reason == "similar to an item you viewed: Tent"


def test_every_generic_reason_is_short_and_distinct() -> None:
    generic = [explain.POPULAR, explain.NEW, explain.EXPLORE, explain.LIKE_VIEWED,
               explain.YOUR_INTERESTS, explain.LIKED_WHAT_YOU_PICKED]
    assert len(set(generic)) == len(generic) and all(0 < len(r) <= 80 for r in generic)


def test_served_reasons_are_read_back_as_their_kinds() -> None:
    """The pipeline evaluation reads each slot's kind from its sentence, so every sentence maps back."""
    assert [kind_of(r) for r in (EXPLORE, POPULAR, NEW, liked_together("Hinge"), liked_together(""),
                                 matches_interest("tools"), matches_interest(""), like_the("Hinge"))] == [
        "explore", "popular", "new", "collaborative", "collaborative", "content", "content", "content"]

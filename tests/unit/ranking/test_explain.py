"""Reasons: a content pick names what it resembles; code decides on kinds, not on sentences."""
from __future__ import annotations

import numpy as np

from coldstart.index import IndexConfig, make_index
from coldstart.ranking import explain
from coldstart.ranking.explain import Explainer
from coldstart.ranking.profile import with_interaction, with_signup

DIM = 16
T0 = 1_700_000_000_000
E = np.eye(DIM, dtype=np.float32)


def test_a_signup_pick_matches_the_users_interest() -> None:
    index = make_index(DIM, IndexConfig(kind="flat"))
    index.upsert(["a"], E[:1])
    profile = with_signup(None, E[0], "trail running shoes", T0)
    assert Explainer(profile, index, {}, 0.0)("a", E[0]) == "matches 'trail running shoes'"


def test_behaviour_reason_names_the_item_the_user_viewed() -> None:
    index = make_index(DIM, IndexConfig(kind="flat"))
    index.upsert(["seen", "near"], np.stack([E[0], (E[0] + E[1]) / np.sqrt(2)]))
    profile = with_signup(None, E[5], "trail running shoes", T0)
    for i in range(10):
        profile = with_interaction(profile, "seen", E[0], "view", T0 + i, item_title="Acme Trail 3")
    reason = Explainer(profile, index, {}, 0.9)("near", index.vectors(["near"])[0])
    assert reason == "like the Acme Trail 3 you viewed"
    titled = Explainer(profile, index, {"seen": "Trail Runner X"}, 0.9)
    assert titled("near", index.vectors(["near"])[0]) == "like the Trail Runner X you viewed"


def test_every_generic_reason_is_short_and_distinct() -> None:
    generic = [explain.POPULAR, explain.NEW, explain.EXPLORE, explain.LIKE_VIEWED,
               explain.YOUR_INTERESTS, explain.LIKED_WHAT_YOU_PICKED]
    assert len(set(generic)) == len(generic) and all(0 < len(r) <= 80 for r in generic)

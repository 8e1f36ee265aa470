"""Profiles: pure updates, decay, the text-to-behaviour weight shift and the byte format."""
from __future__ import annotations

import numpy as np
import pytest

from coldstart.ranking.profile import (
    DAY_MS,
    Profile,
    ProfileConfig,
    new_profile,
    query_vector,
    with_interaction,
    with_search,
    with_signup,
)

E = np.eye(8, dtype=np.float32)
T0 = 1_700_000_000_000


def signed_up() -> Profile:
    return with_signup(None, E[0], T0)


def test_signup_sets_the_text_vector() -> None:
    p = signed_up()
    vec, w_b = query_vector(p)
    assert np.allclose(vec, E[0]) and w_b == 0.0
    assert p.n_texts == 1


def test_nothing_known_gives_no_query_vector() -> None:
    assert query_vector(None) == (None, 0.0)
    assert query_vector(new_profile()) == (None, 0.0)


def test_updates_are_pure() -> None:
    p = signed_up()
    before = Profile.from_bytes(p.to_bytes())
    with_interaction(p, "a", E[1], "purchase", T0 + 1)
    with_search(p, E[2], T0 + 2)
    assert p == before


def test_weight_moves_to_behaviour_as_interactions_accrue() -> None:
    p, weights = signed_up(), []
    for i in range(30):
        p = with_interaction(p, f"i{i}", E[1], "view", T0 + i)
        vec, w_b = query_vector(p)
        weights.append(w_b)
    assert weights[0] == pytest.approx(1 / 4)  # n / (n + 3)
    assert weights == sorted(weights) and weights[-1] == pytest.approx(0.8)  # capped
    assert vec[1] > vec[0] > 0 and np.linalg.norm(vec) == pytest.approx(1.0)


def test_behaviour_only_user_gets_full_behaviour_weight() -> None:
    p = with_interaction(None, "a", E[3], "click", T0)
    vec, w_b = query_vector(p)
    assert w_b == 1.0 and np.allclose(vec, E[3])


def test_older_interactions_count_less() -> None:
    week = 7 * DAY_MS
    p = with_interaction(signed_up(), "old", E[1], "view", T0)
    p = with_interaction(p, "new", E[2], "view", T0 + week)
    assert p.behaviour_vec[1] == pytest.approx(0.5 * p.behaviour_vec[2], rel=1e-5)  # half-life
    late = with_interaction(with_interaction(signed_up(), "new", E[2], "view", T0 + week),
                            "old", E[1], "view", T0)  # out of order: same result
    assert np.allclose(late.behaviour_vec, p.behaviour_vec)


def test_stronger_actions_weigh_more() -> None:
    p = with_interaction(None, "seen", E[1], "view", T0)
    p = with_interaction(p, "bought", E[2], "purchase", T0)
    assert p.behaviour_vec[2] == pytest.approx(8 * p.behaviour_vec[1])


def test_searches_weigh_less_than_the_description() -> None:
    p = with_search(signed_up(), E[2], T0)
    assert p.text_vec[2] == pytest.approx(0.5 * p.text_vec[0]) and p.n_texts == 2


def test_purchase_recorded_even_without_a_vector() -> None:
    p = with_interaction(signed_up(), "unknown", None, "purchase", T0, item_title="Mystery Box")
    assert p.purchased == ("unknown",) and p.recent == ("unknown",)
    assert p.n_interactions == 0 and p.behaviour_vec is None
    assert p.last_item_title == "Mystery Box" and p.last_action == "purchase"


def test_recent_and_purchased_are_bounded_and_most_recent_last() -> None:
    config, p = ProfileConfig(max_purchased=3, max_recent=2), None
    for item in ["a", "b", "c", "a", "d"]:
        p = with_interaction(p, item, None, "purchase", T0, config=config)
    assert p.purchased == ("c", "a", "d") and p.recent == ("a", "d")


def test_unknown_action_is_refused() -> None:
    with pytest.raises(ValueError, match="like"):
        with_interaction(None, "a", E[0], "like", T0)


def test_bytes_round_trip_is_exact() -> None:
    p = with_search(signed_up(), E[2] * 0.3 + E[5], T0 + 5)
    p = with_interaction(p, "a", E[1] * 0.7, "add_to_cart", T0 + 9, item_title="Acme Trail 3")
    p = with_interaction(p, "b", None, "purchase", T0 + 10)
    data = p.to_bytes()
    back = Profile.from_bytes(data)
    assert back == p and back.to_bytes() == data
    assert np.array_equal(back.behaviour_vec, p.behaviour_vec)
    assert len(data) < 2 * 8 * 4 + 200
    assert Profile.from_bytes(new_profile().to_bytes()) == new_profile()


def test_foreign_bytes_are_refused() -> None:
    with pytest.raises(ValueError):
        Profile.from_bytes(b"{}")


def test_vectors_from_a_new_model_restart_the_sums() -> None:
    p = with_interaction(signed_up(), "a", E[1], "view", T0)
    p = with_search(p, np.ones(4, np.float32) / 2, T0 + 1)
    vec, w_b = query_vector(p)
    assert vec.shape == (4,) and w_b == 0.0 and p.n_texts == 1 and p.behaviour_vec is None
    assert p.recent == ("a",) and Profile.from_bytes(p.to_bytes()) == p


def test_seen_events_are_remembered_bounded_and_survive_bytes() -> None:
    """Redelivered events are recognised by id, so at-least-once delivery does not double-count."""
    from coldstart.ranking.profile import ProfileConfig, has_seen, with_seen

    config = ProfileConfig(max_seen_events=3)
    p = new_profile()
    for event_id in ("e1", "e2", "e3", "e4"):
        p = with_seen(p, event_id, config)
    assert not has_seen(p, "e1")  # the oldest fell out of the bounded window
    assert all(has_seen(p, e) for e in ("e2", "e3", "e4"))
    assert Profile.from_bytes(p.to_bytes()).seen == ("e2", "e3", "e4")
    assert not has_seen(None, "e2")

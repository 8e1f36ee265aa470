"""Feedback: Beta click rates, Thompson sampling over strategies, ads by relevance x bid x CTR."""
from __future__ import annotations

import json

import numpy as np
import pytest

from coldstart.ads.placement import Ad, place_ads, place_ads_by_ctr
from coldstart.attribution import Served, ServedLog
from coldstart.ranking.bandit import Beta, Estimates, ThompsonBandit

SLOTS = [("top", 1), ("side", 2)]


def test_beta_counts_impressions_and_first_clicks() -> None:
    b = Beta().with_shown(10).with_click(3)
    assert (b.a, b.b, b.mean) == (4.0, 8.0, pytest.approx(4 / 12))
    late = Beta().with_click()  # the click came before its impression was recorded
    assert (late.shown, late.clicked, late.mean) == (1.0, 1.0, pytest.approx(2 / 3))
    assert Beta.from_list(b.to_list()) == b


def test_thompson_sampling_plays_the_better_arm_once_it_knows() -> None:
    bandit = ThompsonBandit(["good", "bad"])
    for _ in range(100):
        bandit.shown(["good", "bad"])
    for _ in range(30):
        bandit.clicked("good")
    for _ in range(5):
        bandit.clicked("bad")
    rng = np.random.default_rng(0)
    picks = [bandit.choose(rng) for _ in range(500)]
    assert picks.count("good") > 490 and bandit.best() == "good"


def test_thompson_sampling_learns_a_bernoulli_world_and_keeps_exploring_a_little() -> None:
    rates = {"a": 0.05, "b": 0.15, "c": 0.30}
    bandit, rng = ThompsonBandit(list(rates)), np.random.default_rng(7)
    plays = dict.fromkeys(rates, 0)
    for _ in range(3000):
        arm = bandit.choose(rng)
        plays[arm] += 1
        bandit.shown([arm])
        if rng.random() < rates[arm]:
            bandit.clicked(arm)
    assert plays["c"] > 0.8 * 3000
    assert plays["a"] > 0 and plays["b"] > 0
    assert bandit["c"].mean == pytest.approx(0.30, abs=0.03)


def test_state_round_trips_through_json() -> None:
    bandit = ThompsonBandit(["x", "y"], prior_a=2.0, prior_b=5.0)
    bandit.shown(["x", "x", "y"])
    bandit.clicked("x")
    back = ThompsonBandit.from_dict(json.loads(json.dumps(bandit.to_dict())))
    assert back.arms == ["x", "y"] and back.betas == bandit.betas and back["y"].prior_b == 5.0
    ctr = Estimates()
    ctr.shown(["ad-1"])
    assert Estimates.from_dict(json.loads(json.dumps(ctr.to_dict()))).betas == ctr.betas
    with pytest.raises(ValueError, match="at least one arm"):
        ThompsonBandit([])


def test_a_click_with_a_recommendation_id_rewards_the_list_that_showed_the_item_once() -> None:
    log = ServedLog(cap=2).served("rec-1", Served("blend", ("a", "b"), explored=("b",)))
    log = log.served("rec-2", Served("popular", ("c",)))
    log, source, first = log.attribute("rec-1", "b")
    assert source is not None and source.arm == "blend" and first and "b" in source.explored
    assert log.attribute("rec-1", "a")[1:] == (source, False)  # the list was already rewarded
    assert log.attribute("rec-2", "a")[1:] == (None, False)  # not in that list
    assert log.attribute(None, "c")[1:] == (None, False)  # organic click: nothing to attribute
    again = log.served("rec-1", Served("blend", ("a", "b")))  # a redelivered trigger
    assert again.attribute("rec-1", "a")[2] is False
    log = log.served("rec-3", Served("content", ("d",)))  # cap 2: rec-1 is forgotten
    assert [k for k, _ in log.lists] == ["rec-2", "rec-3"]
    assert ServedLog.from_dict(json.loads(json.dumps(log.to_dict()))) == log


def test_ads_are_scored_relevance_times_bid_times_estimated_ctr() -> None:
    user = np.array([1.0, 0.0])
    ads = [Ad("loud", 3.0, vector=np.array([1.0, 0.0])),
           Ad("liked", 2.0, vector=np.array([1.0, 0.0])),
           Ad("far", 2.0, vector=np.array([-1.0, 0.0]))]
    ctr = Estimates()
    assert [p.ad_id for p in place_ads_by_ctr(user, ads, SLOTS, ctr)] == \
        [p.ad_id for p in place_ads(user, ads, SLOTS)]  # no evidence: the plain order
    ctr.betas["loud"] = Beta(shown=200, clicked=2)  # mean 3/202
    ctr.betas["liked"] = Beta(shown=200, clicked=20)  # mean 21/202
    placed = place_ads_by_ctr(user, ads, SLOTS, ctr)
    assert [p.ad_id for p in placed] == ["liked", "loud"]
    assert placed[0].score == pytest.approx(2.0 * 1.0 * 21 / 202)
    drawn = place_ads_by_ctr(user, ads, SLOTS, ctr, rng=np.random.default_rng(0))
    assert drawn[0].ad_id == "liked"  # Thompson draws agree when the evidence is strong

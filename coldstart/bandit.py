"""Learning from feedback: Beta posteriors of click rates, Thompson sampling, ad CTR estimates.

Every estimate is the pair (shown, clicked) with a Beta(a + clicked, b + shown - clicked)
posterior: a list (or an ad, or an item) counts as shown when it is served and as clicked at its
first attributed click, so nothing waits for a "no click" that never arrives. Arms are ranking
strategies; `ThompsonBandit.choose` draws one sample per arm and plays the best. A click that
carries a recommendation_id is attributed through the user's `ServedLog`. State is plain JSON
(`to_dict` / `from_dict`), small enough for one table value per arm, ad or user.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from coldstart.ad_feedback import PlacedAds
from coldstart.ads import Ad, Placement, ordered_slots, place_ads
from coldstart.popularity import Popularity


@dataclass(frozen=True)
class Beta:
    """Counts and prior of one click rate; immutable, updates return a new value."""

    shown: float = 0.0
    clicked: float = 0.0
    prior_a: float = 1.0
    prior_b: float = 1.0

    @property
    def a(self) -> float:
        return self.prior_a + self.clicked

    @property
    def b(self) -> float:
        return self.prior_b + max(self.shown - self.clicked, 0.0)

    @property
    def mean(self) -> float:
        return self.a / (self.a + self.b)

    def with_shown(self, n: float = 1.0) -> Beta:
        return replace(self, shown=self.shown + n)

    def with_click(self, n: float = 1.0) -> Beta:
        """A click; a click with no impression on record counts one (late or lost impression)."""
        return replace(self, clicked=self.clicked + n, shown=max(self.shown, self.clicked + n))

    def sample(self, rng: np.random.Generator) -> float:
        return float(rng.beta(self.a, self.b))

    def to_list(self) -> list[float]:
        return [self.shown, self.clicked, self.prior_a, self.prior_b]

    @classmethod
    def from_list(cls, data: Sequence[float]) -> Beta:
        return cls(*(float(x) for x in data))


class Estimates:
    """A Beta per key (an ad, an item or a strategy) with a shared prior."""

    def __init__(self, prior_a: float = 1.0, prior_b: float = 1.0) -> None:
        self.prior = Beta(0.0, 0.0, prior_a, prior_b)
        self.betas: dict[str, Beta] = {}

    def __getitem__(self, key: str) -> Beta:
        return self.betas.get(key, self.prior)

    def __contains__(self, key: object) -> bool:
        return key in self.betas

    def shown(self, keys: Iterable[str]) -> None:
        for key in keys:
            self.betas[key] = self[key].with_shown()

    def clicked(self, key: str) -> None:
        self.betas[key] = self[key].with_click()

    def means(self, keys: Sequence[str]) -> np.ndarray:
        return np.array([self[k].mean for k in keys], dtype=np.float64)

    def samples(self, keys: Sequence[str], rng: np.random.Generator) -> np.ndarray:
        if not keys:
            return np.zeros(0)
        get, prior = self.betas.get, self.prior
        counts = np.array([(beta.shown, beta.clicked, beta.prior_a, beta.prior_b)
                           for beta in (get(k, prior) for k in keys)], dtype=np.float64)
        shown, clicked, prior_a, prior_b = counts.T
        return rng.beta(prior_a + clicked, prior_b + np.maximum(shown - clicked, 0.0))

    def impressions(self, keys: Sequence[str]) -> np.ndarray:
        get, prior = self.betas.get, self.prior
        return np.array([get(k, prior).shown for k in keys], dtype=np.float64)

    def to_dict(self) -> dict[str, Any]:
        return {"prior": [self.prior.prior_a, self.prior.prior_b],
                "betas": {k: v.to_list() for k, v in self.betas.items()}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Estimates:
        out = cls(*data["prior"])
        out.betas = {str(k): Beta.from_list(v) for k, v in data["betas"].items()}
        return out


class ThompsonBandit(Estimates):
    """Thompson sampling over named arms (ranking strategies); reward = the list got a click."""

    def __init__(self, arms: Sequence[str], prior_a: float = 1.0, prior_b: float = 1.0) -> None:
        if not arms:
            raise ValueError("expected at least one arm, got none")
        super().__init__(prior_a, prior_b)
        self.arms = list(dict.fromkeys(arms))

    def choose(self, rng: np.random.Generator) -> str:
        """One posterior draw per arm; the arm with the highest draw (first on ties)."""
        return self.arms[int(np.argmax(self.samples(self.arms, rng)))]

    def best(self) -> str:
        """The arm with the highest posterior mean."""
        return self.arms[int(np.argmax(self.means(self.arms)))]

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "arms": self.arms}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ThompsonBandit:
        out = cls(data["arms"], *data["prior"])
        out.betas = {str(k): Beta.from_list(v) for k, v in data["betas"].items()}
        return out


@dataclass(frozen=True)
class Served:
    """One served list: the strategy that ranked it, its items, the explored ones, clicked yet."""

    arm: str
    items: tuple[str, ...]
    explored: tuple[str, ...] = ()
    clicked: bool = False


@dataclass(frozen=True)
class ServedLog:
    """A user's latest served lists by recommendation_id and latest ad placements by
    placement_id (oldest first, each bounded): attribution's memory.

    Clicks are keyed by user_id, so this lives beside the profile, in a table keyed by user_id.
    """

    lists: tuple[tuple[str, Served], ...] = ()
    cap: int = 20
    ads: tuple[tuple[str, PlacedAds], ...] = ()
    ads_cap: int = 20

    def served(self, recommendation_id: str, served: Served) -> ServedLog:
        """Remember a list (a repeat of the same id replaces it, keeping its clicked flag)."""
        old = dict(self.lists).get(recommendation_id)
        if old is not None:
            served = replace(served, clicked=old.clicked)
        kept = tuple(kv for kv in self.lists if kv[0] != recommendation_id)
        return replace(self, lists=(kept + ((recommendation_id, served),))[-self.cap:])

    def attribute(self, recommendation_id: str | None,
                  item_id: str) -> tuple[ServedLog, Served | None, bool]:
        """(new log, the list this click came from or None, True when it is that list's first
        click). A click counts only when the item was in the list."""
        served = dict(self.lists).get(recommendation_id or "")
        if served is None or item_id not in served.items:
            return self, None, False
        if served.clicked:
            return self, served, False
        clicked = replace(served, clicked=True)
        lists = tuple((k, clicked if k == recommendation_id else v) for k, v in self.lists)
        return replace(self, lists=lists), clicked, True

    def placed(self, placement_id: str, ads: PlacedAds) -> ServedLog:
        """Remember a page view's ads (a repeat of the same id keeps the clicks it had)."""
        old = dict(self.ads).get(placement_id)
        if old is not None:
            ads = replace(ads, clicked=old.clicked)
        kept = tuple(kv for kv in self.ads if kv[0] != placement_id)
        return replace(self, ads=(kept + ((placement_id, ads),))[-self.ads_cap:])

    def attribute_ad(self, recommendation_id: str | None,
                     item_id: str) -> tuple[ServedLog, str | None]:
        """(new log, the ad this click credits or None); see coldstart/ad_feedback.py."""
        named = dict(self.ads).get(recommendation_id or "")
        if named is None and recommendation_id and recommendation_id in dict(self.lists):
            return self, None  # it came from a recommendation list, not from an ad
        if named is not None:
            key: str | None = recommendation_id
        else:  # the newest placement that promoted the item
            key = next((k for k, p in reversed(self.ads) if p.promotes(item_id)), None)
        if key is None:
            return self, None
        ad = dict(self.ads)[key].credit(item_id, named=named is not None)
        if ad is None:
            return self, None
        ads = tuple((k, p.with_click(ad) if k == key else p) for k, p in self.ads)
        return replace(self, ads=ads), ad

    def to_dict(self) -> dict[str, Any]:
        return {"cap": self.cap, "lists": [[k, v.arm, list(v.items), list(v.explored), v.clicked]
                                          for k, v in self.lists],
                "ads_cap": self.ads_cap, "ads": [[k, *v.to_list()] for k, v in self.ads]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ServedLog:
        lists = tuple((k, Served(arm, tuple(items), tuple(explored), bool(clicked)))
                      for k, arm, items, explored, clicked in data["lists"])
        ads = tuple((k, PlacedAds.from_list([placed, clicked]))
                    for k, placed, clicked in data.get("ads", ()))  # older values have none
        return cls(lists, int(data["cap"]), ads, int(data.get("ads_cap", 20)))


def place_ads_by_ctr(user_vec: np.ndarray | None, ads: Sequence[Ad],
                     slots: Sequence[tuple[str, int]], ctr: Estimates, *,
                     popularity: Popularity | None = None,
                     exclude_items: Sequence[str] = (),
                     rng: np.random.Generator | None = None) -> list[Placement]:
    """Like `ads.place_ads`, scored relevance x bid x estimated CTR (a Thompson draw with `rng`,
    the posterior mean without). Ties keep place_ads' order (higher bid, then smaller ad_id)."""
    everyone = [(f"_{i}", i + 1) for i in range(len(ads))]
    ranked = place_ads(user_vec, ads, everyone, popularity=popularity, exclude_items=exclude_items)
    keys = [p.ad_id for p in ranked]
    rates = ctr.samples(keys, rng) if rng is not None else ctr.means(keys)
    scored = [(p.score * float(r), i, p) for i, (p, r) in enumerate(zip(ranked, rates))]
    scored.sort(key=lambda s: (-(s[0] if math.isfinite(s[0]) else 0.0), s[1]))
    return [Placement(slot_id, p.ad_id, p.item_id, score)
            for (slot_id, _), (score, _, p) in zip(ordered_slots(slots), scored)]

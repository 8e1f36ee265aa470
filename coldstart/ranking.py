"""Recommendations for one user: retrieve by profile vector, diversify with MMR, explain, pad.

Scores: inner product with the user's query vector for personal picks, the popularity prior
(0..1) for "popular right now" picks, 0.0 for "new in our catalogue" picks. The list order is
the ranking; scores are finite floats.
"""
from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass

import numpy as np

from coldstart.index.base import ItemIndex
from coldstart.item_text import shorten
from coldstart.popularity import Popularity
from coldstart.profile import DEFAULT, Profile, ProfileConfig, query_vector

POPULAR = "popular right now"
NEW = "new in our catalogue"
_VERBS = {"view": "viewed", "click": "viewed", "add_to_cart": "put in your cart",
          "purchase": "bought"}


@dataclass(frozen=True)
class Recommendation:
    """One recommended item, its score and a short reason a person can read."""

    item_id: str
    score: float
    reason: str


def recommend(profile: Profile | None, index: ItemIndex, *, k: int = 10,
              popularity: Popularity | None = None, titles: Mapping[str, str] | None = None,
              exclude: Collection[str] = (), mmr_lambda: float = 0.7, candidates: int = 100,
              near_duplicate: float = 0.95, config: ProfileConfig = DEFAULT
              ) -> list[Recommendation]:
    """Up to k distinct items from `index`, never purchased or excluded; k unless it runs out.

    MMR picks by mmr_lambda * relevance - (1 - mmr_lambda) * (max similarity to those already
    picked); a candidate at least `near_duplicate` similar to a pick only fills leftover places.
    """
    banned = set(exclude) | set(profile.purchased if profile else ())
    query, w_b = query_vector(profile, config)
    picks: list[Recommendation] = []
    if query is not None and profile is not None and len(index) and k > 0:
        found, scores = index.search(query, max(candidates, k), exclude=banned)
        ids, relevance = found[0], scores[0, : len(found[0])].astype(np.float64)
        vecs = index.vectors(ids)
        explain = Explainer(profile, index, titles or {}, w_b)
        picks = [Recommendation(ids[i], _finite(relevance[i]), explain(ids[i], vecs[i]))
                 for i in mmr(relevance, vecs, k, mmr_lambda, near_duplicate)]
    taken = banned | {p.item_id for p in picks}
    return picks + _fill(index, popularity, k - len(picks), taken)


def mmr(relevance: np.ndarray, vectors: np.ndarray, k: int, lam: float,
        near_duplicate: float = 1.0) -> list[int]:
    """Row numbers in maximal-marginal-relevance order; near-duplicates of a pick go last."""
    n = len(relevance)
    closest = np.full(n, -np.inf)
    free = np.ones(n, dtype=bool)
    chosen: list[int] = []
    deferred: list[int] = []
    while len(chosen) < k and free.any():
        gain = lam * relevance - (1.0 - lam) * np.where(np.isfinite(closest), closest, 0.0)
        i = int(np.argmax(np.where(free, gain, -np.inf)))
        free[i] = False
        if closest[i] >= near_duplicate:
            deferred.append(i)
            continue
        chosen.append(i)
        closest = np.maximum(closest, vectors @ vectors[i])
    return chosen + deferred[: max(0, k - len(chosen))]


class Explainer:
    """The reason for one personal pick: the user's words, or an item they interacted with."""

    def __init__(self, profile: Profile, index: ItemIndex, titles: Mapping[str, str],
                 w_b: float) -> None:
        self.p, self.titles, self.w_b = profile, titles, w_b
        self.text = _unit(profile.text_vec)
        self.behaviour = _unit(profile.behaviour_vec)
        self.recent = [i for i in profile.recent if i in index]
        self.recent_vecs = index.vectors(self.recent)

    def __call__(self, item_id: str, vec: np.ndarray) -> str:
        b, u = self.behaviour, self.text
        if b is not None and (u is None or self.w_b * (b @ vec) > (1 - self.w_b) * (u @ vec)):
            return self._because(item_id, vec)
        return f"matches '{self.p.interest}'" if self.p.interest else "matches your interests"

    def _because(self, item_id: str, vec: np.ndarray) -> str:
        sims = self.recent_vecs @ vec
        for j in np.argsort(-sims, kind="stable"):
            other = self.recent[j]
            title = self.titles.get(other) or (self.p.last_item_title
                                               if other == self.p.recent[-1] else "")
            if other != item_id and title:
                verb = "bought" if other in self.p.purchased else "viewed"
                if other == self.p.recent[-1]:
                    verb = _VERBS.get(self.p.last_action, verb)
                return f"like the {shorten(title, 40)} you {verb}"
        return "like items you viewed"


def _fill(index: ItemIndex, popularity: Popularity | None, n: int,
          taken: set[str]) -> list[Recommendation]:
    """n items not taken: most popular first, then newest in the catalogue."""
    out: list[Recommendation] = []
    if n <= 0:
        return out
    if popularity is not None and len(popularity):
        want = n
        while True:
            ids, _ = popularity.top(want, exclude=taken)
            live = [i for i in ids if i in index][:n]
            if len(live) == n or len(ids) < want:
                break
            want *= 2
        priors = popularity.prior(live)
        out = [Recommendation(i, _finite(s), POPULAR) for i, s in zip(live, priors)]
        taken = taken | set(live)
    for item_id in reversed(index.ids()):
        if len(out) >= n:
            break
        if item_id not in taken:
            out.append(Recommendation(item_id, 0.0, NEW))
    return out


def _unit(vec: np.ndarray | None) -> np.ndarray | None:
    norm = float(np.linalg.norm(vec)) if vec is not None else 0.0
    return vec / norm if vec is not None and norm > 0 else None


def _finite(x: float) -> float:
    value = float(x)
    return round(value, 6) if math.isfinite(value) else 0.0

"""The blended ranker: content, co-occurrence and popularity candidates, weighted by evidence.

For a candidate j: score = W_c * content_j + W_f * e_j * collab_j + W_p * popularity_j, where
content_j is the inner product with the profile's query vector, collab_j the summed
co-occurrence similarity of j to the user's latest items scaled to 0..1 by the best candidate,
popularity_j the Popularity prior (0..1), and e_j = m_j / (m_j + item_k) the trust in j's
co-occurrence (m_j: its decayed click count). The weights W move from `cold` to `warm` with the
user's evidence e_u = n / (n + user_k), n = the user's latest items the co-occurrence knows.
An optional share of the slots goes to rarely shown candidates (exploration), drawn by Thompson
sampling from their click-rate posteriors; their reason says so.
"""
from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from coldstart.index.base import ItemIndex
from coldstart.ranking.bandit import Estimates
from coldstart.ranking.cooccurrence import Cooccurrence
from coldstart.ranking.explain import (
    COLLABORATIVE,
    CONTENT,
    EXPLORE,
    EXPLORE_KIND,
    NEW,
    NEW_KIND,
    POPULAR,
    POPULAR_KIND,
    Recommendation,
    content_reason,
    liked_together,
)
from coldstart.ranking.popularity import Popularity
from coldstart.ranking.profile import DEFAULT, Profile, ProfileConfig, query_vector

TERMS = ("content", "collaborative", "popularity")


@dataclass(frozen=True)
class BlendWeights:
    """Weights of the three terms; a named set of them is a ranking strategy (a bandit arm)."""

    content: float
    collaborative: float
    popularity: float

    def towards(self, other: BlendWeights, share: float) -> BlendWeights:
        """(1 - share) * self + share * other, term by term."""
        return BlendWeights(*((1 - share) * getattr(self, t) + share * getattr(other, t)
                              for t in TERMS))


STRATEGIES = {
    "blend": BlendWeights(0.2, 0.3, 1.0),
    "popular": BlendWeights(0.05, 0.1, 1.0),
    "collaborative": BlendWeights(0.1, 1.0, 0.5),
    "content": BlendWeights(1.0, 0.1, 0.3),
}


@dataclass(frozen=True)
class BlendConfig:
    """Candidate counts, evidence constants and exploration; defaults tuned on MovieLens."""

    warm: BlendWeights = STRATEGIES["blend"]
    cold: BlendWeights = field(default_factory=lambda: BlendWeights(1.0, 0.0, 0.3))
    user_k: float = 1.0
    item_k: float = 1.0
    recent: int = 10  # the user's latest items that feed co-occurrence (see README: Performance)
    content_candidates: int = 100
    neighbours: int = 50  # per recent item
    popular_candidates: int = 200
    explore_rate: float = 0.0  # expected share of the k slots given to exploration
    explore_max_shown: int = 20  # rarely shown: fewer impressions than this
    explore_floor: float = 0.1  # least relevance share an explored candidate counts with
    exclude_recent: bool = True  # never offer back what the user just interacted with
    # With intent (a search, a clear signup): the text ranking's head, while its items' similarity
    # to the query is at least median + intent_share × (best − median), comes before all others.
    intent_share: float = 0.5
    profile: ProfileConfig = DEFAULT


@dataclass(frozen=True)
class Scored:
    """Candidates with their blended score and each term's weighted contribution."""

    ids: list[str]
    scores: np.ndarray
    parts: dict[str, np.ndarray]  # term -> weighted contribution per candidate
    because: list[str]  # the recent item that pulls each candidate most ("" if none)


def score_candidates(profile: Profile | None, index: ItemIndex, cooc: Cooccurrence,
                     popularity: Popularity, *, exclude: Collection[str] = (),
                     weights: BlendWeights | None = None,
                     config: BlendConfig = BlendConfig(),
                     text_ranked: Sequence[str] = ()) -> Scored:
    """Every candidate from the three sources, scored (unsorted); excluded, purchased and recent
    items dropped.

    `text_ranked`: the items a text retrieval (coldstart.text.retrieval) ranks for the text that
    triggered this list, best first. They join the candidates, and their content scores are
    their own inner products handed out again in that order (the best to the first), so the
    content term follows the better text ranking while keeping its scale against the others."""
    banned = _banned(profile, exclude, config)
    query, _ = query_vector(profile, config.profile)
    recent = [r for r in (profile.recent if profile else ())[-config.recent:] if r in cooc]
    ids = _candidates(query, recent, index, cooc, popularity, banned, config, text_ranked)
    e_u = len(recent) / (len(recent) + config.user_k) if config.user_k > 0 else 1.0
    w = config.cold.towards(weights or config.warm, e_u)
    content = index.vectors(ids) @ query if query is not None and ids else np.zeros(len(ids))
    content = _in_text_order(content, ids, text_ranked)
    collab, because = _collaborative(recent, ids, cooc)
    mass = cooc.mass(ids)
    e_j = mass / (mass + config.item_k) if config.item_k > 0 else np.ones(len(ids))
    parts = {"content": w.content * content.astype(np.float64),
             "collaborative": w.collaborative * e_j * collab,
             "popularity": w.popularity * popularity.prior(ids)}
    return Scored(ids, sum(parts.values(), np.zeros(len(ids))), parts, because)


def recommend_blended(profile: Profile | None, index: ItemIndex, cooc: Cooccurrence,
                      popularity: Popularity, *, k: int = 10,
                      titles: Mapping[str, str] | None = None, exclude: Collection[str] = (),
                      weights: BlendWeights | None = None,
                      shown: Estimates | None = None, rng: np.random.Generator | None = None,
                      config: BlendConfig = BlendConfig(),
                      text_ranked: Sequence[str] = (), intent: bool = False) -> list[Recommendation]:
    """Up to k distinct items, best first; the last slots may explore (needs `shown` and `rng`).
    `text_ranked`: see score_candidates. `intent` (the list answers a search, or a signup that
    says what it wants): the items that match the text (`_matching`) come first, popularity and
    co-occurrence reordering them among themselves, and exploration draws from them while any is
    left; other items only fill the slots after them."""
    s = score_candidates(profile, index, cooc, popularity, exclude=exclude, weights=weights,
                         config=config, text_ranked=text_ranked)
    order = _best_first(s)
    matching = (_matching(s, text_ranked, query_vector(profile, config.profile)[0], index, config.intent_share)
                if intent else set())
    if matching:
        order = [i for i in order if i in matching] + [i for i in order if i not in matching]
    n_explore = _explore_slots(k, config.explore_rate, rng) if shown is not None else 0
    picks = order[: k - n_explore]
    rest = order[len(picks):]
    pool = [i for i in rest if i in matching] or rest  # never an unrelated item before a match
    explored = set(_explore(s, pool, shown, rng, n_explore, config)
                   if n_explore and shown is not None and rng is not None else [])
    picks += [i for i in order[len(picks):] if i in explored]
    reason = _Reasons(profile, s, titles or {})
    out = [Recommendation(s.ids[i], _finite(s.scores[i]), EXPLORE, EXPLORE_KIND) if i in explored
           else Recommendation(s.ids[i], _finite(s.scores[i]), *reason(i)) for i in picks]
    if len(out) < k:  # a tiny or unknown world: the newest items fill in
        taken = {r.item_id for r in out} | _banned(profile, exclude, config)
        out += [Recommendation(i, 0.0, NEW, NEW_KIND)
                for i in reversed(index.ids()) if i not in taken][: k - len(out)]
    return out


def _matching(s: Scored, text_ranked: Sequence[str], query: np.ndarray | None, index: ItemIndex,
              share: float) -> set[int]:
    """Candidate positions of the text ranking's head that match the text: its first items, up to
    the first whose inner product with the query falls below median + share × (best − median)
    over all candidates (popular and co-occurring ones included, so the median is what an
    unrelated item scores). A prefix of the text ranking, so its order (lexical hits included)
    is kept; relative, so it holds across encoders whose cosines sit on different scales."""
    if query is None or not len(text_ranked) or not s.ids:
        return set()
    position = {item: i for i, item in enumerate(s.ids)}
    ranked = [position[item] for item in text_ranked if item in position]
    similarity = index.vectors(s.ids) @ query
    best, median = float(np.max(similarity)), float(np.median(similarity))
    if not ranked or best <= median:
        return set()
    below = np.flatnonzero(similarity[ranked] < median + share * (best - median))
    return set(ranked[: int(below[0]) if len(below) else len(ranked)])


def _best_first(s: Scored) -> list[int]:
    """Candidate positions by score, best first; equal scores by item id."""
    if not s.ids:
        return []
    return np.lexsort((np.array(s.ids), -s.scores)).tolist()


def _banned(profile: Profile | None, exclude: Collection[str], config: BlendConfig) -> set[str]:
    """Excluded, purchased and (with exclude_recent) the items the user interacted with lately."""
    own = (profile.purchased + (profile.recent if config.exclude_recent else ())) if profile else ()
    return set(exclude) | set(own)


def _candidates(query: np.ndarray | None, recent: Sequence[str], index: ItemIndex,
                cooc: Cooccurrence, popularity: Popularity, banned: set[str],
                config: BlendConfig, text_ranked: Sequence[str] = ()) -> list[str]:
    found: dict[str, None] = dict.fromkeys(text_ranked)
    if query is not None and len(index):
        ids, _ = index.search(query, config.content_candidates, exclude=banned)
        found.update(dict.fromkeys(ids[0]))
    found.update(dict.fromkeys(cooc.candidates(recent, config.neighbours, exclude=banned)))
    want, live = config.popular_candidates, []
    while want:  # popular items that are still in the catalogue
        top, _ = popularity.top(want, exclude=banned)
        live = [i for i in top if i in index]
        if len(live) >= config.popular_candidates or len(top) < want:
            break
        want *= 2
    found.update(dict.fromkeys(live[: config.popular_candidates]))
    return [i for i in found if i in index and i not in banned]


def _in_text_order(content: np.ndarray, ids: Sequence[str], text_ranked: Sequence[str]) -> np.ndarray:
    """`content` with the text-ranked candidates' values sorted best first along that ranking."""
    if not len(text_ranked) or not len(content):
        return content
    position = {item: i for i, item in enumerate(ids)}
    slots = [position[item] for item in text_ranked if item in position]
    out = content.copy()
    out[slots] = np.sort(content[slots])[::-1]
    return out


def _collaborative(recent: Sequence[str], ids: list[str],
                   cooc: Cooccurrence) -> tuple[np.ndarray, list[str]]:
    """Summed similarity to the recent items, scaled so the best candidate has 1."""
    if not recent or not ids:
        return np.zeros(len(ids)), [""] * len(ids)
    sims = cooc.similarities(recent, ids)
    total = sims.sum(axis=0)
    best = float(total.max())
    because = [recent[int(j)] if total[i] > 0 else "" for i, j in enumerate(sims.argmax(axis=0))]
    return (total / best if best > 0 else total), because


def _explore_slots(k: int, rate: float, rng: np.random.Generator | None) -> int:
    """floor(rate * k) slots, plus one more with the fractional remainder as probability."""
    if rng is None or rate <= 0 or k <= 0:
        return 0
    whole, frac = divmod(min(rate, 1.0) * k, 1.0)
    return min(k, int(whole) + int(rng.random() < frac))


def _explore(s: Scored, rest: list[int], shown: Estimates, rng: np.random.Generator, n: int,
             config: BlendConfig) -> list[int]:
    """The n rarely shown candidates with the best sampled click rate x their share of the best
    score (at least explore_floor, so an item nothing vouches for yet still gets its turn)."""
    impressions = shown.impressions([s.ids[i] for i in rest])
    rare = [i for i, n in zip(rest, impressions.tolist()) if n < config.explore_max_shown]
    if not rare:
        return []
    top = max(float(np.max(s.scores)), 1e-12)
    draws = shown.samples([s.ids[i] for i in rare], rng)
    value = np.clip(s.scores[rare] / top, config.explore_floor, 1.0) * draws
    return [rare[j] for j in np.argsort(-value, kind="stable")[:n]]


class _Reasons:
    """The term that sets a candidate furthest apart from the others (in standard deviations of
    that term over the candidates) names its reason."""

    def __init__(self, profile: Profile | None, s: Scored, titles: Mapping[str, str]) -> None:
        self.p, self.s, self.titles = profile, s, titles
        self.lift = {t: (part - part.mean()) / max(float(part.std()), 1e-12) if len(part) else part
                     for t, part in s.parts.items()}

    def __call__(self, i: int) -> tuple[str, str]:
        """(reason, kind) of candidate i."""
        term = max(TERMS, key=lambda t: self.lift[t][i])
        because = self.s.because[i]
        if term == "collaborative" and because:
            title = self.titles.get(because, "")
            if not title and self.p is not None and self.p.recent and because == self.p.recent[-1]:
                title = self.p.last_item_title
            return liked_together(title), COLLABORATIVE
        if term == "content" and self.p is not None:
            return content_reason(self.p), CONTENT
        return POPULAR, POPULAR_KIND


def _finite(x: float) -> float:
    value = float(x)
    return round(value, 6) if math.isfinite(value) else 0.0

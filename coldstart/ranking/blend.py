"""The blended ranker: content, co-occurrence and popularity candidates, weighted by evidence.

For a candidate j: score = W_c * content_j + W_f * e_j * collab_j + W_p * popularity_j, where
content_j is the inner product with the profile's query vector, collab_j the summed
co-occurrence similarity of j to the user's latest items scaled to 0..1 by the best candidate,
popularity_j the Popularity prior (0..1), and e_j = m_j / (m_j + item_k) the trust in j's
co-occurrence (m_j: its decayed click count). The weights W move from `cold` to `warm` with the
user's evidence e_u = n / (n + user_k), n = the user's latest items the co-occurrence knows.
An optional share of the slots goes to rarely shown candidates (exploration), drawn by Thompson
sampling from their click-rate posteriors, in place of items the user has seen before or many
users have; their reason says so.
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
    # Expected share of the k slots given to exploration: of the last slots, those whose item the
    # user was shown before or anyone explore_max_shown times (see _replaceable).
    explore_rate: float = 0.0
    explore_max_shown: int = 20  # rarely shown: fewer impressions than this
    explore_floor: float = 0.1  # least relevance share an explored candidate counts with
    # With intent, exploration draws from only the next this many rarely shown matching items (the
    # near misses of what the shopper asked for; the best-scored others once no match is left),
    # not from every candidate.
    explore_near: int = 10
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
                      text_ranked: Sequence[str] = (), intent: bool = False,
                      seen: Collection[str] = ()) -> list[Recommendation]:
    """Up to k distinct items, best first; the last slots may explore (needs `shown` and `rng`).
    `text_ranked`: see score_candidates. `intent` (the list answers a search, or a signup that
    says what it wants): the items that match the text (`_matching`) come first, popularity and
    co-occurrence reordering them among themselves, and exploration draws from them while any is
    left; other items only fill the slots after them. `seen`: items this user was shown before
    (an explored item may take the place of one of them, see `_replaceable`). One list at a time:
    `recommend_blended_many` ranks a batch of lists in a few array operations and gives the same
    lists."""
    s = score_candidates(profile, index, cooc, popularity, exclude=exclude, weights=weights,
                         config=config, text_ranked=text_ranked)
    rates = _Rates.of(shown, s.ids) if shown is not None else None
    query = query_vector(profile, config.profile)[0] if intent else None
    similarity = index.vectors(s.ids) @ query if query is not None and s.ids else None
    matching = _matching(s.ids, text_ranked, similarity, config.intent_share)
    return _pick(s, profile, index, k, titles or {}, exclude, rates, rng, config, matching, seen)


@dataclass(frozen=True)
class ListRequest:
    """One list of a batch: whose, with which arm's weights and rng, and what else it needs."""

    profile: Profile | None
    weights: BlendWeights | None = None
    rng: np.random.Generator | None = None
    text_ranked: Sequence[str] = ()
    exclude: Collection[str] = ()
    intent: bool = False  # see recommend_blended
    seen: Collection[str] = ()  # likewise


def recommend_blended_many(requests: Sequence[ListRequest], index: ItemIndex, cooc: Cooccurrence,
                           popularity: Popularity, *, k: int = 10,
                           titles: Mapping[str, str] | None = None,
                           shown: Estimates | None = None,
                           config: BlendConfig = BlendConfig()) -> list[list[Recommendation]]:
    """`recommend_blended` for each request, with what the lists share done once for the batch.

    One index search for every query; the popular items read once; one matrix product for
    every content score; popularity priors, co-occurrence masses and exploration counts
    gathered once over the union of the candidates. Only the per-list steps (each user's
    co-occurrence rows, the order, the draws from the list's own rng) stay per list; reasons
    are built only for the items a list sends.
    """
    if not requests:
        return []
    banned = [_banned(r.profile, r.exclude, config) for r in requests]
    queries = [query_vector(r.profile, config.profile)[0] for r in requests]
    recent = [[i for i in (r.profile.recent if r.profile else ())[-config.recent:] if i in cooc]
              for r in requests]
    content = _content_many(index, queries, banned, config.content_candidates)
    popular = _PopularLive(popularity, index)
    collaborative = cooc.candidates_many(recent, config.neighbours, banned)
    candidates = []
    for r, ban, found, liked in zip(requests, banned, content, collaborative):
        pool: dict[str, None] = dict.fromkeys(r.text_ranked)
        pool.update(dict.fromkeys(found))
        pool.update(dict.fromkeys(liked))
        pool.update(dict.fromkeys(popular.first(config.popular_candidates, ban)))
        candidates.append([i for i in pool if i in index and i not in ban])
    union = list(dict.fromkeys(i for ids in candidates for i in ids))
    at = {item: n for n, item in enumerate(union)}
    prior = popularity.prior(union)
    mass_keys = cooc.mass_keys(union)
    mass = cooc.mass(union)
    rates = _Rates.of(shown, union) if shown is not None else None
    given = [(n, q) for n, q in enumerate(queries) if q is not None]
    dots = np.zeros((len(requests), len(union)), dtype=np.float32)
    if given and union:
        dots[[n for n, _ in given]] = np.stack([q for _, q in given]) @ index.vectors(union).T
    out = []
    for n, (r, ids, mine) in enumerate(zip(requests, candidates, recent)):
        pos = np.array([at[i] for i in ids], dtype=np.int64)
        e_u = len(mine) / (len(mine) + config.user_k) if config.user_k > 0 else 1.0
        w = config.cold.towards(r.weights or config.warm, e_u)
        scores = (dots[n, pos] if queries[n] is not None and ids else np.zeros(len(ids)))
        scores = _in_text_order(scores, ids, r.text_ranked)
        collab, because = _collaborative(mine, ids, cooc, mass_keys[pos])
        m = mass[pos]
        e_j = m / (m + config.item_k) if config.item_k > 0 else np.ones(len(ids))
        parts = {"content": w.content * scores.astype(np.float64),
                 "collaborative": w.collaborative * e_j * collab,
                 "popularity": w.popularity * prior[pos]}
        s = Scored(ids, sum(parts.values(), np.zeros(len(ids))), parts, because)
        matching = (_matching(ids, r.text_ranked, dots[n, pos], config.intent_share)
                    if r.intent and queries[n] is not None and ids else set())
        out.append(_pick(s, r.profile, index, k, titles or {}, r.exclude,
                         rates.take(pos) if rates is not None else None, r.rng, config, matching,
                         r.seen))
    return out


def _pick(s: Scored, profile: Profile | None, index: ItemIndex, k: int,
          titles: Mapping[str, str], exclude: Collection[str], rates: _Rates | None,
          rng: np.random.Generator | None, config: BlendConfig,
          matching: Collection[int] = (), seen: Collection[str] = ()) -> list[Recommendation]:
    """The k best of scored candidates, the last slots perhaps explored, each with its reason;
    the `matching` candidates (positions, see `_matching`) first, and explored among first."""
    order = _best_first(s)
    if matching:
        order = [i for i in order if i in matching] + [i for i in order if i not in matching]
    n_explore = _explore_slots(k, config.explore_rate, rng) if rates is not None else 0
    known = _replaceable(s, order[k - n_explore:k] if n_explore else [], rates, config, seen)
    rest = [i for i in order[k:] if s.ids[i] not in seen] if seen else order[k:]  # new to the user
    # never an unrelated item before a match; with intent, the nearest misses only (the next
    # matches, or once they run out the best-scored of the rest)
    pool = [i for i in rest if i in matching] or rest
    nearest = config.explore_near if matching else None
    explored = set(_explore(s, pool, rates, rng, len(known), config, nearest)
                   if known and rates is not None and rng is not None else [])
    given_way = set(known[len(known) - len(explored):]) if explored else set()
    picks = [i for i in order[:k] if i not in given_way and i not in explored]
    picks += [i for i in order if i in explored]
    reason = _Reasons(profile, s, titles)
    out = [Recommendation(s.ids[i], _finite(s.scores[i]), EXPLORE, EXPLORE_KIND) if i in explored
           else Recommendation(s.ids[i], _finite(s.scores[i]), *reason(i)) for i in picks]
    if len(out) < k:  # a tiny or unknown world: the newest items fill in
        taken = {r.item_id for r in out} | _banned(profile, exclude, config)
        out += [Recommendation(i, 0.0, NEW, NEW_KIND)
                for i in reversed(index.ids()) if i not in taken][: k - len(out)]
    return out


def _replaceable(s: Scored, tail: list[int], rates: _Rates | None, config: BlendConfig,
                  seen: Collection[str]) -> list[int]:
    """The candidates of a list's last slots that an explored item may replace: those this user
    was shown before (shown again, an item they passed over teaches little) and those shown at
    least explore_max_shown times to anyone. One new to the user and still rarely shown is
    explored where it stands: swapping it for another unknown would learn no more and match the
    request less, so a user's first list keeps its best matches."""
    if rates is None or not tail:
        return []
    return [i for i in tail if s.ids[i] in seen or rates.impressions[i] >= config.explore_max_shown]


@dataclass(frozen=True)
class _Rates:
    """Exploration's view of the shown estimates, one entry per candidate: impressions and the
    Beta parameters of its click rate."""

    impressions: np.ndarray
    a: np.ndarray
    b: np.ndarray

    @classmethod
    def of(cls, shown: Estimates, ids: Sequence[str]) -> _Rates:
        get, prior = shown.betas.get, shown.prior
        counts = np.array([(beta.shown, beta.clicked, beta.prior_a, beta.prior_b)
                           for beta in (get(i, prior) for i in ids)],
                          dtype=np.float64).reshape(-1, 4)
        n, clicked, prior_a, prior_b = counts.T
        return cls(n, prior_a + clicked, prior_b + np.maximum(n - clicked, 0.0))

    def take(self, positions: np.ndarray) -> _Rates:
        return _Rates(self.impressions[positions], self.a[positions], self.b[positions])


def _content_many(index: ItemIndex, queries: Sequence[np.ndarray | None], banned: Sequence[set[str]],
                  k: int) -> list[list[str]]:
    """Each query's top k items not banned for it (as `index.search` with its exclusions), from
    one search for all of them."""
    given = [(n, q) for n, q in enumerate(queries) if q is not None]
    out: list[list[str]] = [[] for _ in queries]
    if not given or not len(index) or k <= 0:
        return out
    rows = [n for n, _ in given]
    widest = max(len(banned[n]) for n in rows)
    found, _ = index.search(np.stack([q for _, q in given]), k + widest)
    for n, ids in zip(rows, found):
        out[n] = [i for i in ids if i not in banned[n]][:k]
    return out


class _PopularLive:
    """The most popular items still in the catalogue, read once for a batch of lists."""

    def __init__(self, popularity: Popularity, index: ItemIndex) -> None:
        self.popularity, self.index = popularity, index
        self.live: list[str] = []
        self.asked, self.exhausted = 0, False

    def first(self, n: int, banned: Collection[str]) -> list[str]:
        """The n most popular live items not banned (fewer if there are not that many)."""
        while True:
            out = [i for i in self.live if i not in banned][:n]
            if len(out) >= n or self.exhausted:
                return out
            want = max(2 * self.asked, n + len(banned), 1)
            top, _ = self.popularity.top(want)
            self.live = [i for i in top if i in self.index]
            self.asked, self.exhausted = want, len(top) < want


def _matching(ids: Sequence[str], text_ranked: Sequence[str], similarity: np.ndarray | None,
              share: float) -> set[int]:
    """Candidate positions of the text ranking's head that match the text: its first items, up to
    the first whose inner product with the query (`similarity`, one per candidate) falls below
    median + share × (best − median) over all candidates (popular and co-occurring ones included,
    so the median is what an unrelated item scores). A prefix of the text ranking, so its order
    (lexical hits included) is kept; relative, so it holds across encoders whose cosines sit on
    different scales."""
    if similarity is None or not len(text_ranked) or not len(ids):
        return set()
    position = {item: i for i, item in enumerate(ids)}
    ranked = [position[item] for item in text_ranked if item in position]
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


def _collaborative(recent: Sequence[str], ids: list[str], cooc: Cooccurrence,
                   mass_keys: np.ndarray | None = None) -> tuple[np.ndarray, list[str]]:
    """Summed similarity to the recent items, scaled so the best candidate has 1."""
    if not recent or not ids:
        return np.zeros(len(ids)), [""] * len(ids)
    sims = cooc.similarities(recent, ids, mass_keys)
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


def _explore(s: Scored, rest: list[int], rates: _Rates, rng: np.random.Generator, n: int,
             config: BlendConfig, nearest: int | None = None) -> list[int]:
    """The n rarely shown candidates with the best sampled click rate x their share of the best
    score (at least explore_floor, so an item nothing vouches for yet still gets its turn), drawn
    from the first `nearest` rarely shown ones of `rest` (in its order) when given: as those get
    shown, exploration walks further down the list."""
    if not rest:
        return []
    seen = rates.impressions[rest]
    rare = [i for i, few in zip(rest, (seen < config.explore_max_shown).tolist()) if few][:nearest]
    if not rare:
        return []
    top = max(float(np.max(s.scores)), 1e-12)
    draws = rng.beta(rates.a[rare], rates.b[rare])
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

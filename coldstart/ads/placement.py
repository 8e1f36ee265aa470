"""Ad placement for one page view: rank eligible ads by expected value, fill slots by prominence.

score = bid * relevance. With a user vector, relevance = (1 + cos(user, ad)) / 2, so 0.5 means
unrelated (also used for an ad with no vector) and 1.0 a perfect match. Without a user vector,
relevance = (1 + prior) / 2, with prior the item's popularity prior (0 for an ad with no item or
no popularity given). Relevance is floored at 1e-6, so bids still order ads far from the user;
an ad vector of another dimension than the user's counts as unrelated.
"""
from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

import numpy as np

from coldstart.ranking.bandit import Estimates
from coldstart.ranking.popularity import Popularity


@dataclass(frozen=True)
class Ad:
    """An ad as the placer sees it; `vector` is its embedded text (L2-normalised) or None."""

    ad_id: str
    bid: float
    item_id: str | None = None
    text: str | None = None
    active: bool = True
    vector: np.ndarray | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Placement:
    """One ad in one slot, with the score that put it there."""

    slot_id: str
    ad_id: str
    item_id: str | None
    score: float


def place_ads(user_vec: np.ndarray | None, ads: Sequence[Ad], slots: Sequence[tuple[str, int]],
              *, popularity: Popularity | None = None,
              exclude_items: Collection[str] = ()) -> list[Placement]:
    """The best ads into the most prominent slots (position 1 first), each ad at most once.

    Only active ads with a finite bid > 0 whose item is not excluded take part; a repeated ad_id
    or slot_id counts once (the first). Ties go to the higher bid, then the smaller ad_id.
    Returns placements in slot prominence order; slots left over stay empty.
    """
    ranked = eligible(ads, exclude_items)
    if user_vec is None:
        ranked = _by_popularity(ranked, popularity)
    else:
        ranked = _by_relevance(ranked, np.asarray(user_vec, dtype=np.float64))
    return [Placement(slot_id, ad.ad_id, ad.item_id, score)
            for (slot_id, _), (score, ad) in zip(ordered_slots(slots), ranked)]


def eligible(ads: Sequence[Ad], exclude_items: Collection[str] = ()) -> list[tuple[float, Ad]]:
    """(bid, ad) for active ads with a finite bid > 0, first of each ad_id, item not excluded."""
    seen: set[str] = set()
    out = []
    for ad in ads:
        bid = float(ad.bid)
        if (ad.active and math.isfinite(bid) and bid > 0 and ad.ad_id not in seen
                and (ad.item_id is None or ad.item_id not in exclude_items)):
            seen.add(ad.ad_id)
            out.append((bid, ad))
    return out


def ordered_slots(slots: Sequence[tuple[str, int]]) -> list[tuple[str, int]]:
    """Slots most prominent first (lowest position; ties keep input order), first of each id."""
    first: dict[str, int] = {}
    for slot_id, position in slots:
        first.setdefault(slot_id, position)
    return sorted(first.items(), key=lambda s: s[1])


def _by_relevance(ranked: list[tuple[float, Ad]], user: np.ndarray) -> list[tuple[float, Ad]]:
    norm = float(np.linalg.norm(user))
    scored = []
    for bid, ad in ranked:
        cos = 0.0
        if ad.vector is not None and norm > 0:
            vec = np.asarray(ad.vector, dtype=np.float64)
            denom = norm * float(np.linalg.norm(vec))
            if denom > 0 and vec.shape == user.shape:
                cos = float(user @ vec) / denom
        scored.append((bid * max((1.0 + min(max(cos, -1.0), 1.0)) / 2.0, 1e-6), ad))
    return _sorted(scored)


def _by_popularity(ranked: list[tuple[float, Ad]],
                   popularity: Popularity | None) -> list[tuple[float, Ad]]:
    items = [ad.item_id for _, ad in ranked]
    known = [i for i in items if i is not None]
    priors = dict(zip(known, popularity.prior(known))) if popularity and known else {}
    return _sorted([(bid * (1.0 + float(priors.get(ad.item_id or "", 0.0))) / 2.0, ad)
                    for bid, ad in ranked])


def _sorted(scored: list[tuple[float, Ad]]) -> list[tuple[float, Ad]]:
    cleaned = [(s if math.isfinite(s) else 0.0, ad) for s, ad in scored]
    return sorted(cleaned, key=lambda s: (-s[0], -float(s[1].bid), s[1].ad_id))


def place_ads_by_ctr(user_vec: np.ndarray | None, ads: Sequence[Ad],
                     slots: Sequence[tuple[str, int]], ctr: Estimates, *,
                     popularity: Popularity | None = None,
                     exclude_items: Sequence[str] = (),
                     rng: np.random.Generator | None = None) -> list[Placement]:
    """Like `place_ads`, scored relevance x bid x estimated CTR (a Thompson draw with `rng`,
    the posterior mean without). Ties keep place_ads' order (higher bid, then smaller ad_id)."""
    everyone = [(f"_{i}", i + 1) for i in range(len(ads))]
    ranked = place_ads(user_vec, ads, everyone, popularity=popularity, exclude_items=exclude_items)
    keys = [p.ad_id for p in ranked]
    rates = ctr.samples(keys, rng) if rng is not None else ctr.means(keys)
    scored = [(p.score * float(r), i, p) for i, (p, r) in enumerate(zip(ranked, rates))]
    scored.sort(key=lambda s: (-(s[0] if math.isfinite(s[0]) else 0.0), s[1]))
    return [Placement(slot_id, p.ad_id, p.item_id, score)
            for (slot_id, _), (score, _, p) in zip(ordered_slots(slots), scored)]

"""Every reason a recommendation carries, written in one place, and the kind each one is.

A reason is a short sentence a person can read; its kind (content, collaborative, popular,
explore, new) is what code decides on, never the sentence, so the wording can change freely.
A reason names catalogue things only (an item's title, a category), never the user's own words
and never what they bought or put in their cart: recommendations are an output topic that
downstream systems keep, and a user's words are personal data (docs/contract.md).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from coldstart.index.base import ItemIndex
from coldstart.ranking.profile import Profile
from coldstart.text.item_text import shorten

CONTENT, COLLABORATIVE, POPULAR_KIND, EXPLORE_KIND, NEW_KIND = (
    "content", "collaborative", "popular", "explore", "new")
POPULAR = "popular right now"
NEW = "new in our catalogue"
EXPLORE = "exploring: few people have seen it yet"
LIKE_VIEWED = "similar to items you viewed"
YOUR_INTERESTS = "matches your interests"
LIKED_WHAT_YOU_PICKED = "people who liked what you picked liked this"


@dataclass(frozen=True)
class Recommendation:
    """One recommended item, its score, a short reason a person can read, and the reason's kind."""

    item_id: str
    score: float
    reason: str
    kind: str = CONTENT


def matches_interest(category: str) -> str:
    """A pick for what the user said they like, named by the pick's own catalogue category (the
    interest the user's words revealed), never by the words themselves."""
    return f"matches your interest in {shorten(category, 40)}" if category else YOUR_INTERESTS


def liked_together(title: str) -> str:
    """A pick that people who liked `title` liked too."""
    return f"people who liked {shorten(title, 40)} liked this" if title else LIKED_WHAT_YOU_PICKED


def kind_of(reason: str) -> str:
    """The kind of a reason sentence written here, read back from a served list (the contract's
    items carry the sentence, not the kind)."""
    fixed = {EXPLORE: EXPLORE_KIND, POPULAR: POPULAR_KIND, NEW: NEW_KIND}
    if reason in fixed:
        return fixed[reason]
    return COLLABORATIVE if reason.startswith("people who liked") else CONTENT


def like_the(title: str) -> str:
    """A pick close to an item the user interacted with. Every action reads "viewed": a reason
    never says what the user bought or put in their cart."""
    return f"similar to an item you viewed: {shorten(title, 40)}"


def content_reason(profile: Profile) -> str:
    """The generic reason of a content pick, before an Explainer names what it resembles."""
    return LIKE_VIEWED if profile.n_interactions else YOUR_INTERESTS


class Explainer:
    """The reason for one personal pick: the category the user's words matched, or an item they
    interacted with."""

    def __init__(self, profile: Profile, index: ItemIndex, titles: Mapping[str, str],
                 w_b: float, categories: Mapping[str, str] | None = None) -> None:
        self.p, self.titles, self.w_b = profile, titles, w_b
        self.categories = categories or {}
        self.text = _unit(profile.text_vec)
        self.behaviour = _unit(profile.behaviour_vec)
        self.recent = [i for i in profile.recent if i in index]
        self.recent_vecs = index.vectors(self.recent)

    def __call__(self, item_id: str, vec: np.ndarray) -> str:
        b, u = self.behaviour, self.text
        if b is not None and (u is None or self.w_b * (b @ vec) > (1 - self.w_b) * (u @ vec)):
            return self._because(item_id, vec)
        return matches_interest(self.categories.get(item_id, ""))

    def _because(self, item_id: str, vec: np.ndarray) -> str:
        sims = self.recent_vecs @ vec
        for j in np.argsort(-sims, kind="stable"):
            other = self.recent[j]
            title = self.titles.get(other) or (self.p.last_item_title
                                               if other == self.p.recent[-1] else "")
            if other != item_id and title:
                return like_the(title)
        return LIKE_VIEWED


def _unit(vec: np.ndarray | None) -> np.ndarray | None:
    norm = float(np.linalg.norm(vec)) if vec is not None else 0.0
    return vec / norm if vec is not None and norm > 0 else None

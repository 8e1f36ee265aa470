"""Learning from feedback: Beta posteriors of click rates, Thompson sampling, ad CTR estimates.

Every estimate is the pair (shown, clicked) with a Beta(a + clicked, b + shown - clicked)
posterior: a list (or an ad, or an item) counts as shown when it is served and as clicked at its
first attributed click, so nothing waits for a "no click" that never arrives. Arms are ranking
strategies; `ThompsonBandit.choose` draws one sample per arm and plays the best. A click that
carries a recommendation_id is attributed through the user's `ServedLog` (coldstart.attribution). State is plain JSON
(`to_dict` / `from_dict`), small enough for one table value per arm, ad or user.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np


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

"""What is popular right now: per-item action-weighted counts with exponential time decay.

Each item keeps one number, key = ln(score at time T) + ln2 * T / half_life, which is the same
for every T. So an update is an exact log-add whatever order events arrive in, ranking needs no
clock, and the score at the latest event time `now` is exp(key - ln2 * now / half_life).
Keys log-add, so a shared table of keys (one writer per item, every worker following it) gives
every worker the same popularity: `event_key` is what one event adds, `merge_keys` adds it,
`load` sets an item's total from the table.
"""
from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping
from typing import Any

import numpy as np

from coldstart.ranking.profile import DAY_MS, ProfileConfig

_LN2 = math.log(2.0)


class Popularity:
    """Decayed popularity; plain-dict round trip with `to_dict` / `from_dict`."""

    def __init__(self, half_life_days: float = 1.0, weights: ProfileConfig | None = None) -> None:
        self.half_life_ms = half_life_days * DAY_MS
        self.weights = weights or ProfileConfig()
        self.now = 0
        self._keys: dict[str, float] = {}
        self._order: list[str] | None = None  # ids best first, until the next change
        self._best: float | None = None  # the largest key, until an item is removed

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._keys

    def update(self, item_id: str, action: str, ts: int) -> None:
        """Count one view/click/add_to_cart/purchase of an item at `ts` (ms)."""
        self.load(item_id, merge_keys(self._keys.get(item_id), self.event_key(action, ts)), ts)

    def event_key(self, action: str, ts: int) -> float:
        """The log key one `action` at `ts` adds to its item's key (with `merge_keys`)."""
        return math.log(self.weights.weight(action)) + _LN2 * ts / self.half_life_ms

    def key(self, item_id: str) -> float | None:
        """An item's log key (None: never seen)."""
        return self._keys.get(item_id)

    def load(self, item_id: str, key: float, ts: int) -> None:
        """Set an item's log key, its latest event at `ts` (ms): a shared table's record."""
        old = self._keys.get(item_id)
        self._keys[item_id] = key
        self.now = max(self.now, ts)
        self._order = None
        if self._best is not None:  # keys only grow, so the best stays known
            self._best = max(self._best, key) if old is None or key >= old else None

    def remove(self, ids: Iterable[str]) -> None:
        """Forget items (deleted from the catalogue)."""
        for item_id in ids:
            self._keys.pop(item_id, None)
        self._order = None
        self._best = None

    def score(self, item_id: str) -> float:
        """Decayed weighted count at `now` (0.0 for an item never seen)."""
        key = self._keys.get(item_id)
        return 0.0 if key is None else math.exp(key - _LN2 * self.now / self.half_life_ms)

    def top(self, k: int, exclude: Collection[str] = ()) -> tuple[list[str], np.ndarray]:
        """The k most popular items not excluded, with scores, best first (ties: oldest)."""
        if self._order is None:
            names = list(self._keys)
            keys = np.fromiter(self._keys.values(), dtype=np.float64, count=len(names))
            self._order = [names[i] for i in np.argsort(-keys, kind="stable")]
        ids: list[str] = []
        for item_id in self._order:
            if len(ids) >= k:
                break
            if item_id not in exclude:
                ids.append(item_id)
        return ids, np.array([self.score(i) for i in ids], dtype=np.float64)

    def prior(self, ids: Iterable[str]) -> np.ndarray:
        """log(1 + score) / log(1 + best score), in 0..1; 0 for unknown items."""
        get = self._keys.get
        keys = np.array([get(i, -math.inf) for i in ids], dtype=np.float64)
        if self._best is None:
            self._best = max(self._keys.values(), default=None)
        if self._best is None:
            return np.zeros(len(keys))
        now = _LN2 * self.now / self.half_life_ms
        top = math.log1p(math.exp(self._best - now))
        return np.log1p(np.exp(keys - now)) / top if top > 0 else np.zeros(len(keys))

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe state: half-life, weights, now and each item's log key."""
        return {"half_life_ms": self.half_life_ms, "now": self.now,
                "weights": {a: self.weights.weight(a) for a in ("view", "click", "add_to_cart",
                                                               "purchase")},
                "keys": dict(self._keys)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Popularity:
        """The Popularity `to_dict` described."""
        pop = cls(data["half_life_ms"] / DAY_MS, ProfileConfig(**data.get("weights", {})))
        pop.half_life_ms = float(data["half_life_ms"])
        pop.now = int(data["now"])
        pop._keys = {str(k): float(v) for k, v in data["keys"].items()}
        return pop


def merge_keys(old: float | None, add: float) -> float:
    """Two log keys added (`old` None: `add` alone), exactly, in either order."""
    return add if old is None else float(np.logaddexp(old, add))

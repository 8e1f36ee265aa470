"""Item-to-item co-occurrence from the clickstream: action-weighted, decayed, bounded per item.

A click on `new_item` pairs it with the user's last `window` items, weight = action weight x
position_decay ** (distance - 1): the earlier item's row learns "then came new_item" at full
weight, the new item's row learns "came before it" at `backward` times that weight. Weights are
log keys, as in Popularity: key = ln(weight at T) + ln2 * T / half_life is the same for every T,
so adding is an exact log-add in any arrival order, and comparing two keys needs no clock.
Each item's state is one small `Neighbours` value (its own mass plus its strongest neighbours),
serialisable on its own, so it can live in a table keyed by item_id; a row that reaches
2 * max_neighbours is cut back to the max_neighbours strongest. Similarity is
w_ij / (m_i ** (1 - alpha) * m_j ** alpha), m an item's decayed action-weighted click count;
every term decays alike, so it is clock-free too.
"""
from __future__ import annotations

import heapq
import math
import struct
from collections.abc import Collection, Iterable, MutableMapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter

import numpy as np

from coldstart.errors import ConfigError
from coldstart.profile import DAY_MS, ProfileConfig

_LN2 = math.log(2.0)


@dataclass(frozen=True)
class CooccurrenceConfig:
    """How clicks become pair weights; half_life_days = inf means no decay."""

    half_life_days: float = 30.0
    window: int = 50  # the user's latest items paired with each new one
    position_decay: float = 1.0  # weight factor per step back in the user's history
    backward: float = 0.3  # weight of "j came before i" relative to "j came after i" in i's row
    max_neighbours: int = 200  # kept per item after pruning
    alpha: float = 0.5  # 0.5: cosine; 0: P(j | i), favours popular neighbours
    weights: ProfileConfig = field(default_factory=ProfileConfig)

    def __post_init__(self) -> None:
        if not (self.half_life_days > 0 and 0 < self.position_decay <= 1 and self.window >= 0
                and self.backward >= 0 and self.max_neighbours >= 1 and 0 <= self.alpha <= 1):
            raise ConfigError(f"expected half_life_days > 0, 0 < position_decay <= 1, window >= 0, "
                              f"backward >= 0, max_neighbours >= 1, 0 <= alpha <= 1; got {self}")

    def key(self, weight: float, ts: int) -> float:
        """The clock-free log key of `weight` observed at `ts` (ms)."""
        if math.isinf(self.half_life_days):
            return math.log(weight)
        return math.log(weight) + _LN2 * ts / (self.half_life_days * DAY_MS)


class Neighbours:
    """One item's state: the log key of its own mass and of each neighbour's pair weight."""

    __slots__ = ("mass", "keys")

    def __init__(self, mass: float = -math.inf, keys: dict[str, float] | None = None) -> None:
        self.mass = mass
        self.keys = keys if keys is not None else {}

    def __len__(self) -> int:
        return len(self.keys)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Neighbours):
            return NotImplemented
        return self.mass == other.mass and self.keys == other.keys

    def add_mass(self, key: float) -> None:
        self.mass = _logadd(self.mass, key)

    def add(self, other: str, key: float, max_neighbours: int) -> None:
        """Log-add a pair weight; at 2 * max_neighbours keep only the strongest max_neighbours."""
        keys = self.keys
        old = keys.get(other)
        if old is not None:
            keys[other] = _logadd(old, key)
            return
        keys[other] = key
        if len(keys) >= 2 * max_neighbours:
            self.keys = dict(heapq.nlargest(max_neighbours, keys.items(), key=itemgetter(1)))

    def to_bytes(self) -> bytes:
        """<'CSN', version, count u32, mass f64, base f64>, f32 key - base, u16 id lengths, ids."""
        names = [n.encode() for n in self.keys]
        keys = np.fromiter(self.keys.values(), dtype=np.float64, count=len(names))
        base = float(keys.max()) if len(keys) else 0.0
        head = struct.pack(_HEADER, _MAGIC, _VERSION, len(names), self.mass, base)
        lengths = np.array([len(n) for n in names], dtype="<u2")
        return head + (keys - base).astype("<f4").tobytes() + lengths.tobytes() + b"".join(names)

    @classmethod
    def from_bytes(cls, data: bytes) -> Neighbours:
        """The row `to_bytes` wrote (keys to float32 precision); ValueError for anything else."""
        if len(data) < _HEADER_SIZE or data[:3] != _MAGIC:
            raise ValueError("expected co-occurrence row bytes (starting b'CSN'), got other bytes")
        _, version, count, mass, base = struct.unpack_from(_HEADER, data)
        if version != _VERSION:
            raise ValueError(f"expected co-occurrence row version {_VERSION}, got {version}")
        offsets = np.frombuffer(data, "<f4", count, _HEADER_SIZE).astype(np.float64) + base
        lengths = np.frombuffer(data, "<u2", count, _HEADER_SIZE + 4 * count)
        pos, keys = _HEADER_SIZE + 6 * count, {}
        for n, key in zip(lengths.tolist(), offsets.tolist()):
            keys[data[pos: pos + n].decode()] = key
            pos += n
        return cls(mass, keys)


_MAGIC, _VERSION, _HEADER = b"CSN", 1, "<3sBIdd"
_HEADER_SIZE = struct.calcsize(_HEADER)


@dataclass(frozen=True)
class RowUpdate:
    """What one click adds to one item's row: mass (or None) and (neighbour, key) pairs."""

    item_id: str
    mass: float | None
    pairs: tuple[tuple[str, float], ...]


def row_updates(recent: Sequence[str], new_item: str, action: str, ts: int,
                config: CooccurrenceConfig) -> list[RowUpdate]:
    """The per-row changes of one click: the new item's row first, then each recent item's."""
    mass, pairs = _pairs(recent, new_item, action, ts, config)
    back = math.log(config.backward) if config.backward > 0 else -math.inf
    head = RowUpdate(new_item, mass,
                     tuple((o, key + back) for o, key in pairs) if config.backward > 0 else ())
    return [head] + [RowUpdate(other, None, ((new_item, key),)) for other, key in pairs]


def _pairs(recent: Sequence[str], new_item: str, action: str, ts: int,
           config: CooccurrenceConfig) -> tuple[float, list[tuple[str, float]]]:
    """The new item's mass key and (recent item, pair key), nearest first, distinct, in window."""
    mass = config.key(config.weights.weight(action), ts)
    step = math.log(config.position_decay)
    pairs: list[tuple[str, float]] = []
    seen = {new_item}
    for other in reversed(recent):
        if other in seen:
            continue
        if len(pairs) == config.window:
            break
        seen.add(other)
        pairs.append((other, mass + step * len(pairs)))
    return mass, pairs


def apply_update(row: Neighbours | None, update: RowUpdate,
                 config: CooccurrenceConfig) -> Neighbours:
    """`row` (a new one if None) with `update` added in place; returns it."""
    row = row if row is not None else Neighbours()
    if update.mass is not None:
        row.add_mass(update.mass)
    for other, key in update.pairs:
        row.add(other, key, config.max_neighbours)
    return row


def merge_updates(updates: Iterable[RowUpdate]) -> list[RowUpdate]:
    """One update per row, in order of first appearance: a batch's clicks sum per row.

    Keys are logs of decayed weights, so summing is log-adding; a row then costs one read and
    one write per batch instead of one per click. Pairs keep their first-appearance order.
    """
    mass: dict[str, float | None] = {}
    pairs: dict[str, dict[str, float]] = {}
    for u in updates:
        if u.item_id not in mass:
            mass[u.item_id], pairs[u.item_id] = None, {}
        if u.mass is not None:
            old = mass[u.item_id]
            mass[u.item_id] = u.mass if old is None else _logadd(old, u.mass)
        row = pairs[u.item_id]
        for other, key in u.pairs:
            row[other] = _logadd(row[other], key) if other in row else key
    return [RowUpdate(item, mass[item], tuple(pairs[item].items())) for item in mass]


def apply_update_bytes(old: bytes | None, update: RowUpdate, config: CooccurrenceConfig) -> bytes:
    """The table-value form of `apply_update`: old row bytes (or None) in, new row bytes out."""
    return apply_update(Neighbours.from_bytes(old) if old else None, update, config).to_bytes()


class Cooccurrence:
    """All rows in one mapping (a dict here; any item_id -> Neighbours mapping works)."""

    def __init__(self, config: CooccurrenceConfig | None = None,
                 rows: MutableMapping[str, Neighbours] | None = None) -> None:
        self.config = config or CooccurrenceConfig()
        self.rows: MutableMapping[str, Neighbours] = rows if rows is not None else {}
        self.now = 0  # latest click time seen (ms); `mass` is valued then

    def __len__(self) -> int:
        return len(self.rows)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self.rows

    def update(self, user_recent_items: Sequence[str], new_item: str, action: str, ts: int) -> None:
        """Learn from one click on `new_item` by a user whose earlier items are `user_recent_items`
        (oldest first, as Profile.recent before this click)."""
        config, rows = self.config, self.rows  # row_updates + apply_update, without the objects
        mass, pairs = _pairs(user_recent_items, new_item, action, ts, config)
        head = rows.get(new_item)
        head = Neighbours() if head is None else head
        head.add_mass(mass)
        back = math.log(config.backward) if config.backward > 0 else None
        for other, key in pairs:
            row = rows.get(other)
            if row is None:
                row = rows[other] = Neighbours()
            row.add(new_item, key, config.max_neighbours)
            if back is not None:
                head.add(other, key + back, config.max_neighbours)
        rows[new_item] = head
        self.now = max(self.now, ts)

    def mass_keys(self, ids: Iterable[str]) -> np.ndarray:
        """Each item's log mass key (-inf when unknown)."""
        return np.array([r.mass if (r := self.rows.get(i)) is not None else -math.inf for i in ids])

    def mass(self, ids: Iterable[str]) -> np.ndarray:
        """Each item's decayed action-weighted click count at `now` (0 when unknown)."""
        return np.exp(self.mass_keys(ids) - self.config.key(1.0, self.now))

    def neighbours(self, item_id: str, k: int,
                   exclude: Collection[str] = ()) -> tuple[list[str], np.ndarray]:
        """The item's k most similar neighbours (see the module docstring), best first."""
        row = self.rows.get(item_id)
        if row is None or not row.keys or k <= 0:
            return [], np.zeros(0)
        ids = [i for i in row.keys if i not in exclude]
        sims = self.similarity(item_id, ids)
        top = np.argpartition(-sims, k - 1)[:k] if k < len(ids) else range(len(ids))
        order = sorted(top, key=lambda i: (-sims[i], ids[i]))
        return [ids[i] for i in order], sims[order]

    def similarity(self, item_id: str, ids: Sequence[str],
                   mass_keys: np.ndarray | None = None) -> np.ndarray:
        """Similarity of `item_id` to each of `ids` (0 for pairs not kept); pass `mass_keys(ids)`
        when scoring the same ids against several items."""
        row = self.rows.get(item_id)
        if row is None or not ids:
            return np.zeros(len(ids))
        pair = np.array([row.keys.get(i, -math.inf) for i in ids])
        # A mass is at least its pair weights (rows first seen mid-stream, or only as "recent").
        own = max(row.mass, max(row.keys.values(), default=-math.inf))
        other = np.maximum(self.mass_keys(ids) if mass_keys is None else mass_keys, pair)
        a = self.config.alpha
        with np.errstate(invalid="ignore"):
            logs = pair - (1.0 - a) * own - a * other
        return np.where(np.isfinite(pair), np.exp(logs), 0.0)

    def row_bytes(self, item_id: str) -> bytes | None:
        """One item's state as bytes (None if unknown): the table value for key item_id."""
        row = self.rows.get(item_id)
        return None if row is None else row.to_bytes()

    def load_row(self, item_id: str, data: bytes) -> None:
        """Replace one item's state with the bytes `row_bytes` gave."""
        self.rows[item_id] = Neighbours.from_bytes(data)

    def remove(self, ids: Iterable[str]) -> None:
        """Forget items' rows (deleted from the catalogue); pairs naming them stay in other rows
        until pruned, so readers filter candidates by the live catalogue."""
        for item_id in ids:
            self.rows.pop(item_id, None)


def _logadd(a: float, b: float) -> float:
    if a < b:
        a, b = b, a
    return a if b == -math.inf else a + math.log1p(math.exp(b - a))

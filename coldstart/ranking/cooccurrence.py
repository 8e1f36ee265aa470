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
from coldstart.ranking.profile import DAY_MS, ProfileConfig

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
        """<'CSN', version 2, count u32, mass f64, base f64>, f32 key - base, ids joined by NUL.

        Version 1 (u16 id lengths, then the ids) is still read; it is written only for ids that
        hold a NUL themselves.
        """
        names = list(self.keys)
        keys = np.fromiter(self.keys.values(), dtype=np.float64, count=len(names))
        base = float(keys.max()) if len(keys) else 0.0
        offsets = (keys - base).astype("<f4").tobytes()
        joined = "\x00".join(names)
        if joined.count("\x00") == max(len(names) - 1, 0):
            head = struct.pack(_HEADER, _MAGIC, _VERSION, len(names), self.mass, base)
            return head + offsets + joined.encode()
        encoded = [n.encode() for n in names]
        lengths = np.array([len(n) for n in encoded], dtype="<u2")
        head = struct.pack(_HEADER, _MAGIC, 1, len(names), self.mass, base)
        return head + offsets + lengths.tobytes() + b"".join(encoded)

    @classmethod
    def from_bytes(cls, data: bytes) -> Neighbours:
        """The row `to_bytes` wrote (keys to float32 precision); ValueError for anything else."""
        mass, names, offsets = row_arrays(data)
        return cls(mass, dict(zip(names, offsets.tolist())))


def row_arrays(data: bytes) -> tuple[float, list[str], np.ndarray]:
    """(mass key, neighbour names, their keys) of row bytes, without building the row's dict:
    what scoring reads from a row loaded from the table."""
    count, mass, base, version = _header(data)
    offsets = np.frombuffer(data, "<f4", count, _HEADER_SIZE).astype(np.float64) + base
    if version == _VERSION:
        return mass, (data[_HEADER_SIZE + 4 * count:].decode().split("\x00") if count else []), offsets
    lengths = np.frombuffer(data, "<u2", count, _HEADER_SIZE + 4 * count)
    pos, names = _HEADER_SIZE + 6 * count, []
    for n in lengths.tolist():
        names.append(data[pos: pos + n].decode())
        pos += n
    return mass, names, offsets


_MAGIC, _VERSION, _HEADER = b"CSN", 2, "<3sBIdd"
_HEADER_SIZE = struct.calcsize(_HEADER)


def _header(data: bytes) -> tuple[int, float, float, int]:
    """(count, mass key, base, version) of row bytes; ValueError for anything else."""
    if len(data) < _HEADER_SIZE or data[:3] != _MAGIC:
        raise ValueError("expected co-occurrence row bytes (starting b'CSN'), got other bytes")
    _, version, count, mass, base = struct.unpack_from(_HEADER, data)
    if version not in (1, _VERSION):
        raise ValueError(f"expected co-occurrence row version 1 or {_VERSION}, got {version}")
    return count, mass, base, version


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


@dataclass(frozen=True)
class _RowView:
    """A row as arrays for scoring: neighbour ids (in the Cooccurrence's id space), their keys,
    their names, and the row's own mass key (at least its strongest pair)."""

    idx: np.ndarray
    keys: np.ndarray
    names: list[str]
    own: float


class _Rows(MutableMapping[str, Neighbours]):
    """item_id -> Neighbours, keeping table bytes unparsed until the row is read.

    Every worker loads every row the stream changes, but a worker's lists read only the rows of
    its users' latest items; the rest need just their mass, which the header holds.
    """

    def __init__(self) -> None:
        self._parsed: dict[str, Neighbours] = {}
        self._raw: dict[str, bytes] = {}

    def set_raw(self, item_id: str, data: bytes) -> None:
        self._parsed.pop(item_id, None)
        self._raw[item_id] = data

    def raw(self, item_id: str) -> bytes | None:
        """The row's table bytes while it has not been parsed (None once it has, or if unknown)."""
        return self._raw.get(item_id)

    def __getitem__(self, item_id: str) -> Neighbours:
        row = self._parsed.get(item_id)
        if row is None:
            row = self._parsed[item_id] = Neighbours.from_bytes(self._raw.pop(item_id))
        return row

    def __setitem__(self, item_id: str, row: Neighbours) -> None:
        self._raw.pop(item_id, None)
        self._parsed[item_id] = row

    def __delitem__(self, item_id: str) -> None:
        if self._parsed.pop(item_id, None) is None:
            del self._raw[item_id]

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._parsed or item_id in self._raw

    def __iter__(self):  # type: ignore[no-untyped-def]
        yield from self._parsed
        yield from (k for k in self._raw if k not in self._parsed)

    def __len__(self) -> int:
        return len(self._parsed) + len(self._raw)


class Cooccurrence:
    """All rows in one mapping (loaded rows stay bytes until read), plus array views for scoring.

    Scoring works on integer ids: each item name seen gets one, its mass key sits in a dense
    array, and each row read for scoring is cached as arrays until the row changes.
    """

    def __init__(self, config: CooccurrenceConfig | None = None,
                 rows: MutableMapping[str, Neighbours] | None = None) -> None:
        self.config = config or CooccurrenceConfig()
        self.rows: MutableMapping[str, Neighbours] = rows if rows is not None else _Rows()
        self.now = 0  # latest click time seen (ms); `mass` is valued then
        self._ids: dict[str, int] = {}
        self._mass = np.full(1024, -math.inf)  # id -> mass key
        self._scratch = np.full(1024, -math.inf)  # id -> pair key, one row at a time
        self._views: dict[str, _RowView] = {}
        for item_id, row in self.rows.items():
            self._set_mass(item_id, row.mass)

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
                self._set_mass(other, row.mass)
            row.add(new_item, key, config.max_neighbours)
            self._views.pop(other, None)
            if back is not None:
                head.add(other, key + back, config.max_neighbours)
        rows[new_item] = head
        self._set_mass(new_item, head.mass)
        self._views.pop(new_item, None)
        self.now = max(self.now, ts)

    def mass_keys(self, ids: Iterable[str]) -> np.ndarray:
        """Each item's log mass key (-inf when unknown)."""
        return self._mass_of(self._lookup(ids))

    def mass(self, ids: Iterable[str]) -> np.ndarray:
        """Each item's decayed action-weighted click count at `now` (0 when unknown)."""
        return np.exp(self.mass_keys(ids) - self.config.key(1.0, self.now))

    def neighbours(self, item_id: str, k: int,
                   exclude: Collection[str] = ()) -> tuple[list[str], np.ndarray]:
        """The item's k most similar neighbours (see the module docstring), best first."""
        view = self._view(item_id)
        if view is None or not view.names or k <= 0:
            return [], np.zeros(0)
        sims = self._row_sims(view)
        if exclude:
            sims[[n in exclude for n in view.names]] = -math.inf
        top = sorted(_top_k(sims, k, view.names), key=lambda i: (-sims[i], view.names[i]))
        return [view.names[i] for i in top], sims[top]

    def candidates(self, items: Sequence[str], k: int, exclude: Collection[str] = ()) -> list[str]:
        """The union of the k nearest neighbours of each of `items` (as `neighbours` picks them,
        ties at the k-th place going to the smaller name), in no particular order."""
        if k <= 0:
            return []
        views = [v for v in map(self._view, items) if v is not None and v.names]
        banned = np.zeros(len(self._mass), dtype=bool)  # sized after the views grew the ids
        if exclude:
            known = self._lookup(exclude)
            banned[known[known >= 0]] = True
        found: dict[str, None] = {}
        for view in views:
            sims = self._row_sims(view)
            sims[banned[view.idx]] = -math.inf
            found.update(dict.fromkeys(view.names[i] for i in _top_k(sims, k, view.names)))
        return list(found)

    def candidates_many(self, items: Sequence[Sequence[str]], k: int,
                        excludes: Sequence[Collection[str]]) -> list[list[str]]:
        """`candidates(items[n], k, excludes[n])` for each n, each row's neighbours ordered once
        for all of them: users who share recent items share that work."""
        ranked: dict[str, list[str]] = {}
        out = []
        for mine, exclude in zip(items, excludes):
            found: dict[str, None] = {}
            for item in mine if k > 0 else ():
                names = ranked.get(item)
                if names is None:
                    names = ranked[item] = self._ranked(item)
                taken = 0
                for name in names:
                    if name not in exclude:
                        found[name] = None
                        taken += 1
                        if taken == k:
                            break
            out.append(list(found))
        return out

    def _ranked(self, item_id: str) -> list[str]:
        """The row's neighbours of finite similarity, best first, ties by the smaller name."""
        view = self._view(item_id)
        if view is None or not view.names:
            return []
        sims = self._row_sims(view)
        finite = np.flatnonzero(np.isfinite(sims))
        names = np.array(view.names)[finite]
        return names[np.lexsort((names, -sims[finite]))].tolist()

    def _row_sims(self, view: _RowView) -> np.ndarray:
        a = self.config.alpha
        return np.exp(view.keys - (1.0 - a) * view.own
                      - a * np.maximum(self._mass[view.idx], view.keys))

    def similarity(self, item_id: str, ids: Sequence[str],
                   mass_keys: np.ndarray | None = None) -> np.ndarray:
        """Similarity of `item_id` to each of `ids` (0 for pairs not kept); pass `mass_keys(ids)`
        when scoring the same ids against several items."""
        return self.similarities([item_id], ids, mass_keys)[0]

    def similarities(self, items: Sequence[str], ids: Sequence[str],
                     mass_keys: np.ndarray | None = None) -> np.ndarray:
        """A (len(items), len(ids)) matrix: row r holds `similarity(items[r], ids)`."""
        out = np.zeros((len(items), len(ids)))
        if not ids:
            return out
        cand = self._lookup(ids)
        known = cand >= 0
        known_ids = cand[known]
        other_mass = self._mass_of(cand) if mass_keys is None else np.asarray(mass_keys)
        a = self.config.alpha
        for r, item_id in enumerate(items):
            view = self._view(item_id)  # may grow the id space, and so the scratch array
            if view is None or not view.names:
                continue
            scratch = self._scratch
            scratch[view.idx] = view.keys  # the row as a dense vector, for one gather
            pair = np.full(len(ids), -math.inf)
            pair[known] = scratch[known_ids]
            scratch[view.idx] = -math.inf
            hit = np.isfinite(pair)
            # A mass is at least its pair weights (rows first seen mid-stream, or only as "recent").
            other = np.maximum(other_mass[hit], pair[hit])
            out[r, hit] = np.exp(pair[hit] - (1.0 - a) * view.own - a * other)
        return out

    def row_bytes(self, item_id: str) -> bytes | None:
        """One item's state as bytes (None if unknown): the table value for key item_id."""
        row = self.rows.get(item_id)
        return None if row is None else row.to_bytes()

    def load_row(self, item_id: str, data: bytes) -> None:
        """Replace one item's state with the bytes `row_bytes` gave (parsed when first read)."""
        _, mass, _, _ = _header(data)
        if isinstance(self.rows, _Rows):
            self.rows.set_raw(item_id, data)
        else:
            self.rows[item_id] = Neighbours.from_bytes(data)
        self._set_mass(item_id, mass)
        self._views.pop(item_id, None)

    def remove(self, ids: Iterable[str]) -> None:
        """Forget items' rows (deleted from the catalogue); pairs naming them stay in other rows
        until pruned, so readers filter candidates by the live catalogue."""
        for item_id in ids:
            self.rows.pop(item_id, None)
            self._views.pop(item_id, None)
            if item_id in self._ids:
                self._mass[self._ids[item_id]] = -math.inf

    # --- the id space ------------------------------------------------------------------------
    def _id(self, item_id: str) -> int:
        found = self._ids.get(item_id)
        if found is None:
            found = self._ids[item_id] = len(self._ids)
            if found >= len(self._mass):
                grow = np.full(len(self._mass), -math.inf)
                self._mass = np.concatenate([self._mass, grow])
                self._scratch = np.concatenate([self._scratch, grow.copy()])
        return found

    def _set_mass(self, item_id: str, mass: float) -> None:
        index = self._id(item_id)  # first: it may replace self._mass with a larger array
        self._mass[index] = mass

    def _lookup(self, ids: Iterable[str]) -> np.ndarray:
        """Each name's id, -1 for names never seen."""
        found = [-1 if i is None else i for i in map(self._ids.get, ids)]
        return np.array(found, dtype=np.int64)

    def _mass_of(self, cand: np.ndarray) -> np.ndarray:
        out = np.full(len(cand), -math.inf)
        known = cand >= 0
        out[known] = self._mass[cand[known]]
        return out

    def _view(self, item_id: str) -> _RowView | None:
        view = self._views.get(item_id)
        if view is None:
            raw = self.rows.raw(item_id) if isinstance(self.rows, _Rows) else None
            if raw is not None:  # scoring needs arrays, not the row's dict: skip building it
                mass, names, keys = row_arrays(raw)
            else:
                row = self.rows.get(item_id)
                if row is None:
                    return None
                mass, names = row.mass, list(row.keys)
                keys = np.fromiter(row.keys.values(), dtype=np.float64, count=len(names))
            found = list(map(self._ids.get, names))
            if None in found:
                found = [self._id(n) for n in names]
            idx = np.array(found, dtype=np.int64)
            own = max(mass, float(keys.max()) if len(keys) else -math.inf)
            view = self._views[item_id] = _RowView(idx, keys, names, own)
        return view


def _top_k(sims: np.ndarray, k: int, names: Sequence[str]) -> list[int]:
    """Positions of the k largest finite `sims`; ties at the k-th value go to smaller names."""
    finite = np.isfinite(sims)
    if k >= int(finite.sum()):
        return np.flatnonzero(finite).tolist()
    kth = -np.partition(-sims, k - 1)[k - 1]
    above = np.flatnonzero(sims > kth).tolist()
    tied = sorted(np.flatnonzero(sims == kth).tolist(), key=names.__getitem__)
    return above + tied[: k - len(above)]


def _logadd(a: float, b: float) -> float:
    if a < b:
        a, b = b, a
    return a if b == -math.inf else a + math.log1p(math.exp(b - a))

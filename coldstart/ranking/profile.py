"""A user's taste as two decayed vector sums, their words and their behaviour; pure updates.

Each sum is unnormalised and valued at `updated_ts`: an update at `ts` first decays both sums by
2 ** -((ts - updated_ts) / half_life) (text and behaviour have their own half-lives), then adds
weight * vector (an event older than `updated_ts` has its weight decayed instead). A vector of
another dimension (a new model) drops both old sums. `query_vector` blends the two directions
with behaviour weight w_b = n / (n + behaviour_k), capped at max_behaviour_weight.
"""
from __future__ import annotations

import dataclasses
import json
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

from coldstart.text.item_text import shorten

DAY_MS = 86_400_000
ACTIONS = ("view", "click", "add_to_cart", "purchase")


@dataclass(frozen=True)
class ProfileConfig:
    """Weights and half-lives for profile updates (defaults documented in the module docstring)."""

    view: float = 1.0
    click: float = 2.0
    add_to_cart: float = 4.0
    purchase: float = 8.0
    half_life_days: float = 7.0  # behaviour
    text_half_life_days: float = 30.0  # description and searches
    search_weight: float = 0.5  # a signup description weighs 1
    behaviour_k: float = 3.0
    max_behaviour_weight: float = 0.8
    max_purchased: int = 200
    max_recent: int = 50
    interest_chars: int = 40
    max_seen_events: int = 64  # event ids kept to drop redelivered events (at-least-once)

    def weight(self, action: str) -> float:
        """The weight of an action; ValueError for one not in ACTIONS."""
        if action not in ACTIONS:
            raise ValueError(f"expected action in {ACTIONS}, got {action!r}")
        return float(getattr(self, action))


DEFAULT = ProfileConfig()


@dataclass(frozen=True, eq=False)
class Profile:
    """One user's state. Vectors are read-only float32 arrays (or None); tuples are oldest first."""

    text_vec: np.ndarray | None = None
    n_texts: int = 0
    behaviour_vec: np.ndarray | None = None
    n_interactions: int = 0  # interactions whose item vector was known
    purchased: tuple[str, ...] = ()
    recent: tuple[str, ...] = ()
    last_item_title: str = ""
    last_action: str = ""
    updated_ts: int = 0
    seen: tuple[str, ...] = ()  # ids of the latest events applied, oldest first

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Profile):
            return NotImplemented
        return all(_same(getattr(self, f.name), getattr(other, f.name))
                   for f in dataclasses.fields(self))

    def to_bytes(self) -> bytes:
        """Header <magic 'CSP', version, dim u16, flags u8, json length u32>, vectors, JSON."""
        vecs = [v for v in (self.text_vec, self.behaviour_vec) if v is not None]
        dim = len(vecs[0]) if vecs else 0
        flags = (self.text_vec is not None) | (self.behaviour_vec is not None) << 1
        small = {"nt": self.n_texts, "ni": self.n_interactions, "p": self.purchased,
                 "r": self.recent, "t": self.last_item_title,
                 "a": self.last_action, "u": self.updated_ts, "e": self.seen}
        body = json.dumps(small, separators=(",", ":"), ensure_ascii=False).encode()
        head = struct.pack(_HEADER, _MAGIC, _VERSION, dim, flags, len(body))
        return head + b"".join(v.astype("<f4").tobytes() for v in vecs) + body

    @classmethod
    def from_bytes(cls, data: bytes) -> Profile:
        """The profile `to_bytes` wrote; ValueError for anything else."""
        if len(data) < _HEADER_SIZE or data[:3] != _MAGIC:
            raise ValueError("expected profile bytes starting with b'CSP', got something else")
        _, version, dim, flags, n_json = struct.unpack_from(_HEADER, data)
        if version != _VERSION:
            raise ValueError(f"expected profile format version {_VERSION}, got {version}")
        offset, vecs = _HEADER_SIZE, []
        for bit in (1, 2):
            vec = None
            if flags & bit:
                vec = _frozen(np.frombuffer(data, "<f4", dim, offset))
                offset += 4 * dim
            vecs.append(vec)
        small = json.loads(data[offset: offset + n_json])
        return cls(vecs[0], small["nt"], vecs[1], small["ni"], tuple(small["p"]),
                   tuple(small["r"]), small["t"], small["a"], small["u"],
                   tuple(small.get("e", ())))


_MAGIC, _VERSION, _HEADER = b"CSP", 1, "<3sBHBI"
_HEADER_SIZE = struct.calcsize(_HEADER)


def new_profile() -> Profile:
    """A profile that knows nothing."""
    return Profile()


def with_signup(p: Profile | None, vec: np.ndarray, ts: int,
                config: ProfileConfig = DEFAULT) -> Profile:
    """Fold in the user's signup description (weight 1); the words themselves are not kept."""
    return _with_text(p or Profile(), vec, 1.0, ts, config)


def with_search(p: Profile | None, vec: np.ndarray, ts: int,
                config: ProfileConfig = DEFAULT) -> Profile:
    """Fold in a search query (weight `search_weight`); the query itself is not kept."""
    return _with_text(p or Profile(), vec, config.search_weight, ts, config)


def with_interaction(p: Profile | None, item_id: str, item_vec: np.ndarray | None, action: str,
                     ts: int, item_title: str = "", config: ProfileConfig = DEFAULT) -> Profile:
    """Record a view/click/add_to_cart/purchase; an unknown item vector is recorded, not summed."""
    p = _advance(p or Profile(), ts, config, item_vec)
    weight = config.weight(action) * _late(p.updated_ts, ts, config.half_life_days)
    changes: dict = {"recent": _push(p.recent, item_id, config.max_recent), "last_action": action}
    if action == "purchase":
        changes["purchased"] = _push(p.purchased, item_id, config.max_purchased)
    changes["last_item_title"] = shorten(item_title, config.interest_chars)  # names recent[-1]
    if item_vec is not None:
        changes["behaviour_vec"] = _add(p.behaviour_vec, item_vec, weight)
        changes["n_interactions"] = p.n_interactions + 1
    return dataclasses.replace(p, **changes)


def has_seen(p: Profile | None, event_id: str) -> bool:
    """True when this event was already applied: a redelivery after a crash, or a duplicate."""
    return p is not None and event_id in p.seen


def with_seen(p: Profile, event_id: str, config: ProfileConfig = DEFAULT) -> Profile:
    """Remember that `event_id` was applied, keeping the latest `max_seen_events` ids."""
    return dataclasses.replace(p, seen=_push(p.seen, event_id, config.max_seen_events))


def query_vector(p: Profile | None,
                 config: ProfileConfig = DEFAULT) -> tuple[np.ndarray | None, float]:
    """The L2-normalised blend (1 - w_b) * text + w_b * behaviour, and w_b (1.0 with no text)."""
    text = _unit(p.text_vec) if p else None
    behaviour = _unit(p.behaviour_vec) if p else None
    if behaviour is None:
        return text, 0.0
    if text is None:
        return behaviour, 1.0
    n = p.n_interactions if p else 0
    w_b = min(n / (n + config.behaviour_k), config.max_behaviour_weight)
    return _unit((1.0 - w_b) * text + w_b * behaviour), w_b


def _with_text(p: Profile, vec: np.ndarray, weight: float, ts: int,
               config: ProfileConfig) -> Profile:
    p = _advance(p, ts, config, vec)
    weight *= _late(p.updated_ts, ts, config.text_half_life_days)
    return dataclasses.replace(p, text_vec=_add(p.text_vec, vec, weight), n_texts=p.n_texts + 1)


def _advance(p: Profile, ts: int, config: ProfileConfig, vec: np.ndarray | None) -> Profile:
    """`p` with both sums decayed from updated_ts to max(updated_ts, ts), or dropped if stale."""
    dim = None if vec is None else np.size(vec)
    old = p.text_vec if p.text_vec is not None else p.behaviour_vec
    if dim is not None and old is not None and len(old) != dim:
        p = dataclasses.replace(p, text_vec=None, n_texts=0, behaviour_vec=None, n_interactions=0)
    now = max(p.updated_ts, ts)
    age_days = (now - p.updated_ts) / DAY_MS
    return dataclasses.replace(
        p, updated_ts=now,
        text_vec=_decay(p.text_vec, age_days / config.text_half_life_days),
        behaviour_vec=_decay(p.behaviour_vec, age_days / config.half_life_days))


def _decay(vec: np.ndarray | None, half_lives: float) -> np.ndarray | None:
    if vec is None or half_lives <= 0:
        return vec
    norm = float(np.linalg.norm(vec))
    factor = max(2.0 ** -half_lives, 1e-20 / norm if norm > 0 else 0.0)  # no underflow to zero
    return _frozen(vec * np.float32(factor))


def _add(old: np.ndarray | None, vec: np.ndarray, weight: float) -> np.ndarray:
    new = np.float32(weight) * np.asarray(vec, dtype=np.float32).reshape(-1)
    return _frozen(new if old is None else old + new)


def _late(now: int, ts: int, half_life_days: float) -> float:
    """Decay for an event at `ts` arriving after the profile reached `now` (1.0 if not late)."""
    return 2.0 ** -(max(0, now - ts) / (half_life_days * DAY_MS))


def _push(items: tuple[str, ...], item_id: str, cap: int) -> tuple[str, ...]:
    return (tuple(i for i in items if i != item_id) + (item_id,))[-cap:]


def _unit(vec: np.ndarray | None) -> np.ndarray | None:
    if vec is None:
        return None
    norm = float(np.linalg.norm(vec))
    return (vec / norm).astype(np.float32) if norm > 0 and np.isfinite(norm) else None


def _frozen(vec: np.ndarray) -> np.ndarray:
    out = np.array(vec, dtype=np.float32)
    out.setflags(write=False)
    return out


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return a is not None and b is not None and np.array_equal(a, b)
    return a == b

"""One batch of user events in, new profiles and output events out: the product's loop.

The streaming layer reads the profiles a batch touches, calls `Engine.handle_users`, writes the
profiles back and sends the events. Everything here is plain values, so it is tested without a
broker. Redelivered events (same event_id) change no profile twice but still get their output:
at-least-once allows a repeat, never a loss.
"""
from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from coldstart.ads import place_ads
from coldstart.catalog import Catalog
from coldstart.popularity import Popularity
from coldstart.profile import (Profile, has_seen, query_vector, with_interaction, with_search,
                               with_seen, with_signup)
from coldstart.ranking import recommend

Encode = Callable[[Sequence[str]], np.ndarray]
TEXT_FIELD = {"signups": "description", "searches": "query"}


@dataclass
class UserBatchResult:
    """What a batch changed: profiles to write, users to purge, events to send, events refused."""

    profiles: dict[str, Profile] = field(default_factory=dict)  # write these (after purging)
    deleted: set[str] = field(default_factory=set)  # purge these first
    recommendations: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (position in batch, error)


@dataclass
class _ClickRefresh:
    trigger_event_id: str
    source_ts: int


class Engine:
    """Holds the worker's catalogue, popularity and encoder; turns events into outputs."""

    def __init__(self, catalog: Catalog, encode_users: Encode, model_version: str,
                 popularity: Popularity | None = None, top_k: int = 10) -> None:
        self.catalog = catalog
        self.encode_users = encode_users
        self.model_version = model_version
        self.popularity = popularity or Popularity()
        self.top_k = top_k

    def handle_users(self, events: Sequence[tuple[str, Mapping[str, Any]]],
                     profiles: Mapping[str, Profile | None]) -> UserBatchResult:
        """Apply validated (topic, event) pairs in `ts` order; one encoder call for the whole batch.

        The topics are consumed side by side, so a batch may hold a user's click before the
        deletion that preceded it; event time, not arrival, decides (ties keep arrival order).
        """
        vectors = self._embed_texts(events)
        state: dict[str, Profile | None] = dict(profiles)
        result, refresh = UserBatchResult(), dict[str, _ClickRefresh]()
        for position in sorted(range(len(events)), key=lambda i: events[i][1]["ts"]):
            topic, event = events[position]
            user = event["user_id"]
            if topic == "user_deletions":
                state[user] = None
                result.deleted.add(user)
                refresh.pop(user, None)
            elif topic == "clicks":
                error = self._click(state, event, refresh)
                if error:
                    result.rejected.append((position, error))
            else:
                self._text_event(topic, event, vectors[position], state)
                trigger = "signup" if topic == "signups" else "search"
                result.recommendations.append(self._recommendation(
                    state[user], user, trigger, event["event_id"], event["ts"]))
        for user, r in refresh.items():
            result.recommendations.append(
                self._recommendation(state[user], user, "click", r.trigger_event_id, r.source_ts))
        # A user deleted and then seen again in one batch is purged first, then written anew.
        result.profiles = {u: p for u, p in state.items() if p is not None}
        return result

    def _embed_texts(self, events: Sequence[tuple[str, Mapping[str, Any]]]) -> dict[int, np.ndarray]:
        wanted = [(i, str(e[TEXT_FIELD[t]])) for i, (t, e) in enumerate(events) if t in TEXT_FIELD]
        if not wanted:
            return {}
        vectors = self.encode_users([text for _, text in wanted])
        return {i: vectors[row] for row, (i, _) in enumerate(wanted)}

    def _text_event(self, topic: str, event: Mapping[str, Any], vec: np.ndarray,
                    state: dict[str, Profile | None]) -> None:
        user, profile = event["user_id"], state.get(event["user_id"])
        if has_seen(profile, event["event_id"]):
            return
        update = with_signup if topic == "signups" else with_search
        state[user] = with_seen(update(profile, vec, str(event[TEXT_FIELD[topic]]), event["ts"]),
                                event["event_id"])

    def _click(self, state: dict[str, Profile | None], event: Mapping[str, Any],
               refresh: dict[str, _ClickRefresh]) -> str | None:
        item_id, user = event["item_id"], event["user_id"]
        if item_id not in self.catalog:
            return f"clicks: item_id {item_id[:60]!r} is not in the catalogue (unknown or deleted)"
        profile = state.get(user)
        if not has_seen(profile, event["event_id"]):
            profile = with_interaction(profile, item_id, self.catalog.item_vector(item_id),
                                       event["action"], event["ts"],
                                       self.catalog.titles.get(item_id, ""))
            state[user] = with_seen(profile, event["event_id"])
            self.popularity.update(item_id, event["action"], event["ts"])
        refresh[user] = _ClickRefresh(event["event_id"], event["ts"])
        return None

    def _recommendation(self, profile: Profile | None, user: str, trigger: str,
                        trigger_event_id: str, source_ts: int) -> dict[str, Any]:
        picks = recommend(profile, self.catalog.index, k=self.top_k, popularity=self.popularity,
                          titles=self.catalog.titles)
        return {
            "recommendation_id": _stable_id("rec", trigger, trigger_event_id, user),
            "user_id": user, "trigger": trigger, "trigger_event_id": trigger_event_id,
            "items": [{"item_id": p.item_id, "score": p.score, "reason": p.reason} for p in picks],
            "model_version": self.model_version, "source_ts": source_ts,
            "produced_ts": now_ms(),
        }

    def handle_page_views(self, events: Sequence[Mapping[str, Any]],
                          profiles: Mapping[str, Profile | None]) -> list[dict[str, Any]]:
        """One ad_slots event per page view: the user's taste (and the page's item) picks ads."""
        ads = self.catalog.ads()
        out = []
        for event in events:
            profile = profiles.get(event["user_id"])
            user_vec = _with_context(query_vector(profile)[0],
                                     self._context_vector(event.get("context_item_id")))
            slots = [(s["slot_id"], s["position"]) for s in event["slots"]]
            placements = place_ads(user_vec, ads, slots, popularity=self.popularity,
                                   exclude_items=profile.purchased if profile else ())
            out.append({
                "placement_id": _stable_id("ads", event["event_id"], event["user_id"]),
                "user_id": event["user_id"], "page_id": event["page_id"],
                "trigger_event_id": event["event_id"],
                "placements": [_placement(p) for p in placements],
                "source_ts": event["ts"], "produced_ts": now_ms(),
            })
        return out

    def _context_vector(self, item_id: str | None) -> np.ndarray | None:
        return self.catalog.item_vector(item_id) if item_id else None


def _with_context(user_vec: np.ndarray | None, item_vec: np.ndarray | None) -> np.ndarray | None:
    """The page's item pulls the ads toward itself; a user with no profile gets it alone."""
    if item_vec is None:
        return user_vec
    if user_vec is None:
        return item_vec
    blend = user_vec + item_vec
    return blend / max(float(np.linalg.norm(blend)), 1e-12)


def _placement(p: Any) -> dict[str, Any]:
    out = {"slot_id": p.slot_id, "ad_id": p.ad_id, "score": round(float(p.score), 6)}
    if p.item_id is not None:
        out["item_id"] = p.item_id
    return out


def _stable_id(*parts: str) -> str:
    """The same trigger gives the same id, so a redelivered event's repeat is recognisable."""
    return hashlib.sha1("\x1f".join(parts).encode()).hexdigest()[:20]


def now_ms() -> int:
    return time.time_ns() // 1_000_000

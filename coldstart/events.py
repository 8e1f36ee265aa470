"""The contract's output events as the library builds them, the clock, and stable ids.

`recommendations` and `ad_slots` events are built here and only here (schemas/ holds their JSON
Schemas); ids derive from the trigger, so a redelivered event's repeat is recognisable downstream.
"""
from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping, Sequence
from typing import Any

from coldstart.ads.placement import Placement
from coldstart.ranking.explain import Recommendation


def now_ms() -> int:
    """Wall-clock time in milliseconds since the epoch, as every event's `ts` is."""
    return time.time_ns() // 1_000_000


def stable_id(*parts: str) -> str:
    """The same trigger gives the same id, so a redelivered event's repeat is recognisable."""
    return hashlib.sha1("\x1f".join(parts).encode()).hexdigest()[:20]


def recommendation_event(recommendation_id: str, user_id: str, trigger: str,
                         trigger_event_id: str, picks: Sequence[Recommendation],
                         model_version: str, source_ts: int) -> dict[str, Any]:
    """A `recommendations` event (schemas/recommendations.json)."""
    return {
        "recommendation_id": recommendation_id,
        "user_id": user_id, "trigger": trigger, "trigger_event_id": trigger_event_id,
        "items": [{"item_id": p.item_id, "score": p.score, "reason": p.reason} for p in picks],
        "model_version": model_version, "source_ts": source_ts,
        "produced_ts": now_ms(),
    }


def ad_slots_event(page_view: Mapping[str, Any], placements: Sequence[Placement]) -> dict[str, Any]:
    """An `ad_slots` event for a validated page view (schemas/ad_slots.json)."""
    return {
        "placement_id": stable_id("ads", page_view["event_id"], page_view["user_id"]),
        "user_id": page_view["user_id"], "page_id": page_view["page_id"],
        "trigger_event_id": page_view["event_id"],
        "placements": [_placement(p) for p in placements],
        "source_ts": page_view["ts"], "produced_ts": now_ms(),
    }


def _placement(p: Placement) -> dict[str, Any]:
    out: dict[str, Any] = {"slot_id": p.slot_id, "ad_id": p.ad_id, "score": round(float(p.score), 6)}
    if p.item_id is not None:
        out["item_id"] = p.item_id
    return out

"""Training pairs from logged topics: a user's signup or search text joined with that user's later clicks."""
from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from coldstart.finetune.pairs import Pair

Event = Mapping[str, Any]

POSITIVE_ACTIONS = frozenset({"click", "add_to_cart", "purchase"})
HOUR_MS = 3_600_000


def pairs_from_events(
    signups: Iterable[Event], searches: Iterable[Event], clicks: Iterable[Event],
    items: Mapping[str, str], window_ms: int = HOUR_MS, actions: frozenset[str] = POSITIVE_ACTIONS,
    negatives: int = 0, seed: int = 0,
) -> list[Pair]:
    """One positive per (text, clicked item): each signup description or search query of a user is
    joined with the user's clicks (of `actions`) in the `window_ms` after it, before the same user's
    next text. Unknown items, blank texts and repeats are skipped; `negatives` random catalogue
    items the user never clicked are added per positive with label 0.0. Pure: plain event dicts in,
    pairs out, in a deterministic order."""
    texts: dict[str, list[tuple[int, int, str]]] = defaultdict(list)
    for kind, events, field in ((0, signups, "description"), (1, searches, "query")):
        for event in events:
            text = str(event.get(field) or "").strip()
            if text:
                texts[str(event["user_id"])].append((int(event["ts"]), kind, text))
    clicked: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for event in clicks:
        if event.get("action", "click") in actions and str(event["item_id"]) in items:
            clicked[str(event["user_id"])].append((int(event["ts"]), str(event["item_id"])))
    rng, pool = random.Random(seed), sorted(items)
    pairs: list[Pair] = []
    seen: set[tuple[str, str]] = set()
    for user in sorted(texts):
        said = sorted(texts[user])
        user_clicks = sorted(clicked.get(user, []))
        user_items = {item for _, item in user_clicks}
        for i, (ts, _, text) in enumerate(said):
            next_ts = said[i + 1][0] if i + 1 < len(said) else None
            for click_ts, item in user_clicks:
                later = ts <= click_ts <= ts + window_ms and (next_ts is None or click_ts < next_ts)
                if later and (text, item) not in seen:
                    seen.add((text, item))
                    pairs.append(Pair(text, items[item], 1.0))
                    pairs.extend(_negatives(text, user_items, pool, items, negatives, rng))
    return pairs


def _negatives(text: str, clicked: set[str], pool: list[str], items: Mapping[str, str],
               count: int, rng: random.Random) -> list[Pair]:
    candidates = [i for i in rng.sample(pool, min(len(pool), count + len(clicked))) if i not in clicked]
    return [Pair(text, items[i], 0.0) for i in candidates[:count]]

"""The pipeline bench's workload: a catalogue of any size, ads, and distinct shoppers' words.

Two sources: `demo` composes items and descriptions from the demo catalogue's vocabulary
(streams/tools/sample_data.py), `home_depot` takes product titles and search terms from
$COLDSTART_DATASETS/home_depot/train.csv. The same seed gives the same workload, so item texts
hit the worker's vector cache on a second run, and signup descriptions are all distinct, so the
encoder's text cache never answers for the model.
"""
from __future__ import annotations

import csv
import itertools
import random
from collections.abc import Callable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

from coldstart.errors import ColdstartError
from streams.tools.sample_data import ACTIONS, CATEGORIES, USERS

SOURCES = ("demo", "home_depot")
Event = dict[str, Any]
_WHO = ["my dad", "a new runner", "our flat", "a student", "the garden", "a busy parent", "my partner"]
_DEMO_TEMPLATES = [
    "{user}; also a {adj} {noun}",
    "looking for a {adj} {noun} {purpose}",
    "I want {material} {noun}s in {colour}",
    "{adj} {noun} and a {adj2} {noun2}",
    "gift ideas for {who}: a {adj} {noun} or a {noun2}",
    "new to this, need a {adj} {noun} {purpose}, budget is tight",
]
_HD_TEMPLATES = ["looking for {t}", "{t} and {t2}", "need {t} for a weekend project",
                 "fixing up the house: {t}, maybe {t2}"]


def catalog(size: int, source: str = "demo", seed: int = 0) -> list[Event]:
    """`size` catalog events with distinct texts; ids are stable for a source and position."""
    if size < 1:
        raise ColdstartError(f"expected a catalogue size >= 1, got {size}")
    make = {"demo": _demo_items, "home_depot": _home_depot_items}.get(source)
    if make is None:
        raise ColdstartError(f"expected a catalogue source in {SOURCES}, got {source!r}")
    return make(size, random.Random(seed))


def ads(items: list[Event], count: int = 40, seed: int = 0) -> list[Event]:
    """Item ads on random items and a few text-only ads, varied bids, all active."""
    rng = random.Random(seed)
    picked = rng.sample(items, min(len(items), count * 3 // 4))
    out: list[Event] = [{"item_id": i["item_id"], "text": f"{i['title']}, on offer"} for i in picked]
    while len(out) < count:
        cat = CATEGORIES[rng.choice(list(CATEGORIES))]
        out.append({"text": f"{rng.choice(cat.brands)}: deals on {rng.choice(cat.nouns)}"})
    return [{"ad_id": f"bench-ad-{n:03d}", **ad, "bid": round(rng.uniform(0.1, 2.5), 2)}
            for n, ad in enumerate(out)]


def descriptions(count: int, source: str = "demo", seed: int = 1) -> list[str]:
    """`count` distinct signup descriptions, a sentence or two each."""
    make = _demo_sentence if source == "demo" else _home_depot_sentence
    return _distinct(count, make, random.Random(seed))


def queries(count: int, source: str = "demo", seed: int = 2) -> list[str]:
    """`count` search queries (repeats allowed, as real searches repeat)."""
    rng = random.Random(seed)
    if source == "demo":
        cats = list(CATEGORIES.values())
        return [f"{rng.choice(c.adjectives)} {rng.choice(c.nouns)}"
                for c in (rng.choice(cats) for _ in range(count))]
    terms = _home_depot()[1]
    return [rng.choice(terms) for _ in range(count)]


def clicks(users: list[str], items: list[str], seed: int = 3, zipf: float = 0.0) -> Iterator[Event]:
    """Endless clicks (no event_id, no ts) by uniformly random users, with sample actions.

    Items are uniform, or with `zipf` = s > 0 Zipf-skewed: the item of popularity rank r (a
    fixed shuffle of `items`) is clicked with probability proportional to 1 / r ** s, as real
    clickstreams are (s about 1).
    """
    rng = random.Random(seed)
    names, weights = [a for a, _ in ACTIONS], [w for _, w in ACTIONS]
    ranked, cum = list(items), None
    if zipf > 0:
        random.Random(seed + 1).shuffle(ranked)
        cum = list(itertools.accumulate(1.0 / (r ** zipf) for r in range(1, len(ranked) + 1)))
    while True:
        item = rng.choices(ranked, cum_weights=cum)[0] if cum else rng.choice(ranked)
        yield {"user_id": rng.choice(users), "item_id": item,
               "action": rng.choices(names, weights)[0]}


def page_views(users: list[str], items: list[str], seed: int = 4) -> Iterator[Event]:
    """Endless page views with two to four slots, half of them on an item's page."""
    rng = random.Random(seed)
    while True:
        names = ["top", "side", "inline", "footer"][: rng.randint(2, 4)]
        view: Event = {"user_id": rng.choice(users), "page_id": "home",
                       "slots": [{"slot_id": n, "position": p} for p, n in enumerate(names, 1)]}
        if rng.random() < 0.5:
            item = rng.choice(items)
            view.update(page_id=f"item/{item}", context_item_id=item)
        yield view


# --- sources -------------------------------------------------------------------------------------

def _demo_items(size: int, rng: random.Random) -> list[Event]:
    names = list(CATEGORIES)
    out = []
    for n in range(size):
        name = names[n % len(names)]
        cat = CATEGORIES[name]
        brand, adj, noun = rng.choice(cat.brands), rng.choice(cat.adjectives), rng.choice(cat.nouns)
        material = rng.choice(cat.materials)
        attrs: dict[str, Any] = {"material": material, "size": rng.choice(cat.sizes)}
        if cat.colours:
            attrs["colour"] = rng.choice(cat.colours)
        model = f"{brand[:2].upper()}-{n:05d}"  # keeps every item text distinct
        out.append({"item_id": f"bd-{n:06d}", "title": f"{brand} {adj.title()} {noun.title()} {model}",
                    "description": f"{adj.capitalize()} {noun} from {brand}, made with {material}, "
                                   f"{cat.purpose}.",
                    "brand": brand, "category": name,
                    "price": round(rng.uniform(*cat.price), 2), "attributes": attrs})
    return out


def _home_depot_items(size: int, rng: random.Random) -> list[Event]:
    """Distinct products in file order; beyond the 54,667 there are, numbered variants of them."""
    products = _home_depot()[0]
    out = []
    for n in range(size):
        uid, title = products[n % len(products)]
        lap = n // len(products)
        out.append({"item_id": f"hd-{uid}" + (f"-v{lap}" if lap else ""),
                    "title": title + (f" (variant {lap + 1})" if lap else "")})
    return out


@lru_cache(maxsize=1)
def _home_depot() -> tuple[list[tuple[str, str]], list[str]]:
    """(product uid, title) in first-seen order, and the distinct search terms."""
    from coldstart.evaluation.datasets import datasets_root

    path = datasets_root() / "home_depot" / "train.csv"
    if not path.is_file():
        raise ColdstartError(f"expected {path}; set COLDSTART_DATASETS to the datasets folder")
    products: dict[str, str] = {}
    terms: dict[str, None] = {}
    with Path(path).open(encoding="latin-1", newline="") as fh:
        for row in csv.DictReader(fh):
            products.setdefault(row["product_uid"], row["product_title"])
            terms.setdefault(row["search_term"].strip(), None)
    return list(products.items()), [t for t in terms if t]


def _demo_sentence(rng: random.Random) -> str:
    a, b = (CATEGORIES[rng.choice(list(CATEGORIES))] for _ in range(2))
    words = {"user": rng.choice([u for u, _ in USERS if u]), "adj": rng.choice(a.adjectives),
             "noun": rng.choice(a.nouns), "purpose": a.purpose, "material": rng.choice(a.materials),
             "colour": rng.choice(a.colours or ["any colour"]), "adj2": rng.choice(b.adjectives),
             "noun2": rng.choice(b.nouns), "who": rng.choice(_WHO)}
    return rng.choice(_DEMO_TEMPLATES).format(**words)


def _home_depot_sentence(rng: random.Random) -> str:
    terms = _home_depot()[1]
    return rng.choice(_HD_TEMPLATES).format(t=rng.choice(terms), t2=rng.choice(terms))


def _distinct(count: int, make: Callable[[random.Random], str], rng: random.Random) -> list[str]:
    seen: dict[str, None] = {}
    misses = 0
    while len(seen) < count:
        text = make(rng)
        if text in seen:  # the vocabulary is running out: number the repeats
            misses += 1
            text = f"{text} ({misses})"
        seen.setdefault(text, None)
    return list(seen)

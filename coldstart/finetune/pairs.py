"""Training pairs (text, item text, label): read from a file, or built from a dataset's train split."""
from __future__ import annotations

import csv
import json
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coldstart.errors import ConfigError

TEXT_KEYS = ("text", "query", "description")
ITEM_TEXT_KEYS = ("item_text", "title")


@dataclass(frozen=True)
class Pair:
    """A user text, an item text, and 1.0 when the user engaged with the item (0.0 when not)."""

    text: str
    item: str
    label: float = 1.0


def _first(row: Mapping[str, Any], keys: Sequence[str]) -> str:
    for key in keys:
        value = row.get(key)
        if value not in (None, ""):
            return str(value).strip()
    return ""


def _pair(row: Mapping[str, Any], items: Mapping[str, str] | None, where: str) -> Pair:
    text, item = _first(row, TEXT_KEYS), _first(row, ITEM_TEXT_KEYS)
    if not item and row.get("item_id") not in (None, ""):
        if items is None:
            raise ConfigError(f"{where}: row gives item_id {row['item_id']!r} but no item catalogue was given")
        item = items.get(str(row["item_id"]), "")
        if not item:
            raise ConfigError(f"{where}: item_id {row['item_id']!r} is not in the item catalogue")
    if not text or not item:
        raise ConfigError(f"{where}: expected a text and an item_text (or item_id), got {dict(row)}")
    try:
        label = float(row.get("label", 1.0) if row.get("label") not in (None, "") else 1.0)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: label should be a number, got {row.get('label')!r}") from None
    return Pair(text, item, label)


def read_pairs(path: Path, items: Mapping[str, str] | None = None) -> list[Pair]:
    """Rows of a CSV (with a header) or JSON-lines file: text, item_text or item_id, optional label (1)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"expected a pairs file at {path}, found none")
    with path.open(encoding="utf-8", newline="") as fh:
        if path.suffix.lower() in (".jsonl", ".json", ".ndjson"):
            rows = [(f"{path}:{n}", json.loads(line)) for n, line in enumerate(fh, 1) if line.strip()]
        else:
            rows = [(f"{path}:{n}", row) for n, row in enumerate(csv.DictReader(fh), 2)]
    return [_pair(row, items, where) for where, row in rows]


def read_items(path: Path) -> dict[str, str]:
    """item_id -> text from a catalog JSON-lines file (the catalog topic's events), via coldstart.text.item_text."""
    from coldstart.text.item_text import item_text

    items: dict[str, str] = {}
    with Path(path).open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                event = json.loads(line)
                items[str(event["item_id"])] = item_text(event)
    return items


def catalog_items(events: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """item_id -> text from catalog events in topic order: the last write wins, `deleted` removes."""
    from coldstart.text.item_text import item_text

    items: dict[str, str] = {}
    for event in events:
        item_id = str(event["item_id"])
        if event.get("deleted"):
            items.pop(item_id, None)
        else:
            items[item_id] = item_text(event)
    return items


def home_depot_pairs(train: Iterable[tuple[str, int, float]], titles: Mapping[int, str],
                     min_relevance: float = 2.5, negatives_below: float = 1.5) -> list[Pair]:
    """Train-split rows as pairs: relevance >= min_relevance is a positive, < negatives_below a negative.

    Rows in between are dropped as ambiguous. Only the train split may be passed here (the protocol).
    """
    pairs = []
    for term, pid, rel in train:
        if rel >= min_relevance:
            pairs.append(Pair(term.strip(), titles[pid], 1.0))
        elif rel < negatives_below:
            pairs.append(Pair(term.strip(), titles[pid], 0.0))
    return pairs


def split_by_text(pairs: Sequence[Pair], fraction: float, seed: int) -> tuple[list[Pair], list[Pair]]:
    """(train, validation): a `fraction` of the distinct texts, with all their pairs, is held out."""
    texts = sorted({p.text for p in pairs})
    random.Random(seed).shuffle(texts)
    held = set(texts[: round(len(texts) * fraction)]) if fraction > 0 else set()
    return [p for p in pairs if p.text not in held], [p for p in pairs if p.text in held]

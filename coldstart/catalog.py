"""The catalogue a worker serves from: item vectors in an index, titles, and the ad inventory."""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from coldstart.ads.placement import Ad
from coldstart.index import IndexConfig, ItemIndex, make_index
from coldstart.text.item_text import ad_text, item_text
from coldstart.text.lexical import SERVED, LexicalIndex


@dataclass(frozen=True)
class AdEntry:
    """An ad as stored: its own text vector (if it has text) and the item it promotes."""

    ad_id: str
    bid: float
    item_id: str | None
    text: str | None
    active: bool
    text_vec: np.ndarray | None


class Catalog:
    """Upserts and deletes of items and ads, applied in batches with one encoder call each.
    Item texts are indexed three times: as vectors (`index`), and for BM25 as words and as
    character trigrams (`lexical`)."""

    def __init__(self, dim: int, index_config: IndexConfig | None = None) -> None:
        self.index: ItemIndex = make_index(dim, index_config)
        self.lexical = tuple(LexicalIndex(analyzer) for analyzer in SERVED)
        self.index_config = index_config
        self.titles: dict[str, str] = {}
        self.categories: dict[str, str] = {}  # item_id -> its category, for reasons (if it has one)
        self.texts: dict[str, str] = {}  # item_id -> the text its vector came from
        self._ads: dict[str, AdEntry] = {}
        self._ad_cache: list[Ad] | None = None

    def __len__(self) -> int:
        return len(self.index)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self.index

    # Each batch is applied in two steps, texts_* then apply_*, so that the caller can run the
    # encoder wherever it likes (a thread, a cache) while the index changes in one place.
    def item_texts(self, events: Sequence[Mapping[str, Any]]) -> list[str]:
        """The texts `apply_items` needs vectors for, in order."""
        return [item_text(e) for e in _live(_latest(events, "item_id"))]

    def apply_items(self, events: Sequence[Mapping[str, Any]], vectors: np.ndarray) -> int:
        """Apply validated catalog events (last write per item wins); return how many items."""
        latest = _latest(events, "item_id")
        gone = [i for i, e in latest.items() if e.get("deleted")]
        live = _live(latest)
        if gone:
            self.index.delete([i for i in gone if i in self.index])
            for lexical in self.lexical:
                lexical.delete(gone)
            for item_id in gone:
                self.titles.pop(item_id, None)
                self.categories.pop(item_id, None)
                self.texts.pop(item_id, None)
        if live:
            ids = [e["item_id"] for e in live]
            self.index.upsert(ids, vectors)
            self.titles.update({e["item_id"]: str(e["title"]) for e in live})
            for e in live:
                if e.get("category"):
                    self.categories[e["item_id"]] = str(e["category"])
                else:
                    self.categories.pop(e["item_id"], None)
            self.texts.update({e["item_id"]: item_text(e) for e in live})
            for lexical in self.lexical:
                lexical.upsert(ids, [self.texts[i] for i in ids])
        self._ad_cache = None
        return len(latest)

    def ad_texts(self, events: Sequence[Mapping[str, Any]]) -> list[str]:
        """The texts `apply_ads` needs vectors for: ads with their own text, in order."""
        return [ad_text(e) for e in _latest(events, "ad_id").values() if e.get("text")]

    def apply_ads(self, events: Sequence[Mapping[str, Any]], vectors: np.ndarray) -> int:
        """Apply validated ads events; text ads use their vector, item ads borrow the item's."""
        latest = _latest(events, "ad_id")
        with_text = [e for e in latest.values() if e.get("text")]
        text_vecs = {e["ad_id"]: vectors[i] for i, e in enumerate(with_text)}
        for ad_id, e in latest.items():
            if e.get("active") is False:  # out of rotation: kept nowhere until it comes back
                self._ads.pop(ad_id, None)
                continue
            self._ads[ad_id] = AdEntry(ad_id, float(e["bid"]), e.get("item_id"), e.get("text"),
                                       bool(e.get("active", True)), text_vecs.get(ad_id))
        self._ad_cache = None
        return len(latest)

    def ads(self) -> list[Ad]:
        """Ads ready for placement; an item ad whose item is unknown or deleted is left out."""
        if self._ad_cache is None:
            self._ad_cache = [ad for entry in self._ads.values() if (ad := self._resolve(entry))]
        return self._ad_cache

    def _resolve(self, entry: AdEntry) -> Ad | None:
        item_vec = self.index.vector(entry.item_id) if entry.item_id else None
        if entry.item_id and item_vec is None and entry.text_vec is None:
            return None
        vector = entry.text_vec if entry.text_vec is not None else item_vec
        item_id = entry.item_id if item_vec is not None else None
        return Ad(entry.ad_id, entry.bid, item_id, entry.text, entry.active, vector)

    def item_vector(self, item_id: str) -> np.ndarray | None:
        return self.index.vector(item_id)

    def contents(self) -> CatalogContents:
        """A copy of what the vectors come from (cheap: no vectors), to embed under another model.

        Take it where the catalogue changes (the event loop); embedding it can then run in
        another thread while this catalogue keeps serving and changing.
        """
        return CatalogContents({i: (self.titles[i], t) for i, t in self.texts.items()},
                               dict(self._ads), self.index_config, dict(self.categories))


@dataclass(frozen=True)
class CatalogContents:
    """A catalogue's items (title, text) and ads, without vectors."""

    items: dict[str, tuple[str, str]]
    ads: dict[str, AdEntry]
    index_config: IndexConfig | None = None
    categories: dict[str, str] = field(default_factory=dict)

    def embed(self, dim: int, encode: Callable[[list[str]], np.ndarray]) -> Catalog:
        """A new catalogue of these items and ads, vectors from `encode` (one call for the
        items, one for the text ads)."""
        catalog = Catalog(dim, self.index_config)
        ids = list(self.items)
        if ids:
            catalog.index.upsert(ids, encode([self.items[i][1] for i in ids]))
        catalog.titles = {i: title for i, (title, _) in self.items.items()}
        catalog.texts = {i: text for i, (_, text) in self.items.items()}
        catalog.categories = dict(self.categories)
        for lexical in catalog.lexical:
            lexical.upsert(ids, [catalog.texts[i] for i in ids])
        with_text = [e for e in self.ads.values() if e.text]
        vectors: Sequence[np.ndarray] | np.ndarray = (encode([ad_text({"text": e.text}) for e in with_text])
                                         if with_text else [])
        catalog._ads = dict(self.ads)
        for entry, vec in zip(with_text, vectors):
            catalog._ads[entry.ad_id] = replace(entry, text_vec=vec)
        return catalog


def _latest(events: Sequence[Mapping[str, Any]], key: str) -> dict[str, Mapping[str, Any]]:
    return {event[key]: event for event in events}


def _live(latest: Mapping[str, Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [e for e in latest.values() if not e.get("deleted")]

"""A small hand-made shop (running gear and kitchenware) shared by the engine's unit tests."""
from __future__ import annotations

from collections.abc import Sequence

from coldstart.catalog import Catalog
from coldstart.encoder.encoder import Encoder
from coldstart.engine import Engine

SHOP_ITEMS = [
    {"item_id": "run-1", "title": "Trail running shoes", "category": "running"},
    {"item_id": "run-2", "title": "Lightweight rain jacket for runners", "category": "running"},
    {"item_id": "run-3", "title": "Running socks, merino", "category": "running"},
    {"item_id": "run-4", "title": "Running cap with a visor", "category": "running"},
    {"item_id": "pan-1", "title": "Stainless steel saucepan", "category": "kitchen"},
    {"item_id": "pan-2", "title": "Cast iron frying pan", "category": "kitchen"},
    {"item_id": "pan-3", "title": "Chef's knife, 20 cm", "category": "kitchen"},
    {"item_id": "pan-4", "title": "Wooden chopping board", "category": "kitchen"},
]


def without(*item_ids: str) -> list[dict[str, str]]:
    """The shop less some items."""
    return [item for item in SHOP_ITEMS if item["item_id"] not in item_ids]


def shop_engine(encoder: Encoder, items: Sequence[dict[str, str]] = SHOP_ITEMS) -> Engine:
    """An engine over `items` (the whole shop by default), four items per list."""
    catalog = Catalog(encoder.dim)
    catalog.apply_items(items, encoder.encode_items(catalog.item_texts(items)))
    return Engine(catalog, encoder.encode_users, encoder.version, top_k=4)

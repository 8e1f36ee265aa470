"""A signup's or search's list comes from the worker's text retrieval: BM25 over words and over
character trigrams and dense fused, the top re-read by the model version's re-ranker when it has one."""
from __future__ import annotations

import numpy as np
import pytest

from coldstart.catalog import Catalog
from coldstart.encoder.encoder import Encoder
from coldstart.engine import Engine
from coldstart.ranking.blend import BlendConfig
from coldstart.text.retrieval import RetrievalConfig

ITEMS = [
    {"item_id": "drill-1", "title": "Cordless drill driver, 18 V"},
    {"item_id": "drill-2", "title": "Hammer drill with two batteries"},
    {"item_id": "drill-3", "title": "Makita XFD131 compact driver kit"},
    {"item_id": "saw-1", "title": "Circular saw, 7-1/4 in. blade"},
    {"item_id": "pan-1", "title": "Stainless steel saucepan"},
    {"item_id": "pan-2", "title": "Cast iron frying pan"},
]


@pytest.fixture
def catalog(encoder: Encoder) -> Catalog:
    catalog = Catalog(encoder.dim)
    catalog.apply_items(ITEMS, encoder.encode_items(catalog.item_texts(ITEMS)))
    return catalog


def signup(text: str) -> tuple[str, dict]:
    return "signups", {"event_id": "s-1", "user_id": "u1", "description": text, "ts": 1}


def first_items(engine: Engine, text: str, n: int = 3) -> list[str]:
    (rec,) = engine.handle_users([signup(text)], {}).recommendations
    return [i["item_id"] for i in rec["items"][:n]]


HAND_MADE_QUERY = (np.array([0.9, 0.4, 0.17, 0.0]) / np.linalg.norm([0.9, 0.4, 0.17, 0.0])).astype(np.float32)


@pytest.fixture
def hand_made() -> tuple[Catalog, Engine]:
    """Four items on the axes and one query vector for every text: dense alone ranks A, B, C, D."""
    catalog = Catalog(4)
    items = [{"item_id": i, "title": t} for i, t in
             (("A", "garden gnome"), ("B", "patio chair"), ("C", "brass hinge, 3 in."), ("D", "rope"))]
    catalog.apply_items(items, np.eye(4, dtype=np.float32))
    engine = Engine(catalog, lambda texts: np.tile(HAND_MADE_QUERY, (len(texts), 1)), "hand-made", top_k=3,
                    blend=BlendConfig(explore_rate=0.0))
    return catalog, engine


def test_a_signup_list_follows_the_fused_order_not_the_dense_one(hand_made) -> None:
    """Only C has the words; fused, C leads."""
    catalog, engine = hand_made
    assert catalog.index.search(HAND_MADE_QUERY, 3)[0][0] == ["A", "B", "C"]
    assert first_items(engine, "brass hinge") == ["C", "A", "B"]


def test_a_misspelled_signup_still_finds_the_item_by_its_trigrams(hand_made) -> None:
    """No word of "bras hingez" is in any title, but C shares trigrams with it, so C still leads."""
    catalog, engine = hand_made
    words, trigrams = catalog.lexical
    assert words.search("bras hingez", 3)[0] == [] and trigrams.search("bras hingez", 3)[0] == ["C"]
    assert first_items(engine, "bras hingez") == ["C", "A", "B"]


def test_the_reranker_orders_the_top_of_the_hybrid_list(encoder: Encoder, catalog: Catalog) -> None:
    seen: list[tuple[str, list[str]]] = []

    class SaucepansFirst:
        rank_prior = 0.0

        def scores(self, queries: list[str], texts: list[str]) -> np.ndarray:
            seen.append((queries[0], list(texts)))
            return np.array([5.0 if "saucepan" in t.lower() else 0.0 for t in texts])

    engine = Engine(catalog, encoder.encode_users, encoder.version, top_k=3, reranker=SaucepansFirst(),
                    retrieval=RetrievalConfig(rerank_depth=6))
    assert first_items(engine, "a drill for my garage", 1) == ["pan-1"]
    assert seen and seen[0][0] == "a drill for my garage" and len(seen[0][1]) == 6
    without = Engine(catalog, encoder.encode_users, encoder.version, top_k=3)
    assert first_items(without, "a drill for my garage", 1)[0].startswith("drill")
    off = Engine(catalog, encoder.encode_users, encoder.version, top_k=3, reranker=SaucepansFirst(),
                 retrieval=RetrievalConfig(rerank_depth=0))
    assert first_items(off, "a drill for my garage", 1)[0].startswith("drill")
    assert len(seen) == 1  # depth 0: never called

    # a batch's signups and searches are re-read in one call
    batch = [signup("a drill for my garage"),
             ("searches", {"event_id": "q-1", "user_id": "u2", "query": "frying pan", "ts": 2})]
    result = engine.handle_users(batch, {})
    assert len(result.recommendations) == 2 and len(seen) == 2 and len(seen[1][1]) == 12


def test_deleted_items_leave_the_text_retrieval(encoder: Encoder, catalog: Catalog) -> None:
    catalog.apply_items([{"item_id": "drill-3", "deleted": True}], np.zeros((0, encoder.dim), np.float32))
    engine = Engine(catalog, encoder.encode_users, encoder.version, top_k=3)
    assert "drill-3" not in first_items(engine, "makita xfd131", 3)
    assert all("drill-3" not in lexical for lexical in catalog.lexical)

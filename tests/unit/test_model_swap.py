"""A new model's catalogue and engine: same items and ads, new vectors, the learned state kept."""
from __future__ import annotations

import numpy as np

from coldstart.catalog import Catalog
from coldstart.encoder.encoder import Encoder
from coldstart.engine import Engine

ITEMS = [
    {"item_id": "run-1", "title": "Trail running shoes", "category": "running"},
    {"item_id": "pan-1", "title": "Cast iron frying pan", "category": "kitchen"},
    {"item_id": "gone", "title": "Discontinued kettle", "category": "kitchen"},
]
ADS = [{"ad_id": "ad-text", "text": "Fresh coffee beans", "bid": 1.0},
       {"ad_id": "ad-item", "item_id": "pan-1", "bid": 2.0}]


def negated(encode):  # type: ignore[no-untyped-def]
    """A stand-in 'new model' whose vectors are known: the old ones, negated."""
    return lambda texts: -encode(texts)


def loaded(encoder: Encoder) -> Catalog:
    catalog = Catalog(encoder.dim)
    catalog.apply_items(ITEMS, encoder.encode_items(catalog.item_texts(ITEMS)))
    catalog.apply_items([{"item_id": "gone", "title": "x", "deleted": True}], np.zeros((0, encoder.dim)))
    catalog.apply_ads(ADS, encoder.encode_items(catalog.ad_texts(ADS)))
    return catalog


def test_reembedded_catalogue_has_the_same_items_and_ads_with_new_vectors(encoder: Encoder) -> None:
    old = loaded(encoder)
    calls: list[int] = []

    def encode(texts: list[str]) -> np.ndarray:
        calls.append(len(texts))
        return negated(encoder.encode_items)(texts)

    new = old.contents().embed(encoder.dim, encode)
    assert set(new.titles) == set(old.titles) == {"run-1", "pan-1"} and "gone" not in new
    assert calls == [2, 1]  # one call for the items, one for the text ads
    for item in ("run-1", "pan-1"):
        np.testing.assert_allclose(new.item_vector(item), -old.item_vector(item), atol=1e-6)
    ads = {ad.ad_id: ad for ad in new.ads()}
    old_ads = {ad.ad_id: ad for ad in old.ads()}
    assert set(ads) == set(old_ads) == {"ad-text", "ad-item"}
    np.testing.assert_allclose(ads["ad-text"].vector, -old_ads["ad-text"].vector, atol=1e-6)
    np.testing.assert_allclose(ads["ad-item"].vector, new.item_vector("pan-1"), atol=1e-6)
    np.testing.assert_allclose(old.item_vector("run-1"), encoder.encode_items(old.item_texts(ITEMS[:1]))[0],
                               atol=1e-6)  # the old catalogue is untouched


def test_new_engine_shares_what_the_old_one_learned(encoder: Encoder) -> None:
    old = Engine(loaded(encoder), encoder.encode_users, "old-version", top_k=2)
    old.popularity.update("run-1", "purchase", 1_000)
    old.load_feedback("arm:content", shown=10, clicked=4)
    old.load_feedback("ad:ad-text", shown=5, clicked=1)
    new = old.with_model(old.catalog.contents().embed(encoder.dim, encoder.encode_items), encoder.encode_users,
                         "new-version")
    assert new.model_version == "new-version" and new.top_k == 2
    assert new.popularity is old.popularity and new.cooc is old.cooc
    assert new.bandit.betas["content"].clicked == 4 and new.ad_ctr.betas["ad-text"].shown == 5
    (rec,) = new.handle_users([("signups", {"event_id": "s1", "user_id": "u1",
                                            "description": "trail running", "ts": 2_000})], {}).recommendations
    assert rec["model_version"] == "new-version"
    old.popularity.update("pan-1", "click", 3_000)  # learned after the swap still counts
    assert "pan-1" in new.popularity


def test_contents_are_a_copy_so_the_old_catalogue_can_change_meanwhile(encoder: Encoder) -> None:
    old = loaded(encoder)
    contents = old.contents()
    old.apply_items([{"item_id": "run-1", "title": "x", "deleted": True}], np.zeros((0, encoder.dim)))
    assert "run-1" not in old and "run-1" in contents.embed(encoder.dim, encoder.encode_items)

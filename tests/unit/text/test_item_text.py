"""Item and ad texts: every telling field in, in a stable order, description kept short."""
from __future__ import annotations

from coldstart.text.item_text import ad_text, item_text, price_band, shorten

SHOE = {"item_id": "i1", "title": "Trail 3", "brand": "Acme", "category": "running shoes",
        "description": "Light trail shoe with a grippy sole.", "price": 59.0,
        "attributes": {"colour": "red", "size": 10.0}}


def test_item_text_composes_all_fields_in_order() -> None:
    assert item_text(SHOE) == ("Trail 3 by Acme. Category: running shoes. Light trail shoe with "
                               "a grippy sole. colour: red; size: 10. Price: mid-range.")


def test_brand_already_in_title_is_not_repeated_and_missing_fields_are_skipped() -> None:
    assert item_text({"title": "Acme Trail 3", "brand": "Acme"}) == "Acme Trail 3."
    assert item_text({"title": " Hat\n", "price": None, "attributes": "x"}) == "Hat."


def test_long_description_is_cut_at_a_word() -> None:
    text = item_text({"item_id": "i4", "title": "Tent", "description": "waterproof " * 200})
    assert 300 < len(text) < 450 and text.endswith("waterproof.")


def test_price_bands() -> None:
    assert [price_band(p) for p in (5, 24.99, 25, 99, 100, 2500)] == [
        "budget", "budget", "mid-range", "mid-range", "premium", "premium"]
    assert [price_band(p) for p in (None, "abc", -1, float("nan"), True)] == [""] * 5


def test_shorten_marks_a_cut() -> None:
    cut = shorten("trail running shoes for muddy mountain paths", 40)
    assert cut == "trail running shoes for muddy mountain…"
    assert shorten("short", 40) == "short"


def test_ad_text_joins_own_text_and_item_text() -> None:
    text = ad_text({"ad_id": "a", "text": "Summer sale!"}, SHOE)
    assert text.startswith("Summer sale! Trail 3 by Acme.")
    assert ad_text({"ad_id": "a", "text": "Summer sale"}) == "Summer sale."
    assert ad_text({"ad_id": "a", "item_id": "unknown"}, None) == ""

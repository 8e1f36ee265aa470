"""The text an item or ad is embedded from: title, brand, category, description, price..."""
from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

DESCRIPTION_CHARS = 400
MAX_ATTRIBUTES = 12
PRICE_BANDS = ((25.0, "budget"), (100.0, "mid-range"), (math.inf, "premium"))

_SPACE = re.compile(r"\s+")


def clean(value: Any) -> str:
    """A field as one line of text: whitespace collapsed, None and non-text values as ''."""
    if value is None or isinstance(value, (dict, list, bool)):
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return _SPACE.sub(" ", str(value)).strip()


def shorten(text: str, limit: int, ellipsis: str = "…") -> str:
    """`text` cut to at most `limit` characters at a word boundary, marked with an ellipsis."""
    text = clean(text)
    if len(text) <= limit:
        return text
    cut = text[: max(1, limit - len(ellipsis))]
    if " " in cut[len(cut) // 2 :]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;:.-") + ellipsis


def sentence(text: str) -> str:
    """`text` ending in a full stop unless it already ends in one, '!' or '?' ('' stays '')."""
    return text if not text or text[-1] in ".!?" else text + "."


def price_band(price: Any) -> str:
    """'budget', 'mid-range' or 'premium' for a price, or '' when there is no usable price."""
    try:
        value = float(price)
    except (TypeError, ValueError):
        return ""
    if isinstance(price, bool) or not math.isfinite(value) or value < 0:
        return ""
    return next(word for bound, word in PRICE_BANDS if value < bound)


def attributes_text(attributes: Any) -> str:
    """'colour: red; size: 10' from a mapping: the first MAX_ATTRIBUTES, empty ones skipped."""
    if not isinstance(attributes, Mapping):
        return ""
    pairs = [(clean(k), clean(v)) for k, v in attributes.items()]
    return "; ".join([f"{k}: {v}" for k, v in pairs if k and v][:MAX_ATTRIBUTES])


def item_text(item: Mapping[str, Any]) -> str:
    """One sentence-like text for a catalog item, most telling fields first.

    e.g. "Acme Trail 3 by Acme. Category: shoes. Light trail shoe for wet days. colour: red;
    size: 10. Price: mid-range." The description is cut at a word near DESCRIPTION_CHARS.
    """
    title, brand = clean(item.get("title")), clean(item.get("brand"))
    head = f"{title} by {brand}" if title and brand and brand not in title else title or brand
    band = price_band(item.get("price"))
    parts = [
        head,
        f"Category: {clean(item.get('category'))}" if clean(item.get("category")) else "",
        shorten(clean(item.get("description")), DESCRIPTION_CHARS, ellipsis=""),
        attributes_text(item.get("attributes")),
        f"Price: {band}" if band else "",
    ]
    return " ".join(sentence(p) for p in parts if p)


def ad_text(ad: Mapping[str, Any], item: Mapping[str, Any] | None = None) -> str:
    """The ad's own text followed by its item's text; '' if it has neither (embed it later)."""
    parts = [sentence(clean(ad.get("text"))), item_text(item) if item else ""]
    return " ".join(p for p in parts if p)

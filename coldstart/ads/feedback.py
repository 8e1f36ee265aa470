"""Ad click-through from clicks: what a page view placed, and which ad a later click credits.

An ad counts as shown when it is placed (`impressions`) and as clicked at the first click that a
placement explains: the click names the placement (`recommendation_id` = `placement_id`), or, when
it names nothing we served, it lands on an item that one of the user's recent placements promoted.
A click that names a recommendation list belongs to that list, not to an ad. The user's recent
placements live in their `ServedLog` (coldstart/ranking/bandit.py), beside the lists they were served.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

AdRef = tuple[str, "str | None"]  # (ad_id, the item it promotes or None)


@dataclass(frozen=True)
class PlacedAds:
    """One page view's ads, most prominent first, and the ads of it already credited a click."""

    ads: tuple[AdRef, ...]
    clicked: frozenset[str] = frozenset()

    def promotes(self, item_id: str) -> bool:
        return any(item == item_id for _, item in self.ads)

    def credit(self, item_id: str, named: bool) -> str | None:
        """The ad a click on `item_id` is credited to, or None (already credited, or no such ad).

        The ad promoting the item; when the click names this placement and no ad promotes the
        item, the most prominent text-only ad (it led somewhere we cannot see, likely here).
        """
        ad = next((a for a, item in self.ads if item == item_id), None)
        if ad is None and named:
            ad = next((a for a, item in self.ads if item is None), None)
        return None if ad is None or ad in self.clicked else ad

    def with_click(self, ad_id: str) -> PlacedAds:
        return replace(self, clicked=self.clicked | {ad_id})

    def to_list(self) -> list[Any]:
        return [[list(a) for a in self.ads], sorted(self.clicked)]

    @classmethod
    def from_list(cls, data: list[Any]) -> PlacedAds:
        ads, clicked = data
        return cls(tuple((str(a), None if i is None else str(i)) for a, i in ads),
                   frozenset(map(str, clicked)))


def placed_ads(ad_slots: Mapping[str, Any]) -> PlacedAds:
    """The ads of an `ad_slots` event (the contract's shape), in slot prominence order."""
    return PlacedAds(tuple((str(p["ad_id"]), p.get("item_id")) for p in ad_slots["placements"]))


def impressions(ad_slots: Iterable[Mapping[str, Any]]) -> dict[str, tuple[int, int]]:
    """Feedback increments for placed ads: "ad:<id>" -> (shown, 0)."""
    counts: dict[str, tuple[int, int]] = {}
    for event in ad_slots:
        for p in event["placements"]:
            key = f"ad:{p['ad_id']}"
            counts[key] = (counts.get(key, (0, 0))[0] + 1, 0)
    return counts

"""Attribution's memory: the lists and ad placements a user was served, so a click can credit them.

Clicks are keyed by user_id, so a user's `ServedLog` lives beside the profile, in a table keyed by
user_id; plain JSON (`to_dict` / `from_dict`).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from coldstart.ads.feedback import PlacedAds


@dataclass(frozen=True)
class Served:
    """One served list: the strategy that ranked it, its items, the explored ones, clicked yet."""

    arm: str
    items: tuple[str, ...]
    explored: tuple[str, ...] = ()
    clicked: bool = False


@dataclass(frozen=True)
class ServedLog:
    """A user's latest served lists by recommendation_id and latest ad placements by
    placement_id (oldest first, each bounded): attribution's memory.

    Clicks are keyed by user_id, so this lives beside the profile, in a table keyed by user_id.
    """

    lists: tuple[tuple[str, Served], ...] = ()
    cap: int = 20
    ads: tuple[tuple[str, PlacedAds], ...] = ()
    ads_cap: int = 20

    def served(self, recommendation_id: str, served: Served) -> ServedLog:
        """Remember a list (a repeat of the same id replaces it, keeping its clicked flag)."""
        old = dict(self.lists).get(recommendation_id)
        if old is not None:
            served = replace(served, clicked=old.clicked)
        kept = tuple(kv for kv in self.lists if kv[0] != recommendation_id)
        return replace(self, lists=(kept + ((recommendation_id, served),))[-self.cap:])

    def attribute(self, recommendation_id: str | None,
                  item_id: str) -> tuple[ServedLog, Served | None, bool]:
        """(new log, the list this click came from or None, True when it is that list's first
        click). A click counts only when the item was in the list."""
        served = dict(self.lists).get(recommendation_id or "")
        if served is None or item_id not in served.items:
            return self, None, False
        if served.clicked:
            return self, served, False
        clicked = replace(served, clicked=True)
        lists = tuple((k, clicked if k == recommendation_id else v) for k, v in self.lists)
        return replace(self, lists=lists), clicked, True

    def placed(self, placement_id: str, ads: PlacedAds) -> ServedLog:
        """Remember a page view's ads (a repeat of the same id keeps the clicks it had)."""
        old = dict(self.ads).get(placement_id)
        if old is not None:
            ads = replace(ads, clicked=old.clicked)
        kept = tuple(kv for kv in self.ads if kv[0] != placement_id)
        return replace(self, ads=(kept + ((placement_id, ads),))[-self.ads_cap:])

    def attribute_ad(self, recommendation_id: str | None,
                     item_id: str) -> tuple[ServedLog, str | None]:
        """(new log, the ad this click credits or None); see coldstart/ads/feedback.py."""
        named = dict(self.ads).get(recommendation_id or "")
        if named is None and recommendation_id and recommendation_id in dict(self.lists):
            return self, None  # it came from a recommendation list, not from an ad
        if named is not None:
            key: str | None = recommendation_id
        else:  # the newest placement that promoted the item
            key = next((k for k, p in reversed(self.ads) if p.promotes(item_id)), None)
        if key is None:
            return self, None
        ad = dict(self.ads)[key].credit(item_id, named=named is not None)
        if ad is None:
            return self, None
        ads = tuple((k, p.with_click(ad) if k == key else p) for k, p in self.ads)
        return replace(self, ads=ads), ad

    def to_dict(self) -> dict[str, Any]:
        return {"cap": self.cap, "lists": [[k, v.arm, list(v.items), list(v.explored), v.clicked]
                                          for k, v in self.lists],
                "ads_cap": self.ads_cap, "ads": [[k, *v.to_list()] for k, v in self.ads]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ServedLog:
        lists = tuple((k, Served(arm, tuple(items), tuple(explored), bool(clicked)))
                      for k, arm, items, explored, clicked in data["lists"])
        ads = tuple((k, PlacedAds.from_list([placed, clicked]))
                    for k, placed, clicked in data.get("ads", ()))  # older values have none
        return cls(lists, int(data["cap"]), ads, int(data.get("ads_cap", 20)))

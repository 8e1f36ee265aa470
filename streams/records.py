"""One faust.Record per contract topic, its fields as in schemas/*.json (tests keep them in step)."""
from __future__ import annotations

import functools
import typing
from typing import Any, Mapping

import faust

from coldstart.errors import ColdstartError


class Event(faust.Record, abstract=True, include_metadata=False, serializer="json", coerce=True):
    """Base of every topic's record: contract JSON on the wire, no faust metadata, no null optionals."""

    def to_representation(self) -> dict[str, Any]:
        """The event as the contract shapes it: optional fields left out when they are None."""
        optional = self._options.optionalset
        return {k: v for k, v in super().to_representation().items() if v is not None or k not in optional}

    @classmethod
    def from_data(cls, data: Mapping[str, Any], *, preferred_type: type | None = None) -> Event:
        """Build from a decoded dict as from_event does (faust's own path leaves nested dicts)."""
        return data if isinstance(data, Event) else _build(cls, data)


# --- input topics ------------------------------------------------------------------------------

class CatalogItem(Event):
    item_id: str
    title: str
    description: str | None = None
    brand: str | None = None
    category: str | None = None
    price: float | None = None
    attributes: dict[str, str | float] | None = None
    deleted: bool = False
    ts: int | None = None


Catalog = CatalogItem  # the record of the `catalog` topic, by either name


class Ad(Event):
    ad_id: str
    bid: float
    item_id: str | None = None
    text: str | None = None
    active: bool = True
    ts: int | None = None


class Signup(Event):
    event_id: str
    user_id: str
    description: str
    ts: int
    locale: str | None = None


class Search(Event):
    event_id: str
    user_id: str
    query: str
    ts: int


class Click(Event):
    event_id: str
    user_id: str
    item_id: str
    action: str
    ts: int
    recommendation_id: str | None = None


class Slot(Event):
    slot_id: str
    position: int


class PageView(Event):
    event_id: str
    user_id: str
    page_id: str
    slots: list[Slot]
    ts: int
    context_item_id: str | None = None


class UserDeletion(Event):
    user_id: str
    ts: int


# --- output topics -----------------------------------------------------------------------------

class RecommendedItem(Event):
    item_id: str
    score: float
    reason: str


class Recommendation(Event):
    recommendation_id: str
    user_id: str
    trigger: str
    trigger_event_id: str
    items: list[RecommendedItem]
    model_version: str
    source_ts: int
    produced_ts: int


class Placement(Event):
    slot_id: str
    ad_id: str
    score: float
    item_id: str | None = None


class AdSlots(Event):
    placement_id: str
    user_id: str
    page_id: str
    trigger_event_id: str
    placements: list[Placement]
    source_ts: int
    produced_ts: int


class DeadLetter(Event):
    source_topic: str
    partition: int
    offset: int
    key: str
    payload: str
    error: str
    ts: int


RECORDS: dict[str, type[Event]] = {
    "catalog": CatalogItem, "ads": Ad, "signups": Signup, "searches": Search, "clicks": Click,
    "page_views": PageView, "user_deletions": UserDeletion, "recommendations": Recommendation,
    "ad_slots": AdSlots, "dead_letters": DeadLetter,
}


def record_type(topic: str) -> type[Event]:
    """The Record class of a contract topic (unprefixed name)."""
    try:
        return RECORDS[topic]
    except KeyError:
        raise ColdstartError(f"unknown topic {topic!r}; expected one of {', '.join(RECORDS)}") from None


def from_event(topic: str, value: Mapping[str, Any]) -> Event:
    """Build the topic's Record from a validated event dict; unknown keys are dropped, null means absent."""
    return _build(record_type(topic), value)


def to_event(record: Event) -> dict[str, Any]:
    """The plain dict of a Record (nested records too), optional fields left out when None."""
    return {k: _plain(v) for k, v in record.to_representation().items()}


def _build(cls: type[Event], value: Mapping[str, Any]) -> Event:
    fields, nested = cls._options.fields, _nested_fields(cls)
    kwargs = {k: v for k, v in value.items() if k in fields and v is not None}
    for name, item_cls in nested.items():
        if name in kwargs:
            kwargs[name] = [item_cls.from_data(item) for item in kwargs[name]]
    return cls(**kwargs)


@functools.cache
def _nested_fields(cls: type[Event]) -> dict[str, type[Event]]:
    """Fields typed list[SomeRecord], by name."""
    nested = {}
    for name, hint in cls._options.fields.items():
        args = typing.get_args(hint)
        if typing.get_origin(hint) is list and args and isinstance(args[0], type) and issubclass(args[0], Event):
            nested[name] = args[0]
    return nested


def _plain(value: Any) -> Any:
    if isinstance(value, Event):
        return to_event(value)
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value

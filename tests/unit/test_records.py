"""Each topic's faust.Record agrees with its JSON Schema, and events pass through Records unchanged."""
from __future__ import annotations

import json
import types
import typing
from typing import Any

import pytest

import schemas
from coldstart.errors import ColdstartError
from streams import records
from streams.records import Event

JSON_TYPES: dict[str, type] = {"string": str, "integer": int, "number": float, "boolean": bool,
                               "array": list, "object": dict}


def resolve(prop: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    """A property's definition with a local $ref followed."""
    ref = prop.get("$ref")
    return spec["definitions"][ref.rsplit("/", 1)[1]] if ref else prop


def json_type(prop: dict[str, Any]) -> type:
    """The Python type of a property, null aside (an enum of strings is a string)."""
    if "enum" in prop:
        return str
    declared = prop["type"]
    names = [declared] if isinstance(declared, str) else declared
    found = {JSON_TYPES[name] for name in names if name != "null"}
    assert len(found) == 1 or found == {str, float}, prop
    return dict if dict in found else found.pop()


def field_type(hint: Any) -> type:
    """The Python type of a Record field, Optional aside."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        assert len(args) == 1, hint
        return field_type(args[0])
    return typing.get_origin(hint) or hint


def check_agrees(cls: type[Event], object_schema: dict[str, Any], spec: dict[str, Any], where: str) -> None:
    props = object_schema["properties"]
    fields = cls._options.fields
    assert list(fields) and set(fields) == set(props), f"{where}: field names differ"
    optional = set(cls._options.defaults)
    assert optional == set(props) - set(object_schema["required"]), f"{where}: optional fields differ"
    for name, hint in fields.items():
        prop = resolve(props[name], spec)
        assert field_type(hint) is json_type(prop), f"{where}.{name}: {hint} vs {prop}"
        if "default" in prop:
            assert cls._options.defaults[name] == prop["default"], f"{where}.{name}: defaults differ"
        elif name in optional:
            assert cls._options.defaults[name] is None, f"{where}.{name}: default without schema default"
        item = typing.get_args(hint)[0] if field_type(hint) is list else None
        if isinstance(item, type) and issubclass(item, Event):
            check_agrees(item, prop["items"], spec, f"{where}.{name}[]")


def test_every_topic_has_one_record() -> None:
    assert tuple(records.RECORDS) == schemas.TOPICS
    assert len(set(records.RECORDS.values())) == len(schemas.TOPICS)
    assert records.Catalog is records.CatalogItem


@pytest.mark.parametrize("topic", schemas.TOPICS)
def test_record_fields_agree_with_the_schema(topic: str) -> None:
    spec = schemas.schema(topic)
    check_agrees(records.record_type(topic), spec, spec, topic)


@pytest.mark.parametrize("topic", schemas.TOPICS)
def test_an_event_passes_through_its_record_unchanged(topic: str) -> None:
    event = schemas.schema(topic)["examples"][0]
    record = records.from_event(topic, schemas.decode(topic, json.dumps(event).encode()))
    assert isinstance(record, records.record_type(topic))
    assert records.to_event(record) == event
    assert schemas.decode(topic, record.dumps()) == event  # on the wire: contract JSON, no faust metadata
    assert type(record).loads(record.dumps()) == record


def test_nested_records_are_records_whichever_way_they_are_built() -> None:
    event = schemas.schema("page_views")["examples"][0]
    for page in (records.from_event("page_views", event), records.PageView.loads(json.dumps(event).encode())):
        assert all(isinstance(slot, records.Slot) for slot in page.slots)
        assert page.slots[0].position == 1


def test_unknown_keys_are_dropped_and_null_means_default() -> None:
    ad = records.from_event("ads", {"ad_id": "a", "bid": 2, "text": "t", "active": None, "item_id": None, "new": 1})
    assert ad.active is True and ad.item_id is None and ad.bid == 2.0
    assert records.to_event(ad) == {"ad_id": "a", "bid": 2.0, "text": "t", "active": True}


def test_output_records_coerce_numbers_so_they_serialise() -> None:
    class Float32(float):  # stands in for numpy.float32, which is not a JSON number
        pass

    item = records.RecommendedItem(item_id="i", score=Float32(0.5), reason="r")
    assert type(item.score) is float
    assert records.to_event(records.Placement(slot_id="s", ad_id="a", score=1)) == {"slot_id": "s", "ad_id": "a", "score": 1.0}


def test_unknown_topic() -> None:
    with pytest.raises(ColdstartError, match="unknown topic 'click'"):
        records.from_event("click", {})

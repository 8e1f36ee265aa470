"""The contract schemas accept good events and reject bad ones with one clear line."""
from __future__ import annotations

import copy
import json
from typing import Any

import fastjsonschema
import pytest

import schemas
from coldstart.errors import ColdstartError, InvalidEventError

INPUTS = ("catalog", "ads", "signups", "searches", "clicks", "page_views", "user_deletions")
OUTPUTS = ("recommendations", "ad_slots", "dead_letters")


def example(topic: str, **changes: Any) -> dict[str, Any]:
    """The schema's own example event, with fields changed (a value of DROP removes the field)."""
    event = copy.deepcopy(schemas.schema(topic)["examples"][0])
    for name, value in changes.items():
        if value is DROP:
            event.pop(name, None)
        else:
            event[name] = value
    return event


DROP = object()


def rejects(topic: str, value: Any) -> str:
    with pytest.raises(InvalidEventError) as caught:
        schemas.validate(topic, value)
    return str(caught.value)


def rejects_raw(topic: str, raw: bytes | None) -> str:
    with pytest.raises(InvalidEventError) as caught:
        schemas.decode(topic, raw)
    return str(caught.value)


def test_topics_are_the_contract_topics_and_each_has_a_schema_file() -> None:
    assert schemas.TOPICS == INPUTS + OUTPUTS
    for topic in schemas.TOPICS:
        found = schemas.schema(topic)
        assert found["$schema"] == "http://json-schema.org/draft-07/schema#"
        assert found["title"] == topic
        assert set(found["required"]) <= set(found["properties"])


@pytest.mark.parametrize("topic", INPUTS + OUTPUTS)
def test_the_example_event_is_valid_as_dict_and_as_bytes(topic: str) -> None:
    event = example(topic)
    assert schemas.validate(topic, copy.deepcopy(event)) == event
    assert schemas.decode(topic, json.dumps(event).encode()) == event


@pytest.mark.parametrize("topic", INPUTS)
def test_inputs_take_unknown_fields_and_null_optionals(topic: str) -> None:
    spec = schemas.schema(topic)
    optional = {name: None for name in spec["properties"] if name not in spec["required"]}
    optional.pop("text", None)  # ads need item_id or text
    assert schemas.validate(topic, example(topic, future_field={"any": 1}, **optional))


@pytest.mark.parametrize("topic", OUTPUTS)
def test_outputs_are_exact(topic: str) -> None:
    assert "unexpected fields 'extra'" in rejects(topic, example(topic, extra=1))


def test_only_required_fields_are_enough() -> None:
    assert schemas.validate("catalog", {"item_id": "i", "title": "t"}) == {"item_id": "i", "title": "t", "deleted": False}
    assert schemas.validate("ads", {"ad_id": "a", "bid": 1, "text": "x"})["active"] is True
    assert schemas.validate("ads", {"ad_id": "a", "bid": 1, "item_id": "i"})
    assert schemas.validate("signups", example("signups", locale=DROP, description=""))


BAD: list[tuple[str, dict[str, Any], str]] = [
    ("catalog", {"title": DROP}, "catalog: field 'title' is missing"),
    ("catalog", {"title": ""}, "catalog: field 'title' must not be empty"),
    ("catalog", {"item_id": 42}, "catalog: field 'item_id' must be a string; got the number 42 (ids are strings: send \"42\")"),
    ("catalog", {"price": -1}, "catalog: field 'price' must be >= 0; got -1"),
    ("catalog", {"price": "9.99"}, "catalog: field 'price' must be a number or null; got the string '9.99'"),
    ("catalog", {"description": "x" * 10_001}, "catalog: field 'description' must have at most 10,000 characters; got 10,001"),
    ("catalog", {"attributes": {"waterproof": True}}, "catalog: field 'attributes.waterproof' must be a string or a number; got true"),
    ("catalog", {"attributes": {str(i): i for i in range(101)}}, "catalog: field 'attributes' must have at most 100 entries; got 101"),
    ("catalog", {"attributes": {"": 1}}, "catalog: field 'attributes' has the key ''; keys must have 1 to 100 characters"),
    ("catalog", {"deleted": "yes"}, "catalog: field 'deleted' must be true or false or null; got the string 'yes'"),
    ("ads", {"bid": -3}, "ads: field 'bid' must be > 0; got -3"),
    ("ads", {"bid": 0}, "ads: field 'bid' must be > 0; got 0"),
    ("ads", {"bid": DROP}, "ads: field 'bid' is missing"),
    ("ads", {"item_id": DROP, "text": DROP}, "ads: needs at least one of 'item_id' and 'text', as a string; got neither"),
    ("ads", {"item_id": None, "text": DROP}, "ads: needs at least one of 'item_id' and 'text'"),
    ("ads", {"text": ""}, "ads: field 'text' must not be empty"),
    ("signups", {"description": "x" * 2001}, "signups: field 'description' must have at most 2,000 characters; got 2,001"),
    ("signups", {"description": None}, "signups: field 'description' must be a string; got null"),
    ("signups", {"user_id": ""}, "signups: field 'user_id' must not be empty"),
    ("signups", {"user_id": "u" * 257}, "signups: field 'user_id' must have at most 256 characters; got 257"),
    ("signups", {"ts": -1}, "signups: field 'ts' must be >= 0; got -1"),
    ("signups", {"ts": 1_717_000_000_000_000}, "signups: field 'ts' must be <= 253402300799999; got 1717000000000000"),
    ("signups", {"ts": "2024-06-01"}, "signups: field 'ts' must be an integer; got a string of 10 characters (not shown"),
    ("signups", {"ts": True}, "signups: field 'ts' must be an integer; got true"),
    ("signups", {"ts": DROP, "event_id": DROP}, "signups: fields 'event_id', 'ts' are missing"),
    ("searches", {"query": "q" * 501}, "searches: field 'query' must have at most 500 characters; got 501"),
    ("searches", {"query": ["a"]}, "searches: field 'query' must be a string; got an array of 1"),
    ("clicks", {"action": "like"}, "clicks: field 'action' must be one of view, click, add_to_cart, purchase; got 'like'"),
    ("clicks", {"user_id": "u\n"}, "clicks: field 'user_id' must not contain control characters; got 'u\\n'"),
    ("clicks", {"recommendation_id": 9}, "clicks: field 'recommendation_id' must be a string or null; got the number 9"),
    ("page_views", {"slots": []}, "page_views: field 'slots' must have at least 1 item; got 0"),
    ("page_views", {"slots": [{"slot_id": str(i), "position": 1} for i in range(51)]},
     "page_views: field 'slots' must have at most 50 items; got 51"),
    ("page_views", {"slots": [{"slot_id": "top", "position": 0}]}, "page_views: field 'slots[0].position' must be >= 1; got 0"),
    ("page_views", {"slots": [{"position": 1}]}, "page_views: field 'slots[0].slot_id' is missing"),
    ("page_views", {"slots": [{"slot_id": "a", "position": 1}, {"slot_id": "b", "position": "2"}]},
     "page_views: field 'slots[1].position' must be an integer; got a string of 1 character "),
    ("page_views", {"slots": {"top": 1}}, "page_views: field 'slots' must be an array; got an object"),
    ("user_deletions", {"user_id": DROP}, "user_deletions: field 'user_id' is missing"),
    ("recommendations", {"trigger": "purchase"}, "recommendations: field 'trigger' must be one of signup, search, click; got 'purchase'"),
    ("recommendations", {"items": [{"item_id": "i", "score": 1.0}]}, "recommendations: field 'items[0].reason' is missing"),
    ("recommendations", {"model_version": ""}, "recommendations: field 'model_version' must not be empty"),
    ("ad_slots", {"placements": [{"slot_id": "s", "ad_id": "a", "score": "high"}]},
     "ad_slots: field 'placements[0].score' must be a number; got a string of 4 characters"),
    ("ad_slots", {"placements": [{"slot_id": "s", "ad_id": "a", "item_id": None, "score": 1}]},
     "ad_slots: field 'placements[0].item_id' must be a string; got null"),
    ("dead_letters", {"partition": -1}, "dead_letters: field 'partition' must be >= 0; got -1"),
    ("dead_letters", {"payload": "p" * 16_385}, "dead_letters: field 'payload' must have at most 16,384 characters; got 16,385"),
    ("dead_letters", {"error": ""}, "dead_letters: field 'error' must not be empty"),
]


@pytest.mark.parametrize(("topic", "changes", "message"), BAD, ids=[m.split(": ", 1)[1][:48] for _, _, m in BAD])
def test_a_bad_event_is_named_in_one_line(topic: str, changes: dict[str, Any], message: str) -> None:
    event = example(topic, **changes)
    for found in (rejects(topic, event), rejects_raw(topic, json.dumps(event).encode())):
        assert message in found
        assert found.startswith(f"{topic}: ") and "\n" not in found


RAW: list[tuple[bytes | None, str]] = [
    (None, "signups: empty record (no value)"),
    (b"", "signups: empty record (no value)"),
    (b"hello", "signups: not JSON (Expecting value at line 1 column 1)"),
    (b'{"user_id": "u",}', "signups: not JSON (Expecting property name enclosed in double quotes at line 1 column 17)"),
    (b'{"user_id": "\xff\xfe"}', "signups: not valid UTF-8 at byte 13"),
    (b"[1, 2]", "signups: value is a JSON array, expected an object"),
    (b'"text"', "signups: value is a JSON string, expected an object"),
    (b"null", "signups: value is JSON null, expected an object"),
    (b"17", "signups: value is a JSON number, expected an object"),
    (b'{"ts": NaN}', "signups: not JSON we accept (NaN is not a JSON number)"),
    (b'{"ts": -Infinity}', "signups: not JSON we accept (-Infinity is not a JSON number)"),
    (b'{"ts": 1e999}', "signups: not JSON we accept (number 1e999 is out of range)"),
    (b'{"ts": 1, "ts": 2}', "signups: not JSON we accept (duplicate key 'ts')"),
    (b'{"ts": ' + b"9" * 5000 + b"}", "signups: not JSON we accept (Exceeds the limit"),
    (b"[" * 100_000 + b"]" * 100_000, "signups: not JSON we accept (nested too deeply)"),
    (b'{"user_id": "\\ud800"}', "signups: not JSON we accept (a string holds a lone UTF-16 surrogate escape)"),
    (b" " * (schemas.MAX_RAW_BYTES + 1), "signups: record is 1,048,577 bytes, over the 1,048,576-byte limit"),
]


@pytest.mark.parametrize(("raw", "message"), RAW, ids=[m.split(": ", 1)[1][:40] for _, m in RAW])
def test_raw_bytes_that_are_not_a_json_object_are_refused(raw: bytes | None, message: str) -> None:
    found = rejects_raw("signups", raw)
    assert message in found and "\n" not in found


def test_escaped_non_ascii_and_surrogate_pairs_are_fine() -> None:
    raw = json.dumps(example("signups", description="Läufer 🏃")).encode()
    assert schemas.decode("signups", raw)["description"] == "Läufer 🏃"


def test_python_nan_and_infinity_are_refused_by_validate() -> None:
    assert "field 'bid' must be a finite number; got nan" in rejects("ads", example("ads", bid=float("nan")))
    assert "field 'attributes.w' must be a finite number" in rejects("catalog", example("catalog", attributes={"w": float("inf")}))


def test_huge_values_are_not_echoed() -> None:
    for message in (rejects("clicks", example("clicks", action="like" * 250_000)),
                    rejects("clicks", example("clicks", user_id=10 ** 4000)),
                    rejects("catalog", example("catalog", attributes={"k" * 500_000: 1}))):
        assert len(message) < 250, message
        assert "..." in message


def test_unknown_topic_is_a_programming_error_not_a_bad_event() -> None:
    with pytest.raises(ColdstartError, match="unknown topic 'click'") as caught:
        schemas.decode("click", b"{}")
    assert not isinstance(caught.value, InvalidEventError)


def test_schema_returns_a_copy() -> None:
    schemas.schema("clicks")["required"].clear()
    assert "action" in schemas.schema("clicks")["required"]


def test_each_schema_is_compiled_once_for_many_events(monkeypatch: pytest.MonkeyPatch) -> None:
    compiled: list[str] = []
    real = fastjsonschema.compile

    def counting(definition: dict[str, Any], **kwargs: Any) -> Any:
        compiled.append(definition["title"])
        return real(definition, **kwargs)

    monkeypatch.setattr(fastjsonschema, "compile", counting)
    schemas._validator.cache_clear()
    raw = json.dumps(example("clicks")).encode()
    for _ in range(500):
        schemas.decode("clicks", raw)
        schemas.validate("page_views", example("page_views"))
        with pytest.raises(InvalidEventError):
            schemas.decode("clicks", b"[]")
    assert sorted(compiled) == ["clicks", "page_views"]
    assert schemas._validator.cache_info().misses == 2


def test_the_model_updates_control_topic_has_its_own_schema() -> None:
    assert schemas.INTERNAL == ("model_updates",)
    event = schemas.schema("model_updates")["examples"][0]
    assert schemas.decode("model_updates", json.dumps(event).encode()) == event
    assert "field 'model_version' is missing" in rejects("model_updates", {"ts": 1})
    assert "field 'model_version' must not be empty" in rejects("model_updates", {"model_version": "", "ts": 1})

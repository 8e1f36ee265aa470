"""The contract's JSON Schemas, each compiled once, and the one way raw records become events."""
from __future__ import annotations

import contextvars
import copy
import functools
import json
import math
import unicodedata
from collections.abc import Callable, Iterator
from importlib import resources
from typing import Any

import fastjsonschema

from coldstart.errors import ColdstartError, InvalidEventError
from schemas.topics import CONTRACT, KEY_FIELDS, MODEL_UPDATES_SCHEMA, PRIVATE_TOPICS

TOPICS: tuple[str, ...] = CONTRACT  # one schema per contract topic
INTERNAL: tuple[str, ...] = (MODEL_UPDATES_SCHEMA,)  # schemas of topics only the product uses
MAX_RAW_BYTES = 1 << 20  # a record value above 1 MiB is refused before it is parsed
SHOW_CHARS = 60  # how much of an offending value an error message echoes
ID_PATTERN = "^[^\\u0000-\\u001F\\u007F]*$"
# While an error about a user topic is described, strings other than ids and enum values are not
# echoed: they may be the user's own words (a description, a query, or text sent in a wrong field).
_PRIVATE: contextvars.ContextVar[bool] = contextvars.ContextVar("schemas_private", default=False)

Validator = Callable[[Any], Any]


class _Refused(Exception):
    """Raised from inside json.loads hooks; the message is the reason."""


def schema(topic: str) -> dict[str, Any]:
    """A copy of the JSON Schema (draft-07) of `topic`."""
    return copy.deepcopy(_load(topic))


def validate(topic: str, value: dict[str, Any]) -> dict[str, Any]:
    """Check a Python value against the topic's schema; return it (defaults filled in place)."""
    check = _validator(topic)
    if not isinstance(value, dict):
        raise _invalid(topic, f"value is {_kind(value)}, expected an object")
    bad = _non_finite(value)
    if bad is not None:
        raise _invalid(topic, f"field '{bad[0]}' must be a finite number; got {bad[1]!r}")
    return _check(topic, check, value)


def decode(topic: str, raw: bytes | None) -> dict[str, Any]:
    """Turn a record value (strict UTF-8 JSON object) into a validated event dict."""
    check = _validator(topic)
    if not raw:
        raise _invalid(topic, "empty record (no value)")
    if not isinstance(raw, (bytes, bytearray, memoryview)):
        raise TypeError(f"decode() takes bytes, not {type(raw).__name__}")
    if len(raw) > MAX_RAW_BYTES:
        raise _invalid(topic, f"record is {len(raw):,} bytes, over the {MAX_RAW_BYTES:,}-byte limit")
    value = _parse(topic, _utf8(topic, raw))
    if not isinstance(value, dict):
        raise _invalid(topic, f"value is {_kind(value)}, expected an object")
    return _check(topic, check, value)


@functools.cache
def _load(topic: str) -> dict[str, Any]:
    if topic not in TOPICS + INTERNAL:
        raise ColdstartError(f"unknown topic {topic!r}; expected one of {', '.join(TOPICS + INTERNAL)}")
    text = resources.files(__name__).joinpath(f"{topic}.json").read_text(encoding="utf-8")
    return json.loads(text)


@functools.cache
def _validator(topic: str) -> Validator:
    return fastjsonschema.compile(_load(topic))


def _check(topic: str, check: Validator, value: dict[str, Any]) -> dict[str, Any]:
    token = _PRIVATE.set(topic in PRIVATE_TOPICS)
    try:
        try:
            checked = check(value)
        except fastjsonschema.JsonSchemaValueException as error:
            raise _invalid(topic, _describe(error)) from None
        problem = _strict(_load(topic), checked)
        if problem is not None:
            raise _invalid(topic, problem)
        return checked
    finally:
        _PRIVATE.reset(token)


def check_record(topic: str, event: dict[str, Any], key: bytes | None, now_ms: int,
                 past_ms: int, future_ms: int) -> dict[str, Any]:
    """What a schema cannot say about a record: its key is the id the contract names
    (`KEY_FIELDS`), and a user event's `ts` lies within [now - past_ms, now + future_ms]."""
    field = KEY_FIELDS.get(topic)
    if field is not None:
        wanted = str(event[field]).encode("utf-8")
        if key != wanted:
            got = "no key" if key is None else f"a key of {len(key):,} bytes that is not it"
            raise _invalid(topic, f"the record key must be the event's {field} (UTF-8); got {got}")
    ts = event.get("ts")
    if topic in PRIVATE_TOPICS and isinstance(ts, int):
        if ts < now_ms - past_ms:
            raise _invalid(topic, f"field 'ts' is {ts}, more than {past_ms // 86_400_000:,} days "
                                  "before now (COLDSTART_TS_PAST_DAYS); ts is in milliseconds")
        if ts > now_ms + future_ms:
            raise _invalid(topic, f"field 'ts' is {ts}, more than {future_ms // 1000:,} s after "
                                  "now (COLDSTART_TS_FUTURE_S)")
    return event


def accept(topic: str, raw: bytes | None, key: bytes | None, now_ms: int, past_ms: int,
           future_ms: int) -> dict[str, Any]:
    """`decode` and `check_record`: the one way a worker turns an input record into an event."""
    return check_record(topic, decode(topic, raw), key, now_ms, past_ms, future_ms)


# --- rules beyond draft-07: integers are integers, ids are printable NFC -----------------------

def _strict(root: dict[str, Any], value: Any) -> str | None:
    """The first field a schema cannot refuse on its own: an integer written as a float
    (`1000.0`), or an id that is not printable or not in Unicode NFC."""
    for path, node, found in _leaves(root, root, value, ""):
        types = node.get("type", ())
        types = [types] if isinstance(types, str) else types
        where = f"field '{_clip(path, 100)}'"
        if "integer" in types and isinstance(found, float):
            return f"{where} must be an integer; got the number {_show(found)} (send it without a fraction)"
        if node.get("pattern") == ID_PATTERN and isinstance(found, str):
            if not found.isprintable():
                return f"{where} must be printable (no control, format or separator characters but the space)"
            if not unicodedata.is_normalized("NFC", found):
                return f"{where} must be in Unicode NFC (one spelling per id)"
    return None


def _leaves(root: dict[str, Any], node: dict[str, Any], value: Any,
            path: str) -> Iterator[tuple[str, dict[str, Any], Any]]:
    ref = node.get("$ref", "")
    if ref.startswith("#/definitions/"):
        node = root["definitions"][ref.removeprefix("#/definitions/")]
    if isinstance(value, dict) and "properties" in node:
        for name, sub in node["properties"].items():
            if name in value:
                yield from _leaves(root, sub, value[name], f"{path}.{name}" if path else name)
    elif isinstance(value, list) and isinstance(node.get("items"), dict):
        for i, item in enumerate(value):
            yield from _leaves(root, node["items"], item, f"{path}[{i}]")
    else:
        yield path, node, value


def _invalid(topic: str, detail: str) -> InvalidEventError:
    return InvalidEventError(_clip(f"{topic}: {detail}", 400))


# --- bytes to a Python value ---------------------------------------------------------------

def _utf8(topic: str, raw: bytes | bytearray | memoryview) -> str:
    try:
        return bytes(raw).decode("utf-8")
    except UnicodeDecodeError as error:
        raise _invalid(topic, f"not valid UTF-8 at byte {error.start}") from None


def _parse(topic: str, text: str) -> Any:
    try:
        value = json.loads(text, parse_constant=_no_constant, parse_float=_finite_float,
                           object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as error:
        raise _invalid(topic, f"not JSON ({error.msg} at line {error.lineno} column {error.colno})") from None
    except _Refused as error:
        raise _invalid(topic, f"not JSON we accept ({error})") from None
    except RecursionError:
        raise _invalid(topic, "not JSON we accept (nested too deeply)") from None
    except ValueError as error:  # e.g. an integer of more than 4300 digits
        raise _invalid(topic, f"not JSON we accept ({_clip(str(error), 100)})") from None
    if "\\u" in text and not _encodable(value):
        raise _invalid(topic, "not JSON we accept (a string holds a lone UTF-16 surrogate escape)")
    return value


def _no_constant(name: str) -> Any:
    raise _Refused(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    number = float(text)
    if math.isinf(number):
        raise _Refused(f"number {_clip(text, 20)} is out of range")
    return number


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise _Refused(f"duplicate key {_show(_first_duplicate(pairs))}")
    return obj


def _first_duplicate(pairs: list[tuple[str, Any]]) -> str:
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            return key
        seen.add(key)
    return ""


def _encodable(value: Any) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _non_finite(value: Any, path: str = "") -> tuple[str, float] | None:
    if isinstance(value, float):
        return None if math.isfinite(value) else (path, value)
    if isinstance(value, dict):
        items: Any = ((f"{path}.{k}" if path else str(k), v) for k, v in value.items())
    elif isinstance(value, list):
        items = ((f"{path}[{i}]", v) for i, v in enumerate(value))
    else:
        return None
    return next((bad for p, v in items if (bad := _non_finite(v, p)) is not None), None)


# --- a schema error in one line --------------------------------------------------------------

_TYPES = {"string": "a string", "integer": "an integer", "number": "a number",
          "boolean": "true or false", "object": "an object", "array": "an array", "null": "null"}


def _describe(error: fastjsonschema.JsonSchemaValueException) -> str:
    path = (error.name or "data").removeprefix("data").removeprefix(".")
    subject = f"field '{_clip(path, 100)}'" if path else "value"
    value, rule, limit = error.value, error.rule, error.rule_definition
    if rule == "required":
        return _missing(path, value, limit)
    if rule == "anyOf":
        return _one_of(path, limit)
    if rule == "type" and not path:
        return f"value is {_kind(value)}, expected an object"
    describe = _RULES.get(rule or "")
    named = path.rsplit(".", 1)[-1].split("[", 1)[0]
    private = _PRIVATE.get() and rule != "enum" and not named.endswith("_id")
    token = _PRIVATE.set(private)
    try:
        detail = (describe(value, limit, error.definition) if describe
                  else "is invalid" if private else f"is invalid ({error.message})")
    finally:
        _PRIVATE.reset(token)
    if rule == "type" and path.endswith("_id") and _is_number(value):
        detail += f' (ids are strings: send "{_show(value)}")'
    return f"{subject} {detail}"


def _missing(path: str, value: Any, required: list[str]) -> str:
    prefix = f"{path}." if path else ""
    names = [f"'{prefix}{name}'" for name in required if name not in value]
    return f"field {names[0]} is missing" if len(names) == 1 else f"fields {', '.join(names)} are missing"


def _one_of(path: str, branches: list[dict[str, Any]]) -> str:
    prefix = f"{path}." if path else ""
    names = [f"'{prefix}{name}'" for branch in branches for name in branch.get("required", ())]
    return f"needs at least one of {' and '.join(names)}, as a string; got neither"


def _type(value: Any, expected: str | list[str], _: Any) -> str:
    wanted = [expected] if isinstance(expected, str) else expected
    return f"must be {' or '.join(_TYPES.get(t, t) for t in wanted)}; got {_typed(value)}"


def _bad_key(value: dict[str, Any], rule: dict[str, Any], _: Any) -> str:
    low, high = rule.get("minLength", 0), rule.get("maxLength", math.inf)
    key = next((k for k in value if not low <= len(k) <= high), "")
    return f"has the key {_name(key)}; keys must have {low} to {high} characters"


def _extra(value: dict[str, Any], _: Any, definition: dict[str, Any]) -> str:
    extra = sorted(set(value) - set(definition.get("properties", {})))
    return f"has unexpected fields {', '.join(_name(k) for k in extra)}"


def _pattern(value: Any, pattern: str, _: Any) -> str:
    wanted = "must not contain control characters" if pattern == ID_PATTERN else f"must match {pattern}"
    return f"{wanted}; got {_show(value)}"


_RULES: dict[str, Callable[[Any, Any, Any], str]] = {
    "type": _type,
    "enum": lambda v, d, _: f"must be one of {', '.join(map(str, d))}; got {_show(v)}",
    "minimum": lambda v, d, _: f"must be >= {d}; got {_show(v)}",
    "maximum": lambda v, d, _: f"must be <= {d}; got {_show(v)}",
    "exclusiveMinimum": lambda v, d, _: f"must be > {d}; got {_show(v)}",
    "exclusiveMaximum": lambda v, d, _: f"must be < {d}; got {_show(v)}",
    "minLength": lambda v, d, _: "must not be empty" if d == 1 else f"must have at least {d} characters; got {len(v)}",
    "maxLength": lambda v, d, _: f"must have at most {d:,} characters; got {len(v):,}",
    "minItems": lambda v, d, _: f"must have at least {d} item{'s' * (d != 1)}; got {len(v)}",
    "maxItems": lambda v, d, _: f"must have at most {d} items; got {len(v)}",
    "maxProperties": lambda v, d, _: f"must have at most {d} entries; got {len(v)}",
    "propertyNames": _bad_key,
    "additionalProperties": _extra,
    "pattern": _pattern,
}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _kind(value: Any) -> str:
    """How a parsed JSON value is named in messages about the whole record."""
    if isinstance(value, list):
        return "a JSON array"
    return {str: "a JSON string", bool: "JSON true or false", type(None): "JSON null"}.get(
        type(value), "a JSON number" if _is_number(value) else f"a {type(value).__name__}")


def _typed(value: Any) -> str:
    if isinstance(value, str):
        return f"a string {_show(value)}" if _PRIVATE.get() else f"the string {_show(value)}"
    if _is_number(value):
        return f"the number {_show(value)}"
    if isinstance(value, (list, dict)):
        return _show(value)
    return _show(value) if value is None or isinstance(value, bool) else f"a {type(value).__name__}"


def _show(value: Any) -> str:
    """A short rendering of a value, never more than about SHOW_CHARS characters."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, str) and _PRIVATE.get():
        return f"of {len(value):,} character{'s' * (len(value) != 1)} (not shown: it may be the user's words)"
    if isinstance(value, str):
        return repr(value if len(value) <= SHOW_CHARS else value[: SHOW_CHARS - 3] + "...")
    if isinstance(value, list):
        return f"an array of {len(value)}"
    if isinstance(value, dict):
        return "an object"
    return _clip(repr(value), SHOW_CHARS)


def _name(key: str) -> str:
    """A field name as messages show it (names are kept even where values are not shown)."""
    return repr(_clip(key, SHOW_CHARS))


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."

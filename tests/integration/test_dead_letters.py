"""Events that cannot be understood go to dead_letters with a clear error; nothing valid is lost."""
from __future__ import annotations

import json

import pytest
from e2e import Pipeline, check_ad_slots, check_recommendation, click, deletion, new_id, page_view, search, signup

pytestmark = pytest.mark.integration

HUGE = 2 * 1024 * 1024


def bad_events(user: str) -> list[tuple[str, bytes | None, bytes, str]]:
    """(topic, raw value, key, what the error must say) for one of each kind of bad event."""
    key = user.encode()
    ok_click = {"event_id": new_id("cl"), "user_id": user, "item_id": "sku-0001",
                "action": "click", "ts": 1717000000000}
    return [
        ("signups", b"not json {", key, "not JSON"),
        ("searches", b'{"event_id": "e1", "user_id": "' + key + b'", "query": "caf\xe9", "ts": 1}',
         key, "not valid UTF-8"),
        ("clicks", _json(ok_click, event_id=5), key, "'event_id' must be a string"),
        ("clicks", _json(ok_click, ts="yesterday"), key, "'ts' must be an integer"),
        ("clicks", _json(ok_click, action="like"), key, "'action' must be one of"),
        ("signups", _json({"event_id": new_id("si"), "user_id": user}), key,
         "'description', 'ts' are missing"),
        ("signups", b"[1, 2, 3]", key, "expected an object"),
        ("searches", _json({"event_id": new_id("se"), "user_id": user, "query": "x" * HUGE,
                            "ts": 1}), key, "over the 1,048,576-byte limit"),
        ("ads", _json({"ad_id": new_id("ad"), "text": "half price tents", "bid": -1.5}),
         b"ad-neg", "'bid' must be > 0"),
        ("catalog", _json({"item_id": new_id("sku"), "price": 3}), b"sku-x", "'title' is missing"),
        ("page_views", _json({"event_id": new_id("pv"), "user_id": user, "page_id": "home",
                              "slots": [], "ts": 1}), key, "'slots' must have at least 1 item"),
        ("page_views", _json({"event_id": new_id("pv"), "user_id": user, "page_id": "home",
                              "slots": [{"slot_id": "top", "position": 0}], "ts": 1}), key,
         "'slots[0].position' must be >= 1"),
        ("page_views", None, key, "empty record"),
        ("user_deletions", _json({"ts": 1}), key, "'user_id' is missing"),
        ("clicks", _json(ok_click, item_id="sku-does-not-exist"), key, "not in the catalogue"),
    ]


def _json(event: dict, **changes: object) -> bytes:
    return json.dumps({**event, **changes}).encode()


def test_bad_events_are_dead_lettered_and_valid_ones_answered(pipeline: Pipeline) -> None:
    valid_users = [new_id("u") for _ in range(3)]
    valid = [("signups", signup(valid_users[0], "marathon training and hiking in the hills")),
             ("searches", search(valid_users[1], "cast iron dutch oven")),
             ("clicks", click(valid_users[2], "sku-0005")),
             ("page_views", page_view(valid_users[0], [("top", 1), ("side", 2)])),
             ("signups", signup(valid_users[1], "two cats who scratch everything")),
             ("clicks", click(valid_users[0], "sku-0012", "add_to_cart")),
             ("page_views", page_view(valid_users[2], [("top", 1)], context_item_id="sku-0100")),
             ("searches", search(valid_users[2], "noise cancelling headphones"))]
    bad = bad_events(valid_users[0])  # the same user as good events, to share their batches
    mixed: list[tuple[str, dict | bytes | None, bytes | None]] = []
    for n in range(max(len(valid), len(bad))):  # bad and good interleaved on every topic
        if n < len(bad):
            mixed.append((bad[n][0], bad[n][1], bad[n][2]))
        if n < len(valid):
            mixed.append((valid[n][0], valid[n][1], None))
    sent = pipeline.send_mixed(mixed)
    sent_bad = [s for s in sent if s.event is None]  # the bad ones went as bytes
    sent_good = [s for s in sent if s not in sent_bad]
    assert len(sent_bad) == len(bad)

    letters = pipeline.dead_letters(sent_bad)
    for s, (topic, raw, key, says) in zip(sent_bad, bad):
        letter = letters[s]
        assert (letter["source_topic"], letter["partition"], letter["offset"]) == \
               (topic, s.partition, s.offset)
        assert says in letter["error"], f"{topic}: expected {says!r} in {letter['error']!r}"
        assert letter["payload_bytes"] == len(raw or b"") and letter["key_bytes"] == len(key)
        if topic not in ("catalog", "ads"):  # a user's record: its shape and a keyed hash only
            assert letter["key"] == "" and len(letter["key_hmac"]) == 32
            assert valid_users[0] not in json.dumps(letter) and "not shown" in letter["payload"]
            continue
        assert letter["key"] == key.decode()
        text = (raw or b"").decode("utf-8", errors="replace")
        if len(text) <= 16_384:
            assert letter["payload"] == text
        else:  # shortened, saying by how much
            assert len(letter["payload"]) <= 16_384 and "more characters" in letter["payload"]
            assert text.startswith(letter["payload"][:1000])

    by_trigger = {e["event_id"]: (t, e) for t, e in valid}
    recs = pipeline.recommendations([e["event_id"] for t, e in valid if t != "page_views"])
    for event_id, found in recs.items():
        topic, event = by_trigger[event_id]
        for rec in found:
            check_recommendation(pipeline, rec, event, {"signups": "signup", "searches": "search",
                                                        "clicks": "click"}[topic])
    ads = pipeline.ad_slots([e["event_id"] for t, e in valid if t == "page_views"])
    for event_id, found in ads.items():
        check_ad_slots(pipeline, found[0], by_trigger[event_id][1])

    places = {(s.topic, s.partition, s.offset) for s in sent_good}
    refused = [v for v in pipeline.reader("dead_letters").values
               if (v["source_topic"], v["partition"], v["offset"]) in places]
    assert not refused, f"valid events dead-lettered: {refused}"

    assert pipeline.worker.alive(), "the worker died on bad input"
    after = signup(new_id("u"), "vinyl records and good speakers")  # and it still answers
    check_recommendation(pipeline, pipeline.recommend(after), after, "signup")


def test_a_deletion_of_an_unknown_user_is_harmless(pipeline: Pipeline) -> None:
    stranger = new_id("never-seen")
    pipeline.send("user_deletions", [deletion(stranger)])
    event = signup(stranger, "gifts for a newborn niece")
    check_recommendation(pipeline, pipeline.recommend(event), event, "signup")
    assert pipeline.worker.alive()

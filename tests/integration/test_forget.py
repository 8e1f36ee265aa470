"""A deletion that really forgets: after the time-to-forget, a deleted user's words are in no topic
the product writes and no file of the worker, no state of theirs is left, late events of theirs
bring nothing back, and their id returns as a new user.

The shared worker runs with a short COLDSTART_FORGET_MS (conftest.FORGET_MS), so its changelogs
roll every few seconds; the test waits for the outcome, it does not time it.
"""
from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import FORGET_MS
from e2e import (
    RUNNING,
    WAIT,
    Pipeline,
    click,
    deletion,
    items_of,
    new_id,
    page_view,
    search,
    served_log,
    signup,
    table_latest,
)
from kafka import KafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient

from coldstart.ranking.profile import Profile
from schemas.topics import INPUTS

pytestmark = pytest.mark.integration

BARRED = re.compile(r"deletion barrier: dropped (.+?) event\(s\)")
USER_TABLES = ("profiles", "served")


@dataclass
class Deleted:
    """The deleted user of the scenario, their unique word, and what was sent for them."""

    user: str
    word: str
    deleted_ts: int
    late_signup: dict[str, Any]


def read_everything(pipeline: Pipeline, topics: list[str]) -> list[tuple[str, Any]]:
    """(topic, record) for every record now on `topics`, read from the start (a fresh consumer,
    so a log the cleaner has compacted is read as it is now)."""
    consumer = KafkaConsumer(bootstrap_servers=pipeline.settings.bootstrap_servers, group_id=None,
                             enable_auto_commit=False, auto_offset_reset="earliest")
    try:
        parts = [TopicPartition(t, p) for t in topics
                 for p in sorted(consumer.partitions_for_topic(t) or ())]
        ends = consumer.end_offsets(parts)
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        found, left = [], {tp for tp in parts if ends[tp] > 0}
        deadline = time.monotonic() + WAIT
        while left and time.monotonic() < deadline:
            for tp, records in consumer.poll(timeout_ms=500).items():
                found += [(tp.topic, r) for r in records if r.offset < ends[tp]]
                if consumer.position(tp) >= ends[tp]:
                    left.discard(tp)
        assert not left, f"could not read {sorted(map(str, left))} to their end"
        return found
    finally:
        consumer.close()


def product_topics(pipeline: Pipeline) -> list[str]:
    """Every topic of this deployment except the producers' own inputs: outputs, dead letters,
    internal topics, table changelogs, Faust's own."""
    admin = KafkaAdminClient(bootstrap_servers=pipeline.settings.bootstrap_servers)
    try:
        names = admin.list_topics()
    finally:
        admin.close()
    prefix = pipeline.settings.topic_prefix
    inputs = {pipeline.settings.topic(t) for t in INPUTS}
    return sorted(n for n in names if n.startswith(prefix) and n not in inputs)


def traces(pipeline: Pipeline, gone: Deleted, topics: list[str]) -> list[str]:
    """Where the word, or a value under the user's key in a user table, still is."""
    word, key = gone.word.encode(), gone.user.encode()
    changelogs = {f"{pipeline.settings.topic_prefix}coldstart-{t}-changelog" for t in USER_TABLES}
    found = []
    for topic, record in read_everything(pipeline, topics):
        if word in (record.key or b"") or word in (record.value or b""):
            found.append(f"the word on {topic}[{record.partition}]@{record.offset}")
        if topic in changelogs and record.key == key and record.value is not None:
            found.append(f"a value of the user on {topic}[{record.partition}]@{record.offset}")
    for path in Path(pipeline.settings.data_dir).rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            if word in data:
                found.append(f"the word in {path}")
            if key in data:
                found.append(f"the user id in {path}")
    return found


def barred_so_far(pipeline: Pipeline) -> dict[str, int]:
    """topic -> events the worker's log says a deletion barrier dropped (counts, no ids)."""
    totals: dict[str, int] = {}
    for counts in BARRED.findall(pipeline.worker.log()):
        for part in counts.split(", "):
            n, topic = part.split(" ", 1)
            totals[topic] = totals.get(topic, 0) + int(n)
    return totals


def wait_for(check: Any, what: str, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if not result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"after {timeout:.0f}s, {what}: {result}")
        time.sleep(1.0)


@pytest.fixture(scope="module")
def gone(running_worker: Pipeline) -> Deleted:
    """The scenario: a user writes a unique word everywhere they can, is deleted, more traffic
    follows, and events of theirs dated before the deletion arrive after it."""
    pipeline = running_worker
    user, word = new_id("u"), f"zqx{uuid.uuid4().hex[:12]}"
    running = items_of(pipeline, RUNNING)
    first = signup(user, f"trail running shoes and {word} for muddy hills")
    pipeline.recommend(first)
    invalid = {k: v for k, v in signup(user, f"a rain jacket, {word}").items() if k != "ts"}
    pipeline.dead_letters(pipeline.send("signups", [invalid]))
    pipeline.recommend(search(user, f"{word} headlamp"), topic="searches")
    clicks = [click(user, running[0]), click(user, running[1], "purchase")]
    pipeline.send("clicks", clicks)
    pipeline.recommendations([clicks[-1]["event_id"]])
    view = page_view(user, [("top", 1), ("side", 2)])
    pipeline.send("page_views", [view])
    pipeline.ad_slots([view["event_id"]])
    table_latest(pipeline, "served", user, lambda raw: raw is not None and bool(served_log(raw).ads),
                 "the page view's ads in the served log")

    gone_event = deletion(user)
    pipeline.send("user_deletions", [gone_event])
    for table in USER_TABLES:
        table_latest(pipeline, table, user, lambda raw: raw is None, f"a {table} tombstone")
    other = new_id("u")
    more = [signup(other, "a warm waterproof rain jacket")]
    pipeline.send("signups", more)
    pipeline.send("clicks", [click(other, running[2])])
    pipeline.recommendations([more[0]["event_id"]])

    ts = gone_event["ts"]
    late_signup = dict(signup(user, f"{word} again, from a lagging partition"), ts=ts - 3000)
    late_view = dict(page_view(user, [("top", 1)]), ts=ts - 100)
    pipeline.send_mixed([("signups", late_signup, None),
                         ("searches", dict(search(user, f"late {word}"), ts=ts - 2000), None),
                         ("clicks", dict(click(user, running[3]), ts=ts), None),
                         ("page_views", late_view, None)])
    pipeline.ad_slots([late_view["event_id"]])
    wanted = {"signups": 1, "searches": 1, "clicks": 1, "ad_slots": 1}
    wait_for(lambda: {t: n for t, n in wanted.items() if barred_so_far(pipeline).get(t, 0) < n},
             "the late events not all dropped by the deletion barrier", WAIT)
    return Deleted(user, word, ts, late_signup)


def test_late_events_of_a_deleted_user_bring_nothing_back(pipeline: Pipeline, gone: Deleted) -> None:
    """Events dated at or before the deletion were dropped (see the fixture): no output for the
    late signup, no value under the user's key after the tombstone."""
    late = [r for r in pipeline.reader("recommendations").values
            if r["trigger_event_id"] == gone.late_signup["event_id"]]
    assert late == [], "a late signup of a deleted user was answered"
    for table in USER_TABLES:
        assert table_latest(pipeline, table, gone.user, lambda _: True, table) is None
    assert "dropped" in pipeline.worker.log() and gone.word not in pipeline.worker.log()


def test_a_deleted_user_is_forgotten_within_the_time_to_forget(pipeline: Pipeline,
                                                               gone: Deleted) -> None:
    """Outputs, internal topics, changelogs and the worker's files: the word and the user's
    values are gone (dead letters: the next test). Waits for it, up to well past the bound."""
    dead_letters = pipeline.settings.topic("dead_letters")
    topics = [t for t in product_topics(pipeline) if t != dead_letters]
    assert any(t.endswith("-profiles-changelog") for t in topics), topics
    wait_for(lambda: traces(pipeline, gone, topics), "the deleted user is still there",
             max(WAIT, 6 * FORGET_MS / 1000))


def test_dead_letters_keep_no_user_text(pipeline: Pipeline, gone: Deleted) -> None:
    """The invalid signup's dead letter describes the event without its free text."""
    hits = [r.offset for _, r in read_everything(pipeline, [pipeline.settings.topic("dead_letters")])
            if gone.word.encode() in (r.value or b"")]
    assert hits == [], f"the deleted user's word is in dead letters at offsets {hits}"


def test_the_id_returns_as_a_new_user(pipeline: Pipeline, gone: Deleted) -> None:
    again = signup(gone.user, "growing tomatoes and herbs on my allotment")
    rec = pipeline.recommend(again)
    assert rec["user_id"] == gone.user
    assert not any(gone.word in json.dumps(i) for i in rec["items"])
    raw = table_latest(pipeline, "profiles", gone.user, lambda v: v is not None, "the new profile")
    fresh = Profile.from_bytes(raw)
    assert (fresh.n_texts, fresh.n_interactions, fresh.purchased, fresh.recent) == (1, 0, (), ())
    assert fresh.seen == (again["event_id"],)

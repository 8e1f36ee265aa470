"""Hostile producers against a real worker on the real broker: a corpus of bad records for every
input topic and the model control topic, interleaved with valid events, and a fault injected into
the engine mid-batch (COLDSTART_TEST_FAIL_EVENT_IDS). Every valid event is answered, every bad one
dead-lettered, the worker stays up, and after a restart (which re-reads the bad catalogue records)
it serves the same catalogue. Then every record the worker's group has read is delivered again
after a SIGKILL, and no counter (impressions, clicks, co-occurrence) changes."""
from __future__ import annotations

import json
import os
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e import WAIT, Pipeline, Sent, Worker, click, deletion, load_sample, new_id, page_view, search, signup
from kafka import KafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient

from coldstart.config import Settings
from coldstart.events import now_ms
from schemas.topics import AD_PLACEMENTS, COOCCURRENCE_UPDATES, FEEDBACK, MODEL_UPDATES, USER_TOPICS
from streams.admin import ensure_topics

pytestmark = pytest.mark.integration

READY_TIMEOUT = 300.0
POISON = f"si-poison-{uuid.uuid4().hex[:8]}"  # the engine fails on any batch holding it
ITEMS = load_sample("catalog")[:24]
ADS = [ad for ad in load_sample("ads") if ad.get("item_id") in {i["item_id"] for i in ITEMS}
       ] + [{"ad_id": "ad-text-only", "text": "a warm tent for two", "bid": 0.5}]
BIG = 10 ** 400
READY = re.compile(r"catalogue ready: (\d+) items, (\d+) ads")


class Own:
    """A worker of this module on its own topics and data dir, failing on POISON."""

    def __init__(self, settings: Settings, factory: Any) -> None:
        self.settings, self.factory = settings, factory
        self.pipeline = Pipeline(settings, None)  # type: ignore[arg-type]  # started by the test

    def start(self) -> Worker:
        os.environ["COLDSTART_TEST_FAIL_EVENT_IDS"] = POISON
        try:
            worker: Worker = self.factory(self.settings)
        finally:
            del os.environ["COLDSTART_TEST_FAIL_EVENT_IDS"]
        return worker

    def ready(self) -> tuple[int, int]:
        """(items, ads) the worker serves once caught up with the catalogue topics."""
        self.pipeline.worker.wait_for_log("catalogue ready", READY_TIMEOUT)
        found = READY.search(self.pipeline.worker.log())
        assert found, self.pipeline.worker.tail()
        return int(found[1]), int(found[2])


@pytest.fixture(scope="module")
def own(broker: str, topic_prefix: str, worker_factory: Any,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[Own]:
    settings = Settings(broker=f"kafka://{broker}",
                        topic_prefix=f"{topic_prefix}hostile{uuid.uuid4().hex[:4]}-",
                        data_dir=Path(tmp_path_factory.mktemp("hostile-worker")), partitions=2)
    ensure_topics(settings)
    handle = Own(settings, worker_factory)
    yield handle
    if handle.pipeline.worker is not None:
        handle.pipeline.worker.stop()
    handle.pipeline.close()


def _json(event: dict[str, Any], **changes: Any) -> bytes:
    return json.dumps({**event, **changes}).encode()


def catalogue_corpus() -> list[tuple[str, bytes, bytes, str]]:
    """(topic, value, key, what the error must say): records that once stopped every worker."""
    item = {"item_id": "sku-bad-1", "title": "A hostile item"}
    ad = {"ad_id": "ad-bad-1", "text": "hostile ad", "bid": 1.0}
    return [
        ("catalog", _json(item, price=BIG), b"sku-bad-1", "'price' must be <= 1000000000000"),
        ("catalog", _json(item, attributes={"weight": 1e300}), b"sku-bad-1", "must be <= 1000000000000000"),
        ("catalog", _json(item), b"sku-other", "record key must be the event's item_id"),
        ("ads", _json(ad, bid=BIG), b"ad-bad-1", "'bid' must be <= 1000000000"),
        ("ads", _json(ad), b"ad-other", "record key must be the event's ad_id"),
    ]


def user_corpus(user: str) -> list[tuple[str, bytes, bytes | None, str]]:
    key, now = user.encode(), now_ms()
    ok_click = click(user, ITEMS[0]["item_id"])
    secret = "my private words about my health"
    return [
        ("signups", _json(signup(user, secret)), None, "record key must be the event's user_id"),
        ("signups", _json(signup(user, secret)), b"someone-else", "record key must be the event's user_id"),
        ("clicks", _json(ok_click, ts=253402300799999), key, "after now"),
        ("clicks", _json(ok_click, ts=float(now)), key, "'ts' must be an integer"),
        ("page_views", _json(page_view(user, [("top", 1)]), ts=1), key, "days before now"),
        ("searches", _json(search("e\u0301", secret)), "e\u0301".encode(), "NFC"),
        ("signups", _json(signup("u\u200bx", secret)), "u\u200bx".encode(), "printable"),
        ("clicks", _json(ok_click), b"k" * (2 * 1024 * 1024), "record key must be the event's user_id"),
        ("user_deletions", _json(deletion(user)), b"not-the-user", "record key must be the event's user_id"),
        ("signups", _json(signup(user, secret), ts=f"{secret}"), key, "'ts' must be an integer"),
        ("signups", _json(signup(user, secret), event_id=POISON), key, "injected fault"),
        (MODEL_UPDATES, _json({"model_version": "/tmp/x", "ts": now}), b"x", "'model_version' must match"),
        (MODEL_UPDATES, _json({"model_version": "../../x", "ts": now}), b"x", "'model_version' must match"),
    ]


def check_letters(pipeline: Pipeline, sent: list[Sent], corpus: list[tuple[str, bytes, Any, str]]) -> None:
    letters = pipeline.dead_letters(sent)
    for s, (topic, _, key, says) in zip(sent, corpus):
        letter = letters[s]
        assert says in letter["error"], f"{topic}: expected {says!r} in {letter['error']!r}"
        if topic in (*USER_TOPICS, "page_views"):  # no value and no key of a user's record
            text = json.dumps(letter)
            assert letter["key"] == "" and "private words" not in text and "someone-else" not in text
            assert ("key_hmac" in letter) == bool(key)
        elif topic in ("catalog", "ads"):
            assert letter["key"] == key.decode() and letter["payload"]


def test_hostile_records_are_dead_lettered_valid_ones_answered_and_the_catalogue_survives(own: Own) -> None:
    pipeline = own.pipeline
    bad_catalogue = catalogue_corpus()
    mixed: list[tuple[str, Any, bytes | None]] = []
    for n, (topic, raw, key, _) in enumerate(bad_catalogue):  # bad records among the good
        mixed += [("catalog", item, None) for item in ITEMS[n * 4:(n + 1) * 4]]
        mixed.append((topic, raw, key))
    mixed += [("catalog", item, None) for item in ITEMS[len(bad_catalogue) * 4:]]
    mixed += [("ads", ad, None) for ad in ADS]
    sent_catalogue = [s for s in pipeline.send_mixed(mixed) if s.event is None]
    pipeline.worker = own.start()  # it finds the hostile catalogue records at its first start
    first = own.ready()
    assert first[0] == len(ITEMS), own.pipeline.worker.tail()

    users = [new_id("u") for _ in range(3)]
    valid = [("signups", signup(users[0], "marathon training and hiking in the hills")),
             ("signups", signup(users[1], "two cats who scratch everything")),
             ("searches", search(users[2], "rain jacket")),
             ("clicks", click(users[0], ITEMS[1]["item_id"])),
             ("page_views", page_view(users[1], [("top", 1), ("side", 2)])),
             ("clicks", click(users[2], ITEMS[2]["item_id"], "add_to_cart")),
             ("user_deletions", deletion(new_id("u"))),
             ("page_views", page_view(users[2], [("top", 1)], context_item_id=ITEMS[3]["item_id"]))]
    bad = user_corpus(users[0])
    mixed = []
    for n in range(max(len(valid), len(bad))):  # interleaved, so they share batches
        if n < len(bad):
            mixed.append((bad[n][0], bad[n][1], bad[n][2]))
        if n < len(valid):
            mixed.append((valid[n][0], valid[n][1], None))
    sent = pipeline.send_mixed(mixed)
    sent_bad = [s for s in sent if s.event is None]
    check_letters(pipeline, sent_catalogue + sent_bad, bad_catalogue + bad)  # type: ignore[operator]

    answered = [e["event_id"] for t, e in valid if t in ("signups", "searches")]
    pipeline.recommendations(answered)
    pipeline.recommendations([e["event_id"] for t, e in valid if t == "clicks"])
    pipeline.ad_slots([e["event_id"] for t, e in valid if t == "page_views"])
    good = {(s.topic, s.partition, s.offset) for s in sent if s.event is not None}
    refused = [v for v in pipeline.reader("dead_letters").values
               if (v["source_topic"], v["partition"], v["offset"]) in good]
    assert not refused, f"valid events dead-lettered: {refused}"
    assert pipeline.worker.alive(), "the worker died on hostile input"

    # A restart re-reads the bad catalogue records: dead letters again, never a crash loop.
    pipeline.worker.stop()
    pipeline.worker = own.start()
    assert own.ready() == first
    after = signup(new_id("u"), "vinyl records and good speakers")
    assert pipeline.recommend(after)["items"]


# --- redelivery --------------------------------------------------------------------------------

def _group_topics(settings: Settings) -> list[str]:
    return [settings.topic(t) for t in (*USER_TOPICS, "page_views", AD_PLACEMENTS,
                                        COOCCURRENCE_UPDATES, FEEDBACK)]


def wait_consumed(settings: Settings, timeout: float = WAIT) -> None:
    """Until the worker's group has committed every record of every topic it reads."""
    group = f"{settings.topic_prefix}coldstart"
    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    probe = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers)
    try:
        deadline = time.monotonic() + timeout
        while True:
            found = admin.list_group_offsets(group)
            committed = {tp: meta.offset for tp, meta in found.get(group, {}).items()}
            ends = probe.end_offsets([tp for t in _group_topics(settings)
                                      for tp in _partitions(probe, t)])
            behind = {tp: (committed.get(tp, 0), end) for tp, end in ends.items()
                      if end and committed.get(tp, 0) < end}
            if not behind:
                return
            assert time.monotonic() < deadline, f"group {group} still behind: {behind}"
            time.sleep(0.5)
    finally:
        admin.close()
        probe.close()


def _partitions(probe: KafkaConsumer, topic: str) -> list[TopicPartition]:
    return [TopicPartition(topic, p) for p in sorted(probe.partitions_for_topic(topic) or ())]


def counters(pipeline: Pipeline) -> dict[str, dict[bytes, bytes | None]]:
    """The newest value of every key of the feedback and co-occurrence tables' changelogs."""
    out = {}
    for table in ("feedback", "cooccurrence"):
        topic = f"{pipeline.settings.topic_prefix}coldstart-{table}-changelog"
        consumer = KafkaConsumer(bootstrap_servers=pipeline.settings.bootstrap_servers,
                                 enable_auto_commit=False)
        try:
            parts = _partitions(consumer, topic)
            consumer.assign(parts)
            consumer.seek_to_beginning(*parts)
            ends, values = consumer.end_offsets(parts), {}
            while any(consumer.position(tp) < end for tp, end in ends.items()):
                for records in consumer.poll(timeout_ms=500).values():
                    values.update((r.key, r.value) for r in records)
            out[table] = values
        finally:
            consumer.close()
    return out


def forget_group(settings: Settings, timeout: float = 60.0) -> None:
    """Delete the worker's consumer group (once its killed member has timed out), so the next
    worker reads every topic from the start: every record is delivered again."""
    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    try:
        deadline = time.monotonic() + timeout
        while True:
            group = f"{settings.topic_prefix}coldstart"
            outcome = admin.delete_groups([group]).get(group)  # {group: "OK" or an error name}
            if outcome == "OK":
                return
            # GroupNotEmptyError until the killed member's session times out
            assert time.monotonic() < deadline, f"the killed worker's group never emptied: {outcome}"
            time.sleep(1.0)
    finally:
        admin.close()


def test_every_record_redelivered_after_a_sigkill_changes_no_counter(own: Own) -> None:
    pipeline = own.pipeline
    users = [new_id("u") for _ in range(3)]
    events: list[tuple[str, dict[str, Any]]] = []
    for n, user in enumerate(users):
        events.append(("signups", signup(user, "hiking boots and a rain jacket")))
        events += [("clicks", click(user, ITEMS[(n + k) % len(ITEMS)]["item_id"])) for k in range(3)]
        events += [("page_views", page_view(user, [("top", 1), ("side", 2)])) for _ in range(2)]
    pipeline.send_mixed([(t, e, None) for t, e in events])
    signups = [e["event_id"] for t, e in events if t == "signups"]
    pipeline.recommendations(signups)
    pipeline.ad_slots([e["event_id"] for t, e in events if t == "page_views"])
    wait_consumed(own.settings)
    before = counters(pipeline)
    assert before["feedback"] and before["cooccurrence"]

    pipeline.worker.process.kill()  # SIGKILL: no shutdown, no commit
    pipeline.worker.process.wait(30)
    forget_group(own.settings)
    pipeline.worker = own.start()
    own.ready()
    pipeline.recommendations(signups, count=2)  # the redelivered signups, answered again
    wait_consumed(own.settings)
    after = counters(pipeline)
    assert after == before


# --- start-up checks ---------------------------------------------------------------------------

def test_partitions_come_from_the_topics_and_co_partitioning_is_verified(broker: str,
                                                                         topic_prefix: str) -> None:
    """A COLDSTART_PARTITIONS that differs from the topics gives way to the topics' own count;
    user topics with different counts stop the start in one line."""
    from kafka.admin import NewTopic

    from coldstart.errors import ConfigError
    from streams.admin import check_partitions, create_missing

    agreed = Settings(broker=f"kafka://{broker}", topic_prefix=f"{topic_prefix}p3{uuid.uuid4().hex[:4]}-",
                      partitions=2)
    create_missing(agreed, [NewTopic(agreed.topic(t), 3, 1) for t in ("signups", "clicks")])
    assert check_partitions(agreed) == 3
    split = Settings(broker=f"kafka://{broker}", topic_prefix=f"{topic_prefix}px{uuid.uuid4().hex[:4]}-")
    create_missing(split, [NewTopic(split.topic("signups"), 2, 1), NewTopic(split.topic("clicks"), 3, 1)])
    with pytest.raises(ConfigError, match="one partition count") as caught:
        check_partitions(split)
    assert "\n" not in str(caught.value)

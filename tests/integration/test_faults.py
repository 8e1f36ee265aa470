"""Faults on the real broker and real worker processes: nothing is lost, nothing counts twice.

- a worker SIGKILLed mid-stream and restarted: every signup and search still gets its
  recommendation (repeats allowed) and the profiles end up equal to an uninterrupted run's;
- the broker stopped and started while events flow: the worker reconnects, nothing is lost;
- a deleted user is in no RocksDB table once the worker stops, and the changelog holds a tombstone;
- (long only) 400 bad records of every kind interleaved with valid events: each bad one gets its
  dead letter, every valid one its answer.

The short versions run in `bash scripts/test`; the long ones are marked `slow` and run only when
`-m` names them (`bash scripts/test-long`).
"""
from __future__ import annotations

import json
import random
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from e2e import Pipeline, deletion, load_sample, new_id, page_view, signup
from kafka import KafkaProducer
from rocksdict import AccessType, Options, Rdict

import schemas
from coldstart.config import Settings
from coldstart.errors import InvalidEventError
from coldstart.events import now_ms
from coldstart.ranking.profile import Profile
from streams.admin import ensure_topics
from streams.tools.broker import BrokerConfig, LocalBroker
from streams.tools.replay import replay
from streams.tools.sample_data import SAMPLE_DIR, USERS

pytestmark = pytest.mark.integration

READY_TIMEOUT = 300.0  # model load and the sample catalogue, on two busy cores
RECOVERY = 300.0  # a restarted worker waits out the dead member's session (60 s) to rebalance
PARTITIONS = 2
Event = tuple[str, dict[str, Any]]  # (topic, event)
# The long versions run only when `-m` names `slow` (scripts/test-long), never by default.
long_version = pytest.mark.skipif("'slow' not in (config.option.markexpr or '')",
                                  reason="a long fault test: run by scripts/test-long (-m slow)")


# --- workload ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Workload:
    """Per-user streams (signup, a search, clicks) with fixed timestamps, interleaved by user."""

    events: list[Event]
    users: list[str]

    def of_kind(self, topic: str) -> list[dict[str, Any]]:
        return [e for t, e in self.events if t == topic]

    def last_clicks(self) -> list[str]:
        return list({e["user_id"]: e["event_id"] for e in self.of_kind("clicks")}.values())


def workload(tag: str, users: int, clicks: int, t0: int, seed: int = 11) -> Workload:
    """The same users, words, items, actions and timestamps for the same seed, whatever the tag."""
    rng = random.Random(seed)
    catalogue = load_sample("catalog")
    streams = []
    for n in range(users):
        words, interests = USERS[n % (len(USERS) - 1)]  # the last one says nothing
        user = f"{tag}-u{n}"
        related = [i["item_id"] for i in catalogue if i["category"] in interests]
        stream: list[Event] = [
            ("signups", {"user_id": user, "description": words, "locale": "en-GB"}),
            ("searches", {"user_id": user, "query": f"{rng.choice(['light', 'cheap', 'best'])} "
                                                      f"{words.split()[-1]}"})]
        for _ in range(clicks):
            item = rng.choice(related if rng.random() < 0.8 else
                              [i["item_id"] for i in catalogue])
            action = rng.choices(["view", "click", "add_to_cart", "purchase"], [6, 3, 2, 1])[0]
            stream.append(("clicks", {"user_id": user, "item_id": item, "action": action}))
        streams.append(stream)
    events: list[Event] = []
    while any(streams):  # round robin: users interleave, each user's own order is kept
        for stream in streams:
            if stream:
                topic, event = stream.pop(0)
                n = len(events)
                events.append((topic, {"event_id": f"{tag}-{topic[:2]}{n}", **event,
                                       "ts": t0 + 10 * n}))
    return Workload(events, [f"{tag}-u{n}" for n in range(users)])


class Streamer(threading.Thread):
    """Produces events at a steady rate from a thread, so they keep flowing through a fault."""

    def __init__(self, settings: Settings, events: list[Event], rate: float) -> None:
        super().__init__(daemon=True)
        self.settings, self.events, self.rate = settings, events, rate
        self.sent = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        producer = KafkaProducer(bootstrap_servers=self.settings.bootstrap_servers, acks="all",
                                 linger_ms=5, retries=2_000_000_000, delivery_timeout_ms=300_000,
                                 max_block_ms=300_000, reconnect_backoff_max_ms=1000)
        try:
            start = time.monotonic()
            for n, (topic, event) in enumerate(self.events):
                time.sleep(max(0.0, start + n / self.rate - time.monotonic()))
                producer.send(self.settings.topic(topic), key=event["user_id"].encode(),
                              value=_json(event))
                self.sent = n + 1
            producer.flush(timeout=300)
        except BaseException as error:  # surfaced by finish()
            self.error = error
        finally:
            producer.close(timeout=10)

    def finish(self, timeout: float = 330.0) -> None:
        self.join(timeout)
        assert not self.is_alive(), "the producer thread did not finish"
        assert self.error is None, f"producing failed: {self.error!r}"


def _json(event: dict[str, Any]) -> bytes:
    return json.dumps(event).encode()


# --- workers of our own --------------------------------------------------------------------------

@dataclass
class OwnPipeline:
    """A worker on its own topics and data dir, with the sample catalogue: killable, restartable."""

    settings: Settings
    factory: Any  # conftest's worker_factory
    pipeline: Pipeline = field(init=False)

    def boot(self) -> OwnPipeline:
        ensure_topics(self.settings)
        replay(SAMPLE_DIR / "catalog.jsonl", "catalog", settings=self.settings, quiet=True)
        replay(SAMPLE_DIR / "ads.jsonl", "ads", settings=self.settings, quiet=True)
        self.pipeline = Pipeline(self.settings, self.factory(self.settings))
        self.pipeline._track("catalog", load_sample("catalog"))
        self.pipeline._track("ads", load_sample("ads"))
        self.pipeline.worker.wait_for_log("catalogue ready", READY_TIMEOUT)
        return self

    def kill(self) -> None:
        self.pipeline.worker.process.kill()  # SIGKILL: no shutdown, no flush, no commit
        self.pipeline.worker.process.wait(30)

    def restart(self) -> None:
        assert not self.pipeline.worker.alive()
        self.pipeline.worker = self.factory(self.settings)

    def ensure_running(self) -> None:
        if not self.pipeline.worker.alive():
            self.restart()
        self.pipeline.worker.wait_for_log("catalogue ready", READY_TIMEOUT)


def own_settings(broker: str, prefix: str, data_dir: Path) -> Settings:
    return Settings(broker=f"kafka://{broker}", topic_prefix=prefix, data_dir=data_dir,
                    partitions=PARTITIONS)


@pytest.fixture(scope="module")
def own(broker: str, topic_prefix: str, worker_factory: Any,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwnPipeline]:
    """A worker this module may kill, restart and stop (the session's shared one is never touched)."""
    settings = own_settings(broker, f"{topic_prefix}faults{uuid.uuid4().hex[:4]}-",
                            tmp_path_factory.mktemp("fault-worker"))
    handle = OwnPipeline(settings, worker_factory).boot()
    yield handle
    handle.pipeline.worker.stop()
    handle.pipeline.close()


def final_profiles(pipeline: Pipeline, load: Workload, timeout: float = RECOVERY
                   ) -> dict[str, Profile]:
    """Each user's profile on the changelog once it has applied every one of the user's events.

    Not merely the last one: the worker reads the user topics side by side, so a user's clicks
    may be applied before their signup.
    """
    reader = pipeline.reader(pipeline.changelog)
    wanted: dict[str, set[str]] = {u: set() for u in load.users}
    for _, event in load.events:
        wanted[event["user_id"]].add(event["event_id"])
    keys = {u.encode(): u for u in load.users}

    def latest() -> dict[str, Profile]:
        out: dict[str, Profile] = {}
        for record in reader.records:
            if record.key in keys:
                user = keys[record.key]
                out.pop(user, None)
                if record.value is not None:
                    out[user] = Profile.from_bytes(record.value)
        return out

    def complete(_: list[Any]) -> bool:
        found = latest()
        return all(u in found and wanted[u] <= set(found[u].seen) for u in load.users)

    reader.wait(complete, "every user's profile with all of their events", timeout)
    return latest()


def assert_same_profiles(a: dict[str, Profile], b: dict[str, Profile], tag_a: str,
                         tag_b: str) -> None:
    """Users matched by position. Vectors to float tolerance: the runs embed separately, and
    events of different topics may be applied in another order (the sums do not depend on it)."""
    assert len(a) == len(b)
    for user_a, pa in a.items():
        pb = b[user_a.replace(tag_a, tag_b, 1)]
        seen_b = tuple(e.replace(tag_b, tag_a, 1) for e in pb.seen)
        assert (pa.n_interactions, pa.n_texts, pa.updated_ts) == \
            (pb.n_interactions, pb.n_texts, pb.updated_ts), user_a
        # The same items and event ids, in any order: topics interleave, and at a rebalance Faust
        # may skip a record and read it again only after a rewind (a late click, not a lost one).
        assert sorted(pa.purchased) == sorted(pb.purchased), user_a
        assert sorted(pa.recent) == sorted(pb.recent), user_a
        assert set(pa.seen) == set(seen_b), user_a
        for name in ("behaviour_vec", "text_vec"):
            va, vb = getattr(pa, name), getattr(pb, name)
            assert (va is None) == (vb is None), (user_a, name)
            if va is not None:
                np.testing.assert_allclose(vb, va, rtol=1e-4, atol=1e-5, err_msg=f"{user_a} {name}")


def answered_everything(pipeline: Pipeline, load: Workload, timeout: float = RECOVERY) -> None:
    """Every signup and search has its recommendation, and every user's last click its refresh."""
    wanted = {e["event_id"] for e in load.of_kind("signups") + load.of_kind("searches")}
    wanted |= set(load.last_clicks())
    reader = pipeline.reader("recommendations")
    try:
        reader.wait(lambda vs: wanted <= {v["trigger_event_id"] for v in vs},
                    f"recommendations for {len(wanted)} events", timeout)
    except AssertionError:
        missing = sorted(wanted - {v["trigger_event_id"] for v in reader.values})
        raise AssertionError(f"{len(missing)} of {len(wanted)} events never answered "
                             f"(lost): {missing[:30]}") from None


def wait_for_progress(pipeline: Pipeline, load: Workload, what: str, step: int = 5) -> None:
    """Wait until `step` more of the load's events are answered than when this was last asked."""
    ours = {e["event_id"] for _, e in load.events}
    reader = pipeline.reader("recommendations")

    def answered(values: list[Any]) -> int:
        return len({v["trigger_event_id"] for v in values} & ours)

    target = answered(reader.values) + step
    reader.wait(lambda vs: answered(vs) >= target, f"{target} answers {what}", RECOVERY)


# --- 1. a worker killed mid-stream -----------------------------------------------------------------

def kill_and_compare(own: OwnPipeline, reference: Pipeline, users: int, clicks: int, rate: float,
                     kills: int) -> None:
    t0 = now_ms() - 3_600_000
    tag_a, tag_b = f"ka{uuid.uuid4().hex[:5]}", f"kb{uuid.uuid4().hex[:5]}"
    calm, faulty = workload(tag_a, users, clicks, t0), workload(tag_b, users, clicks, t0)

    # The uninterrupted run: the session's shared worker, the same catalogue, the same events.
    reference.send_mixed([(t, e, None) for t, e in calm.events])
    answered_everything(reference, calm)
    expected = final_profiles(reference, calm)

    own.ensure_running()
    streamer = Streamer(own.settings, faulty.events, rate)
    streamer.start()
    for k in range(kills):
        wait_for_progress(own.pipeline, faulty, f"before kill {k + 1}")
        assert streamer.sent < len(faulty.events), "the stream ended before the kill; slow it down"
        own.kill()
        own.restart()
    streamer.finish()
    answered_everything(own.pipeline, faulty)
    assert own.pipeline.worker.alive()
    assert_same_profiles(expected, final_profiles(own.pipeline, faulty), tag_a, tag_b)


def test_a_killed_worker_loses_nothing_and_counts_nothing_twice(own: OwnPipeline,
                                                                 pipeline: Pipeline) -> None:
    kill_and_compare(own, pipeline, users=8, clicks=6, rate=12.0, kills=1)


@pytest.mark.slow
@long_version
def test_a_worker_killed_twice_loses_nothing(own: OwnPipeline,
                                                        pipeline: Pipeline) -> None:
    kill_and_compare(own, pipeline, users=40, clicks=15, rate=7.0, kills=2)


# --- profiles read back across batches -------------------------------------------------------------

def test_every_batch_reads_each_users_own_profile(pipeline: Pipeline) -> None:
    """Found by the kill test: after a batch wrote user B (partition 1), the next batch read
    user A (partition 0) from B's partition, got nothing, and rebuilt A's profile from scratch."""
    load = workload(f"pb{uuid.uuid4().hex[:5]}", users=8, clicks=2, t0=now_ms() - 3_600_000)
    for topic, event in load.events:  # one event per batch: users alternate between partitions
        pipeline.send(topic, [event])
        pipeline.recommendations([event["event_id"]])
    for user, profile in final_profiles(pipeline, load, timeout=120).items():
        assert (profile.n_texts, profile.n_interactions) == (2, 2), (user, profile.seen)


# --- 3. a corpus of bad events interleaved with valid ones -----------------------------------------

def _mutations(rng: random.Random, topic: str, event: dict[str, Any]) -> list[bytes | None]:
    """Ways to spoil a valid event: fields dropped or mistyped, broken JSON, bad bytes, huge values."""
    raw = json.dumps(event).encode()
    name = rng.choice(sorted(event))
    wrong = rng.choice([None, 7, -1.5, True, [], {}, "", "x" * 300, [{"a": 1}]])
    depth = rng.choice([50, 5000])
    return [
        json.dumps({k: v for k, v in event.items() if k != name}).encode(),
        json.dumps({**event, name: wrong}).encode(),
        raw[: rng.randrange(1, len(raw))],
        bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200))),
        raw.replace(b'"', b"\xff\xfe", 1) + b"\xc3",
        json.dumps([event]).encode(), b"null", b"42", b'"a string"', b"", None,
        raw[:-1] + b', "extra": ' + b"[" * depth + b"1" + b"]" * depth + b"}",
        raw[:-1] + b', "extra": NaN}', raw[:-1] + b', "extra": Infinity}',
        json.dumps({**event, name: "lone \ud800 surrogate"}).encode(),
        json.dumps({**event, "ts": "2024-01-01"}).encode(),
        json.dumps({**event, name: "x" * (1 << 20)}).encode() if rng.random() < 0.05 else b"{",
        json.dumps({**event, "item_id": f"sku-missing-{rng.randrange(10**6)}"}).encode()
        if topic == "clicks" else b"}{",
        json.dumps({**event, "slots": [{"slot_id": "top", "position": 0}]}).encode()
        if topic == "page_views" else b"[",
    ]


def bad_corpus(valid: list[Event], count: int, seed: int = 5
               ) -> list[tuple[str, bytes | None, bytes | None]]:
    """`count` records the worker must refuse (by schema or by the catalogue), keyed like the valid."""
    rng = random.Random(seed)
    catalogue = {i["item_id"] for i in load_sample("catalog")}
    users = sorted({e["user_id"] for _, e in valid})
    bases = list(valid) + [("catalog", i) for i in load_sample("catalog")[:20]] + \
        [("user_deletions", {"user_id": u, "ts": 1}) for u in users[:5]]
    out: list[tuple[str, bytes | None, bytes | None]] = []
    while len(out) < count:
        topic, event = rng.choice(bases)
        raw = rng.choice(_mutations(rng, topic, event))
        try:
            decoded = schemas.decode(topic, raw)
        except InvalidEventError:
            decoded = None
        if decoded is not None and not (topic == "clicks" and decoded["item_id"] not in catalogue):
            continue  # the mutation happened to be valid: not a bad event
        key = next((event[k].encode() for k in ("user_id", "item_id") if isinstance(event.get(k), str)), None)
        # Kafka needs a key or a value, and a compacted topic (catalog) a key.
        keyless = raw is not None and topic != "catalog" and rng.random() < 0.1
        out.append((topic, raw, None if keyless else key))
    return out


@pytest.mark.slow
@long_version
def test_a_large_bad_event_corpus_is_dead_lettered_and_nothing_valid_is_lost(own: OwnPipeline) -> None:
    own.ensure_running()
    pipeline = own.pipeline
    load = workload(f"bc{uuid.uuid4().hex[:5]}", users=20, clicks=5, t0=now_ms() - 3_600_000)
    views = [("page_views", page_view(u, [("top", 1), ("side", 2)])) for u in load.users]
    valid: list[Event] = load.events + views
    bad = bad_corpus(valid, 400)
    mixed: list[tuple[str, dict[str, Any] | bytes | None, bytes | None]] = []
    for n in range(max(len(valid), len(bad))):
        mixed += [(t, r, k) for t, r, k in bad[n:n + 1]] + [(t, e, None) for t, e in valid[n:n + 1]]
    sent = pipeline.send_mixed(mixed)
    sent_bad = [s for s in sent if s.event is None]
    assert len(sent_bad) == len(bad)

    letters = pipeline.dead_letters(sent_bad, timeout=RECOVERY)
    assert len(letters) == len(bad)
    for s, letter in letters.items():
        assert letter["error"] and letter["source_topic"] == s.topic
    answered_everything(pipeline, load)
    pipeline.ad_slots([e["event_id"] for _, e in views], timeout=RECOVERY)
    good = {(s.topic, s.partition, s.offset) for s in sent if s.event is not None}
    refused = [v for v in pipeline.reader("dead_letters").values
               if (v["source_topic"], v["partition"], v["offset"]) in good]
    assert not refused, f"valid events dead-lettered: {refused[:3]}"
    assert pipeline.worker.alive(), "the worker died on bad input"


# --- 4. user deletion reaches RocksDB ----------------------------------------------------------------

def rocksdb_dirs(data_dir: Path) -> list[Path]:
    """Every RocksDB database the worker keeps for its tables (a directory holding CURRENT)."""
    return sorted(p.parent for p in (data_dir / "faust").rglob("CURRENT"))


def read_rocksdb(path: Path) -> dict[bytes, bytes]:
    """All keys and values of one table database, opened read-only as Faust wrote it (raw)."""
    db = Rdict(str(path), options=Options(raw_mode=True), access_type=AccessType.read_only())
    try:
        return {bytes(k): bytes(v) for k, v in db.items()}
    finally:
        db.close()


def test_a_deleted_user_is_in_no_rocksdb_table(own: OwnPipeline) -> None:
    own.ensure_running()
    pipeline = own.pipeline
    gone, kept = new_id("gone"), new_id("kept")
    words = f"secret hobby {uuid.uuid4().hex[:8]}: restoring vintage canoes"
    for user in (gone, kept):
        pipeline.recommend(signup(user, words if user == gone else "trail running shoes"))
    pipeline.send("user_deletions", [deletion(gone)])
    reader = pipeline.reader(pipeline.changelog)
    reader.wait(lambda _: any(r.key == gone.encode() and r.value is None for r in reader.records),
                "the deleted user's tombstone")
    own.pipeline.worker.stop()  # SIGTERM: the tables are closed as in any shutdown

    tables = rocksdb_dirs(own.settings.data_dir)
    assert tables, f"no RocksDB tables under {own.settings.data_dir / 'faust'}"
    contents = {path: read_rocksdb(path) for path in tables}
    everything = {k: v for c in contents.values() for k, v in c.items()}
    assert kept.encode() in everything, "the control user is missing: wrong databases?"
    assert gone.encode() not in everything
    for path, table in contents.items():
        for key, value in table.items():
            assert gone.encode() not in key and gone.encode() not in value, path
            assert words.encode() not in value and b"vintage canoes" not in value, path
    last = [r.value for r in reader.records if r.key == gone.encode()][-1]
    assert last is None, "the changelog's last record for the user is not a tombstone"


# --- 2. the broker stopped and started while events flow ---------------------------------------------

def _free_port_pair() -> int:
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port + 1)) != 0:
                return port


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[LocalBroker]:
    """A broker for this test alone (stopping the session's broker would break every other test)."""
    local = LocalBroker(BrokerConfig(port=_free_port_pair(), data_dir=tmp_path / "broker"))
    local.start()
    try:
        yield local
    finally:
        local.stop()


def bounce_broker(own_broker: LocalBroker, worker_factory: Any, tmp_path: Path, users: int,
                  clicks: int, rate: float, down_s: float, bounces: int) -> None:
    settings = own_settings(own_broker.config.address, "bounce-", tmp_path / "worker")
    own = OwnPipeline(settings, worker_factory).boot()
    try:
        load = workload(f"bb{uuid.uuid4().hex[:5]}", users, clicks, now_ms() - 3_600_000)
        streamer = Streamer(settings, load.events, rate)
        streamer.start()
        for k in range(bounces):
            wait_for_progress(own.pipeline, load, f"before outage {k + 1}")
            assert streamer.sent < len(load.events), "the stream ended before the outage"
            assert own_broker.stop()
            time.sleep(down_s)
            assert own.pipeline.worker.alive(), "the worker died while the broker was down"
            own_broker.start()
        streamer.finish()
        answered_everything(own.pipeline, load)
        assert own.pipeline.worker.alive(), "the worker died after the broker came back"
        profiles = final_profiles(own.pipeline, load)
        assert {u: p.n_texts for u, p in profiles.items()} == {u: 2 for u in load.users}
    finally:
        own.pipeline.worker.stop()  # before the fixture stops the broker under it
        own.pipeline.close()


def test_the_worker_rides_out_a_broker_restart(own_broker: LocalBroker, worker_factory: Any,
                                               tmp_path: Path) -> None:
    bounce_broker(own_broker, worker_factory, tmp_path, users=6, clicks=4, rate=8.0, down_s=3.0,
                  bounces=1)


@pytest.mark.slow
@long_version
def test_the_worker_rides_out_repeated_broker_outages(own_broker: LocalBroker,
                                                      worker_factory: Any, tmp_path: Path) -> None:
    bounce_broker(own_broker, worker_factory, tmp_path, users=20, clicks=10, rate=3.0,
                  down_s=15.0, bounces=2)

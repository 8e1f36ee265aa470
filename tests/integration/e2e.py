"""End-to-end helpers: a real `coldstart worker` subprocess, events in, output topics read back."""
from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

import schemas
from coldstart.attribution import ServedLog
from coldstart.config import Settings
from coldstart.errors import ColdstartError
from coldstart.events import now_ms
from schemas.topics import OUTPUTS
from streams.admin import ensure_topics
from streams.tools import harness
from streams.tools.models import fetch
from streams.tools.replay import TOPIC_KEYS, replay
from streams.tools.sample_data import SAMPLE_DIR

WAIT = 90.0  # seconds an expected output may take on two shared, busy cores
MAX_BYTES = 8 * 1024 * 1024
RUNNING, KITCHEN = "running & outdoor", "kitchen"


def load_sample(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (SAMPLE_DIR / f"{name}.jsonl").read_text().splitlines()
            if line.strip()]


# --- events --------------------------------------------------------------------------------------

def new_id(what: str) -> str:
    """An id no other test (or run sharing the broker) uses."""
    return f"{what}-{uuid.uuid4().hex[:10]}"


def signup(user: str, description: str) -> dict[str, Any]:
    return {"event_id": new_id("si"), "user_id": user, "description": description,
            "locale": "en-GB", "ts": now_ms()}


def search(user: str, query: str) -> dict[str, Any]:
    return {"event_id": new_id("se"), "user_id": user, "query": query, "ts": now_ms()}


def click(user: str, item_id: str, action: str = "click") -> dict[str, Any]:
    return {"event_id": new_id("cl"), "user_id": user, "item_id": item_id, "action": action,
            "ts": now_ms()}


def page_view(user: str, slots: list[tuple[str, int]], context_item_id: str | None = None,
              page_id: str = "home") -> dict[str, Any]:
    event: dict[str, Any] = {"event_id": new_id("pv"), "user_id": user, "page_id": page_id,
                             "slots": [{"slot_id": s, "position": p} for s, p in slots],
                             "ts": now_ms()}
    if context_item_id:
        event["context_item_id"] = context_item_id
    return event


def deletion(user: str) -> dict[str, Any]:
    return {"user_id": user, "ts": now_ms()}


# --- the worker process --------------------------------------------------------------------------

@dataclass
class Worker:
    """One `coldstart worker` subprocess and the file its output goes to."""

    process: subprocess.Popen[bytes]
    log_path: Path

    def alive(self) -> bool:
        return self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def tail(self, chars: int = 6000) -> str:
        return self.log()[-chars:]

    def wait_for_log(self, text: str, timeout: float) -> None:
        """The harness's wait, with the log's tail in the failure, for the test report."""
        try:
            harness.wait_for_log(self.process, self.log_path, text, timeout)
        except ColdstartError as error:
            raise RuntimeError(f"{error}; its log:\n{self.tail()}") from None

    def stop(self, grace: float = 30.0) -> int:
        """SIGTERM, then SIGKILL if it has not stopped within `grace` seconds; the exit code."""
        harness.stop_worker(self.process, grace)
        return self.process.returncode


def start_worker(settings: Settings, log_path: Path) -> Worker:
    """`coldstart worker` with the settings given through its documented environment."""
    return Worker(harness.spawn_worker(harness.worker_env(settings), log_path), log_path)


# --- topics --------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)  # hashed by identity: the event dict is not hashable
class Sent:
    """Where one produced record landed."""

    topic: str  # the contract name, without the prefix
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    event: dict[str, Any] | None


@dataclass(frozen=True)
class Record:
    partition: int
    offset: int
    key: bytes | None
    value: Any  # decoded JSON for output topics; raw bytes (None for a tombstone) otherwise


class TopicReader:
    """Everything a topic has held, from the start of every partition, fetched as needed."""

    def __init__(self, topic: str, bootstrap: str, schema: str | None, decode: bool = True):
        self.topic, self.bootstrap, self.schema, self.decode = topic, bootstrap, schema, decode
        self.records: list[Record] = []
        self._consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                       enable_auto_commit=False, auto_offset_reset="earliest",
                                       max_partition_fetch_bytes=MAX_BYTES + 1024)

    @property
    def values(self) -> list[Any]:
        return [r.value for r in self.records]

    def poll(self, timeout_ms: int = 300) -> None:
        if not self._consumer.assignment():
            partitions = self._consumer.partitions_for_topic(self.topic)
            if not partitions:
                time.sleep(timeout_ms / 1000)
                return
            parts = [TopicPartition(self.topic, p) for p in sorted(partitions)]
            self._consumer.assign(parts)
            self._consumer.seek_to_beginning(*parts)
        for records in self._consumer.poll(timeout_ms=timeout_ms).values():
            for message in records:
                self.records.append(Record(message.partition, message.offset, message.key,
                                           self._decode(message.value)))

    def _decode(self, raw: bytes | None) -> Any:
        if not self.decode or raw is None:
            return raw
        value = json.loads(raw)
        if self.schema:  # every output event the tests ever see is checked against its schema
            try:
                schemas.validate(self.schema, value)
            except Exception as error:
                raise AssertionError(f"{self.schema} event breaks its schema: {error}\n{value}") from error
        return value

    def wait(self, until: Callable[[list[Any]], bool], what: str,
             timeout: float = WAIT) -> list[Any]:
        """Poll until `until(values so far)` holds; fail after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while not until(self.values):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} on "
                                     f"{self.topic} ({len(self.records)} records seen)")
            self.poll()
        return self.values

    def close(self) -> None:
        self._consumer.close()


@dataclass
class Pipeline:
    """A running worker with its own topics; tracks the catalogue and ads the tests sent."""

    settings: Settings
    worker: Worker
    items: dict[str, dict[str, Any]] = field(default_factory=dict)  # live catalogue
    deleted: set[str] = field(default_factory=set)
    ads: dict[str, dict[str, Any]] = field(default_factory=dict)
    _producer: KafkaProducer | None = None
    _readers: dict[str, TopicReader] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._producer = KafkaProducer(bootstrap_servers=self.settings.bootstrap_servers,
                                       acks="all", linger_ms=5, max_request_size=MAX_BYTES)

    @property
    def changelog(self) -> str:
        """The profiles table's changelog topic (Faust: `<app id>-<table>-changelog`)."""
        return f"{self.settings.topic_prefix}coldstart-profiles-changelog"

    # producing
    def send(self, topic: str, events: Iterable[dict[str, Any] | bytes | None],
             key: bytes | None = None) -> list[Sent]:
        """Produce each event (a dict as JSON, bytes as they are) in order; where each landed."""
        return self.send_mixed([(topic, event, key) for event in events])

    def send_mixed(self, events: Iterable[tuple[str, dict[str, Any] | bytes | None, bytes | None]]
                   ) -> list[Sent]:
        """Produce (topic, event, key) in order, across topics; a dict's key defaults to its id."""
        pending = []
        for topic, event, key in events:
            if isinstance(event, dict):
                raw: bytes | None = json.dumps(event).encode()
                k = key if key is not None else _key(event, topic)
            else:
                raw, k = event, key
            future = self._producer.send(self.settings.topic(topic), key=k, value=raw)
            pending.append((topic, future, k, raw, event if isinstance(event, dict) else None))
        self._producer.flush()
        sent = []
        for topic, future, k, raw, event in pending:
            meta = future.get(timeout=30)
            sent.append(Sent(topic, meta.partition, meta.offset, k, raw, event))
            if event is not None:
                self._track(topic, [event])
        return sent

    def _track(self, topic: str, events: list[dict[str, Any]]) -> None:
        for event in events:
            if topic == "catalog" and isinstance(event.get("item_id"), str):
                if event.get("deleted"):
                    self.items.pop(event["item_id"], None)
                    self.deleted.add(event["item_id"])
                else:
                    self.items[event["item_id"]] = event
                    self.deleted.discard(event["item_id"])
            elif topic == "ads" and isinstance(event.get("ad_id"), str):
                if isinstance(event.get("bid"), (int, float)) and event["bid"] > 0:
                    self.ads[event["ad_id"]] = event

    def active_ads(self) -> set[str]:
        return {a for a, ad in self.ads.items() if ad.get("active", True)}

    # reading
    def reader(self, topic: str) -> TopicReader:
        """An output topic by contract name, or any real topic name (raw values)."""
        if topic not in self._readers:
            if topic in OUTPUTS:
                self._readers[topic] = TopicReader(self.settings.topic(topic),
                                                   self.settings.bootstrap_servers, topic)
            else:
                self._readers[topic] = TopicReader(topic, self.settings.bootstrap_servers,
                                                   None, decode=False)
        return self._readers[topic]

    def outputs_for(self, topic: str, event_ids: Iterable[str], *, count: int = 1,
                    timeout: float = WAIT) -> dict[str, list[dict[str, Any]]]:
        """Output events by trigger_event_id, once each id has at least `count` of them."""
        wanted = list(event_ids)

        def by_id(values: list[Any]) -> dict[str, list[dict[str, Any]]]:
            found: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for value in values:
                if value.get("trigger_event_id") in wanted:
                    found[value["trigger_event_id"]].append(value)
            return found

        values = self.reader(topic).wait(
            lambda vs: all(len(by_id(vs).get(i, ())) >= count for i in wanted),
            f"{count} output(s) for each of {len(wanted)} events", timeout)
        return dict(by_id(values))

    def recommendations(self, event_ids: Iterable[str], **kw: Any) -> dict[str, list[dict]]:
        return self.outputs_for("recommendations", event_ids, **kw)

    def ad_slots(self, event_ids: Iterable[str], **kw: Any) -> dict[str, list[dict]]:
        return self.outputs_for("ad_slots", event_ids, **kw)

    def recommend(self, event: dict[str, Any], topic: str = "signups") -> dict[str, Any]:
        """Send one signup/search and return its (first) recommendation."""
        self.send(topic, [event])
        return self.recommendations([event["event_id"]])[event["event_id"]][0]

    def dead_letters(self, sent: Iterable[Sent], timeout: float = WAIT) -> dict[Sent, dict]:
        """The dead letter of each sent record, matched by source topic, partition and offset."""
        wanted = {(s.topic, s.partition, s.offset): s for s in sent}

        def found(values: list[Any]) -> dict[Sent, dict]:
            return {wanted[k]: v for v in values
                    if (k := (v["source_topic"], v["partition"], v["offset"])) in wanted}

        values = self.reader("dead_letters").wait(lambda vs: len(found(vs)) == len(wanted),
                                                  f"dead letters for {len(wanted)} records",
                                                  timeout)
        return found(values)

    def close(self) -> None:
        for reader in self._readers.values():
            reader.close()
        if self._producer is not None:
            self._producer.close(timeout=5)


def _key(event: dict[str, Any], topic: str) -> bytes | None:
    value = event.get(TOPIC_KEYS.get(topic, ""))
    return value.encode() if isinstance(value, str) and value else None


# --- checks shared by the tests ----------------------------------------------------------------

def check_recommendation(pipeline: Pipeline, rec: dict[str, Any], event: dict[str, Any],
                         trigger: str) -> None:
    """What every recommendations event promises about itself."""
    assert rec["trigger"] == trigger
    assert rec["trigger_event_id"] == event["event_id"]
    assert rec["user_id"] == event["user_id"]
    ids = [item["item_id"] for item in rec["items"]]
    assert len(ids) == 10, f"expected 10 items from a catalogue of {len(pipeline.items)}: {ids}"
    assert len(set(ids)) == len(ids), f"repeated items: {ids}"
    unknown = set(ids) - set(pipeline.items)
    assert not unknown, f"not in the catalogue: {unknown}"
    assert not set(ids) & pipeline.deleted, f"deleted items: {set(ids) & pipeline.deleted}"
    assert all(isinstance(i["reason"], str) and i["reason"].strip() for i in rec["items"])
    assert rec["model_version"]
    assert rec["source_ts"] == event["ts"]
    assert rec["produced_ts"] >= rec["source_ts"]


def categories(pipeline: Pipeline, rec: dict[str, Any], top: int = 5) -> list[str]:
    return [pipeline.items.get(i["item_id"], {}).get("category", "") for i in rec["items"][:top]]


def majority(pipeline: Pipeline, rec: dict[str, Any], category: str) -> bool:
    return categories(pipeline, rec).count(category) >= 3


def items_of(pipeline: Pipeline, category: str) -> list[str]:
    return [i for i, item in pipeline.items.items() if item.get("category") == category]


def check_ad_slots(pipeline: Pipeline, out: dict[str, Any], event: dict[str, Any],
                   full: bool = True) -> None:
    """One page view's ad_slots: one ad per slot at most, no ad twice, active ads, best on top."""
    assert out["trigger_event_id"] == event["event_id"]
    assert (out["user_id"], out["page_id"]) == (event["user_id"], event["page_id"])
    assert out["source_ts"] == event["ts"] and out["produced_ts"] >= out["source_ts"]
    position: dict[str, int] = {}
    for slot in event["slots"]:
        position.setdefault(slot["slot_id"], slot["position"])
    placements = out["placements"]
    slots = [p["slot_id"] for p in placements]
    ads = [p["ad_id"] for p in placements]
    assert len(set(slots)) == len(slots), f"a slot filled twice: {slots}"
    assert set(slots) <= set(position), f"unknown slots: {set(slots) - set(position)}"
    assert len(set(ads)) == len(ads), f"an ad placed twice: {ads}"
    active = pipeline.active_ads()
    assert set(ads) <= active, f"inactive or unknown ads placed: {set(ads) - active}"
    if full:  # a slot is left empty only when the active ads have run out
        assert len(placements) == min(len(position), len(active))
    # The most prominent slots hold the strongest ads: scores never rise as prominence falls.
    by_prominence = sorted(placements, key=lambda p: position[p["slot_id"]])
    scores = [p["score"] for p in by_prominence]
    assert scores == sorted(scores, reverse=True), f"a weaker ad above a stronger: {by_prominence}"
    if placements:
        assert position[by_prominence[0]["slot_id"]] == min(position.values())


# --- the worker's tables, read from their changelogs ---------------------------------------------

def table_latest(pipeline: Pipeline, table: str, key: str, until: Callable[[bytes | None], bool],
                 what: str) -> bytes | None:
    """The newest value of `key` on a table's changelog, once `until(value)` holds."""
    reader = pipeline.reader(f"{pipeline.settings.topic_prefix}coldstart-{table}-changelog")

    def newest() -> bytes | None:
        mine = [r.value for r in reader.records if r.key == key.encode()]
        return mine[-1] if mine else None

    reader.wait(lambda _: until(newest()), what)
    return newest()


def served_log(raw: bytes | None) -> ServedLog:
    """A `served` table value."""
    assert raw is not None
    return ServedLog.from_dict(json.loads(raw))


def feedback_totals(raw: bytes | None) -> tuple[float, float]:
    """A `feedback` table value: (shown, clicked)."""
    assert raw is not None
    data = json.loads(raw)
    return data["shown"], data["clicked"]


def fetched_model_settings(broker: str, topic_prefix: str, tag: str, model: str,
                           tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings of a two-partition worker serving `model` on topics and a data dir of its own."""
    return Settings(broker=f"kafka://{broker}", topic_prefix=f"{topic_prefix}{tag}{uuid.uuid4().hex[:4]}-",
                    data_dir=Path(tmp_path_factory.mktemp(f"{tag}-worker-data")), partitions=2, model=model)


@contextmanager
def fetched_model_pipeline(settings: Settings, worker_factory: Callable[[Settings], Worker],
                           catalog_dir: Path, ready_timeout: float) -> Iterator[Pipeline]:
    """A worker serving the fetched encoder `settings.model` (fetched into the data dir's registry
    first) over the sample catalogue in `catalog_dir`, once it says the catalogue is ready."""
    version = fetch(settings.model, root=settings.data_dir / "models")
    ensure_topics(settings)
    replay(catalog_dir / "catalog.jsonl", "catalog", settings=settings, quiet=True)
    worker = worker_factory(settings)
    pipeline = Pipeline(settings, worker)
    lines = (catalog_dir / "catalog.jsonl").read_text(encoding="utf-8").splitlines()
    pipeline._track("catalog", [json.loads(line) for line in lines])
    try:
        worker.wait_for_log("catalogue ready", ready_timeout)
        assert version in worker.log()  # the fetched version is what it serves
        yield pipeline
    finally:
        pipeline.close()

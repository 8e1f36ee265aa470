"""`coldstart finetune --from-topics --publish`: pairs read straight from the broker's topics, a
deleted user left out, the resulting version published on the model control topic."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from e2e import load_sample
from kafka import KafkaConsumer, KafkaProducer

import schemas
from coldstart.config import Settings
from coldstart.encoder import registry as model_registry
from coldstart.finetune import pairs_from_events, read_items
from coldstart.privacy import without_deleted
from schemas.topics import MODEL_UPDATES as CONTROL
from streams.admin import ensure_topics
from streams.tools.replay import replay
from streams.tools.sample_data import SAMPLE_DIR
from streams.tools.topic_events import DELETIONS, LOGGED, read_logged_events

pytestmark = pytest.mark.integration


def test_finetune_reads_the_topics_and_leaves_deleted_users_out(broker: str, unique_prefix: str,
                                                                         tmp_path: Path) -> None:
    settings = Settings(broker=f"kafka://{broker}", topic_prefix=unique_prefix, data_dir=tmp_path / "data",
                        partitions=2)
    ensure_topics(settings)
    for topic in LOGGED:
        replay(SAMPLE_DIR / f"{topic}.jsonl", topic, settings=settings, quiet=True)
    gone = "u-001"  # deleted after everything they did
    last = max(e["ts"] for t in ("signups", "searches", "clicks") for e in load_sample(t)
               if e["user_id"] == gone)
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers)
    producer.send(settings.topic("clicks"), key=b"u-x", value=b'{"user_id": "u-x"}').get(timeout=30)
    producer.send(settings.topic(DELETIONS), key=gone.encode(),
                  value=json.dumps({"user_id": gone, "ts": last + 1}).encode()).get(timeout=30)
    producer.close()

    logged = read_logged_events(settings, progress=False)
    for topic in LOGGED:  # every valid event, none of the invalid one
        sample = [schemas.validate(topic, e) for e in load_sample(topic)]  # defaults filled in, as read
        assert sorted(map(json.dumps, logged[topic])) == sorted(map(json.dumps, sample)), topic
    kept = without_deleted({t: load_sample(t) for t in LOGGED}, [{"user_id": gone, "ts": last + 1}])
    assert kept.left_out > 0 and all(e["user_id"] != gone for e in kept.events["clicks"])
    expected = pairs_from_events(kept.events["signups"], kept.events["searches"], kept.events["clicks"],
                                 read_items(SAMPLE_DIR / "catalog.jsonl"), negatives=3, seed=13)
    assert expected

    env = dict(os.environ, COLDSTART_BROKER=settings.broker, COLDSTART_TOPIC_PREFIX=settings.topic_prefix,
               COLDSTART_DATA_DIR=str(settings.data_dir))
    command = shutil.which("coldstart", path=str(Path(sys.executable).parent))
    argv = [command] if command else [sys.executable, "-m", "streams.tools.cli"]
    done = subprocess.run([*argv, "finetune", "--from-topics", "--lora-r", "0", "--head", "--lr", "1e-2",
                           "--batch-size", "8", "--val-fraction", "0", "--threads", "1", "--publish"],
                          env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "reading topics" in done.stderr  # the progress display
    printed = json.loads(done.stdout.strip().splitlines()[-1])
    assert printed["pairs"] == len(expected)
    manifest = model_registry.manifest(printed["model_version"], settings.data_dir / "models")
    assert manifest["data"]["source"] == "topics"
    assert manifest["data"]["topic_events"] == {t: len(kept.events[t]) for t in LOGGED}
    assert manifest["data"]["events_of_deleted_users_left_out"] == kept.left_out
    assert manifest["data"]["deleted_users"] == 1
    assert manifest["data"]["window"] == kept.window and kept.window["first_ts"] is not None

    # --publish: `current` points at it and the control topic names it, for running workers
    assert model_registry.current(settings.data_dir / "models") == printed["model_version"]
    control = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers, group_id=None,
                            auto_offset_reset="earliest", consumer_timeout_ms=10_000)
    control.subscribe([settings.topic(CONTROL)])
    published = [json.loads(r.value) for r in control]
    control.close()
    assert [e["model_version"] for e in published] == [printed["model_version"]]
    assert printed["published"] == published[0]

"""Issue 5 on the real broker: a running worker switches to a newly published model version.

A worker starts on the bundled model; a tiny fine-tuned version (a linear head, one epoch on
the sample's logged events) is written to the worker's model registry and published with
`coldstart model use`. Recommendations before carry the old `model_version`, later ones the
new one, from the same worker process; a worker started afterwards loads the new one, and then
switches to a version that adds a re-ranker. Bad control records and a missing version go to
dead_letters and leave the old model serving.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from e2e import Pipeline, load_sample, new_id, signup

from coldstart.config import Settings
from coldstart.encoder import registry as model_registry
from coldstart.events import now_ms
from schemas.topics import MODEL_UPDATES as CONTROL
from streams.admin import ensure_topics
from streams.tools.replay import replay
from streams.tools.sample_data import SAMPLE_DIR

pytestmark = pytest.mark.integration

READY_TIMEOUT = 300.0
SWITCH_TIMEOUT = 300.0  # load the version, re-embed 100 items and their ads on busy cores


def coldstart(*args: str, settings: Settings) -> str:
    """Run the `coldstart` command with the settings' environment; its stdout."""
    env = dict(os.environ, COLDSTART_BROKER=settings.broker,
               COLDSTART_TOPIC_PREFIX=settings.topic_prefix,
               COLDSTART_DATA_DIR=str(settings.data_dir))
    command = shutil.which("coldstart", path=str(Path(sys.executable).parent))
    argv = [command, *args] if command else [sys.executable, "-m", "streams.tools.cli", *args]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def small_catalogue(tmp: Path) -> tuple[Path, Path]:
    """The sample's first 100 items and the ads that promote them (a quick re-embedding)."""
    items = load_sample("catalog")[:100]
    ids = {i["item_id"] for i in items}
    ads = [a for a in load_sample("ads") if a.get("item_id") in ids]
    paths = tmp / "catalog.jsonl", tmp / "ads.jsonl"
    for path, events in zip(paths, (items, ads)):
        path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return paths


def recommend(pipeline: Pipeline, description: str) -> dict[str, Any]:
    event = signup(new_id("u"), description)
    return pipeline.recommend(event)


def test_a_published_version_is_served_without_a_restart_and_after_one(broker: str, topic_prefix: str,
                                                         worker_factory: Any, tmp_path: Path) -> None:
    settings = Settings(broker=f"kafka://{broker}", topic_prefix=f"{topic_prefix}mr{uuid.uuid4().hex[:4]}-",
                        data_dir=tmp_path / "data", partitions=2)
    ensure_topics(settings)
    catalog, ads = small_catalogue(tmp_path)
    replay(catalog, "catalog", settings=settings, quiet=True)
    replay(ads, "ads", settings=settings, quiet=True)
    worker = worker_factory(settings)
    pipeline = Pipeline(settings, worker)
    try:
        worker.wait_for_log("catalogue ready", READY_TIMEOUT)
        before = recommend(pipeline, "a warm waterproof rain jacket")
        old = before["model_version"]

        # A tiny version in the worker's registry: a linear head on both towers, one epoch.
        printed = coldstart("finetune", "--events", str(SAMPLE_DIR), "--lora-r", "0", "--head",
                            "--lr", "1e-2", "--batch-size", "8", "--val-fraction", "0", "--quiet",
                            "--threads", "1", settings=settings)
        version = json.loads(printed.strip().splitlines()[-1])["model_version"]
        assert version != old and model_registry.current(settings.data_dir / "models") is None

        # Bad control records: each one dead-lettered, the old model still serving.
        sent = pipeline.send(CONTROL, [b"not json", {"ts": now_ms()},
                                       {"model_version": "no-such-version", "ts": now_ms()}])
        letters = pipeline.dead_letters(sent)
        assert "not JSON" in letters[sent[0]]["error"]
        assert "field 'model_version' is missing" in letters[sent[1]]["error"]
        assert "cannot switch to model 'no-such-version'" in letters[sent[2]]["error"]
        assert all(letter["source_topic"] == CONTROL for letter in letters.values())
        still = recommend(pipeline, "a cast iron frying pan")
        assert still["model_version"] == old

        out = coldstart("model", "use", version, settings=settings)
        assert version in out
        assert model_registry.current(settings.data_dir / "models") == version
        worker.wait_for_log(f"now serving model {version}", SWITCH_TIMEOUT)
        after = recommend(pipeline, "a warm waterproof rain jacket")
        assert after["model_version"] == version and len(after["items"]) == 10
        assert {i["item_id"] for i in after["items"]} <= {e["item_id"] for e in load_sample("catalog")[:100]}

        # The catalogue keeps following its topic under the new model.
        novel = {"item_id": new_id("sku"), "title": "Carbon fibre telescopic fishing rod",
                 "category": "outdoor", "description": "A light telescopic rod for river fishing."}
        pipeline.send("catalog", [novel])
        worker.wait_for_log("re-embedding", 1)  # the progress line was logged during the switch
        found = None
        for _ in range(30):  # the replica applies the item soon after; each try is a new user
            rec = recommend(pipeline, "telescopic fishing rod for rivers")
            if novel["item_id"] in [i["item_id"] for i in rec["items"]]:
                found = rec
                break
        assert found is not None and found["model_version"] == version

        # The same process throughout: it loaded a model once, at its start.
        assert worker.alive()
        assert re.findall(r"coldstart: model \S+ loaded", worker.log()) == [f"coldstart: model {old} loaded"]

        # A worker started later reads the control topic first and loads the published version.
        worker.stop()
        restarted = worker_factory(settings)
        restarted.wait_for_log("catalogue ready", READY_TIMEOUT)
        assert re.findall(r"coldstart: model \S+ loaded", restarted.log()) == [f"coldstart: model {version} loaded"]

        # A version that adds a re-ranker to that encoder: the running worker switches to it and
        # re-ranks signups with it; the catalogue's vectors are the encoder's, so they are reused.
        printed = coldstart("finetune", "--events", str(SAMPLE_DIR), "--reranker", "--base", version,
                            "--rr-pairs", "100", "--rr-eval-every", "0", "--quiet", "--threads", "1",
                            settings=settings)
        reranking = json.loads(printed.strip().splitlines()[-1])["model_version"]
        assert reranking != version and "-rr-" in reranking
        coldstart("model", "use", reranking, settings=settings)
        restarted.wait_for_log(f"now serving model {reranking}", SWITCH_TIMEOUT)
        reranked = Pipeline(settings, restarted)
        try:
            rec = recommend(reranked, "a warm waterproof rain jacket")
        finally:
            reranked.close()
        assert rec["model_version"] == reranking and len(rec["items"]) == 10
    finally:
        pipeline.close()

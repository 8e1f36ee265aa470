"""Standby copies forget too: with COLDSTART_STANDBY_REPLICAS=1, a deleted user's id and words
leave the files of the worker that serves them AND of the worker that keeps a standby copy of
their partition, within the time-to-forget.

Two real `coldstart worker` processes in one group on the real broker, a short
COLDSTART_FORGET_MS (conftest.FORGET_MS). The user's data is first seen in both workers' data
directories (so a standby copy exists and the test can fail), then the user is deleted, and the
test waits, up to well past the bound, for neither directory to hold the id or the word.
"""
from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from conftest import FORGET_MS
from e2e import WAIT, Pipeline, deletion, load_sample, search, signup, table_latest
from test_scale_out import serving, user_on, wait_serving

from coldstart.config import Settings
from streams.admin import ensure_topics
from streams.tools.replay import replay
from streams.tools.sample_data import SAMPLE_DIR

pytestmark = pytest.mark.integration

PARTITIONS = 2


def holding(data_dir: Path, needles: dict[str, bytes]) -> list[str]:
    """'<what> in <file>' for each needle found in a file under `data_dir`."""
    found = []
    for path in sorted(data_dir.rglob("*")):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            found += [f"{what} in {path}" for what, needle in needles.items() if needle in data]
    return found


def wait_until(check: Any, what: str, timeout: float) -> None:
    """Until `check()` returns nothing; fails with what it last returned."""
    deadline = time.monotonic() + timeout
    while result := check():
        assert time.monotonic() < deadline, f"after {timeout:.0f}s, {what}: {result}"
        time.sleep(1.0)


def test_a_deleted_user_leaves_the_standby_copy_as_well_as_the_active_one(
        broker: str, topic_prefix: str, worker_factory: Any,
        tmp_path_factory: pytest.TempPathFactory) -> None:
    prefix = f"{topic_prefix}standby{uuid.uuid4().hex[:4]}-"
    dirs = [Path(tmp_path_factory.mktemp(f"standby-{n}")) for n in "ab"]
    configs = [Settings(broker=f"kafka://{broker}", topic_prefix=prefix, data_dir=d,
                        partitions=PARTITIONS, forget_ms=FORGET_MS, standby_replicas=1)
               for d in dirs]
    ensure_topics(configs[0])
    replay(SAMPLE_DIR / "catalog.jsonl", "catalog", settings=configs[0], quiet=True)
    replay(SAMPLE_DIR / "ads.jsonl", "ads", settings=configs[0], quiet=True)
    workers = [worker_factory(s) for s in configs]
    pipeline = Pipeline(configs[0], workers[0])
    pipeline._track("catalog", load_sample("catalog"))
    pipeline._track("ads", load_sample("ads"))
    try:
        for worker in workers:  # one partition each: each is the other's standby
            wait_serving(worker, lambda p: len(p) == 1, "the split")
        assert serving(workers[0]) | serving(workers[1]) == set(range(PARTITIONS))

        user, word = user_on(0, f"sb{uuid.uuid4().hex[:6]}"), f"zqv{uuid.uuid4().hex[:12]}"
        needles = {"the user id": user.encode(), "the word": word.encode()}
        pipeline.recommend(signup(user, f"trail running shoes and {word} for muddy hills"))
        pipeline.recommend(search(user, f"{word} headlamp"), topic="searches")
        wait_until(lambda: [str(d) for d in dirs if not holding(d, needles)],
                   "no copy of the user in these data directories (no standby copy?)", WAIT)

        pipeline.send("user_deletions", [deletion(user)])
        table_latest(pipeline, "profiles", user, lambda raw: raw is None, "the profile tombstone")
        wait_until(lambda: [f for d in dirs for f in holding(d, needles)],
                   "the deleted user is still on disk", max(WAIT, 6 * FORGET_MS / 1000))
        for worker in workers:
            assert worker.alive(), worker.tail()
    finally:
        pipeline.close()

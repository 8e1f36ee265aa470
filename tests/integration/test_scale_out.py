"""Scale-out on the real broker: workers in one group share the users and lose nothing.

Two `coldstart worker` processes in one group on four partitions; users sign up, search, click
and purchase while one worker is SIGKILLed; then a third joins with an empty data directory and
takes its share (its profiles rebuilt from the changelogs), each worker taking partitions only
once its catalogue is ready. Every signup, search and final click
is answered; no list offers back what its user purchased or interacted with lately, before the
kill, after the fail-over or after the rebalance; and a new user's popularity-led list is the
same whichever worker serves it (popularity is a table every worker follows). It proves what
is kept, not how fast: `coldstart bench pipeline --workers 2` measures the fail-over time.
"""
from __future__ import annotations

import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from e2e import Pipeline, Worker, load_sample, signup
from test_faults import (
    RECOVERY,
    Streamer,
    Workload,
    answered_everything,
    final_profiles,
    wait_for_progress,
    workload,
)

from coldstart.config import Settings
from coldstart.events import now_ms
from streams.admin import ensure_topics
from streams.partitioned import partition_for
from streams.tools import harness
from streams.tools.replay import replay
from streams.tools.sample_data import SAMPLE_DIR

pytestmark = pytest.mark.integration

PARTITIONS = 4
READY_TIMEOUT = 300.0  # model load and the sample catalogue, on two busy cores
POPULAR = "popular right now"


def serving(worker: Worker) -> set[int]:
    """The user partitions the worker last said it serves (after its tables recovered)."""
    return harness.serving_partitions(worker.log_path) or set()


def ready_before_serving(worker: Worker) -> None:
    """The worker loaded its catalogue before it took any user partition: it joins its group
    only once it can serve (streams/faust_compat.py `join_group_when`). One process writes its
    log in order, so the lines' order is the order of the events."""
    text = worker.log_path.read_text(errors="replace")
    ready = text.find("coldstart: catalogue ready")
    served = harness.SERVING.search(text)
    assert served is not None, f"the worker never served:\n{worker.tail()}"
    assert 0 <= ready < served.start(), \
        f"the worker took partitions before its catalogue was ready:\n{worker.tail()}"


def wait_serving(worker: Worker, want: Any, what: str) -> set[int]:
    """Until the worker serves partitions for which `want(partitions)` holds."""
    deadline = time.monotonic() + RECOVERY
    while not want(mine := serving(worker)):
        assert worker.alive(), f"the worker exited; its log:\n{worker.tail()}"
        assert time.monotonic() < deadline, f"{what}: still serving {mine}:\n{worker.tail()}"
        time.sleep(0.5)
    return mine


def user_on(partition: int, tag: str) -> str:
    """A new user id whose records land on `partition`."""
    n = 0
    while partition_for(f"{tag}-{n}".encode(), PARTITIONS) != partition:
        n += 1
    return f"{tag}-{n}"


def check_nothing_offered_back(pipeline: Pipeline, load: Workload) -> int:
    """Each click's list leaves out every item its user clicked up to that click (a user's clicks
    are in one partition, so they are applied in order); returns the lists checked."""
    clicked: dict[str, list[str]] = defaultdict(list)
    upto: dict[str, tuple[str, set[str]]] = {}
    for event in load.of_kind("clicks"):
        clicked[event["user_id"]].append(event["item_id"])
        upto[event["event_id"]] = (event["user_id"], set(clicked[event["user_id"]]))
    checked = 0
    for rec in pipeline.reader("recommendations").values:
        if rec["trigger"] == "click" and rec["trigger_event_id"] in upto:
            user, seen = upto[rec["trigger_event_id"]]
            offered = {i["item_id"] for i in rec["items"]} & seen
            assert not offered, f"{user} was offered back {offered} ({rec['trigger_event_id']})"
            checked += 1
    return checked


def with_purchase_and_final_view(load: Workload, hit: str, last: dict[str, str],
                                 t0: int) -> tuple[list[tuple[str, dict]], list[tuple[str, dict]]]:
    """Every user buys `hit` (so it leads popularity), then, later, views one more item."""
    buys = [("clicks", {"event_id": f"{u}-buy", "user_id": u, "item_id": hit,
                        "action": "purchase", "ts": t0 + n}) for n, u in enumerate(load.users)]
    views = [("clicks", {"event_id": f"{u}-last", "user_id": u, "item_id": last[u],
                         "action": "view", "ts": t0 + 1000 + n}) for n, u in enumerate(load.users)]
    return buys, views


def test_workers_in_one_group_survive_a_kill_and_a_join_and_rank_alike(
        broker: str, topic_prefix: str, worker_factory: Any,
        tmp_path_factory: pytest.TempPathFactory) -> None:
    prefix = f"{topic_prefix}scale{uuid.uuid4().hex[:4]}-"

    def settings(name: str) -> Settings:  # one group, one data directory per worker
        return Settings(broker=f"kafka://{broker}", topic_prefix=prefix,
                        data_dir=Path(tmp_path_factory.mktemp(name)), partitions=PARTITIONS,
                        explore_rate=0.0)

    first = settings("scale-a")
    ensure_topics(first)
    replay(SAMPLE_DIR / "catalog.jsonl", "catalog", settings=first, quiet=True)
    replay(SAMPLE_DIR / "ads.jsonl", "ads", settings=first, quiet=True)
    catalogue = load_sample("catalog")
    a, b = worker_factory(first), worker_factory(settings("scale-b"))
    pipeline = Pipeline(first, a)
    pipeline._track("catalog", catalogue)
    try:
        for worker in (a, b):  # both in the group, each with a share
            wait_serving(worker, lambda p: 0 < len(p) < PARTITIONS, "the split")
        assert serving(a) | serving(b) == set(range(PARTITIONS))
        ready_before_serving(a)
        ready_before_serving(b)

        # 1. Two workers; one is SIGKILLed while the users' events flow.
        t0 = now_ms() - 3_600_000
        load = workload(f"so{uuid.uuid4().hex[:5]}", users=8, clicks=5, t0=t0)
        hit = catalogue[7]["item_id"]
        last = {u: catalogue[40 + n]["item_id"] for n, u in enumerate(load.users)}
        buys, views = with_purchase_and_final_view(load, hit, last, t0 + 10 * len(load.events))
        events = load.events + buys
        opening = Streamer(first, events[:20], rate=20.0)
        opening.start()
        opening.finish()
        wait_for_progress(pipeline, load, "before the kill", step=5)
        rest = Streamer(first, events[20:], rate=5.0)
        rest.start()
        while rest.sent < 5:  # the kill lands mid-stream: events before it and after it
            assert rest.is_alive(), f"producing failed: {rest.error!r}"
            time.sleep(0.05)
        a.process.kill()  # SIGKILL: no leave, no flush, no commit
        a.process.wait(30)
        rest.finish()
        assert rest.sent == len(events) - 20
        before_join = Workload(load.events + buys, load.users)
        answered_everything(pipeline, before_join)
        wait_serving(b, lambda p: len(p) == PARTITIONS, "the survivor taking over")

        # 2. A third worker joins with an empty data directory and takes its share.
        c = worker_factory(settings("scale-c"))
        c_parts = wait_serving(c, bool, "the new worker's share")
        ready_before_serving(c)  # so the survivor served those users until the newcomer could
        b_parts = wait_serving(b, lambda p: p and not p & c_parts, "the survivor's share")
        assert b_parts | c_parts == set(range(PARTITIONS))
        pipeline.send_mixed([(t, e, None) for t, e in views])
        everything = Workload(before_join.events + views, load.users)
        answered_everything(pipeline, everything)
        assert check_nothing_offered_back(pipeline, everything) >= len(load.users)
        purchased: dict[str, set[str]] = defaultdict(set)
        for event in everything.of_kind("clicks"):
            if event["action"] == "purchase":
                purchased[event["user_id"]].add(event["item_id"])
        for user, profile in final_profiles(pipeline, everything).items():
            assert set(profile.purchased) == purchased[user], user
            assert profile.recent[-1] == last[user], user  # the latest item is the most recent

        # 3. New users, one per partition: the same popularity-led list from either worker.
        probes = [signup(user_on(p, f"new{uuid.uuid4().hex[:4]}"), "something nice")
                  for p in range(PARTITIONS)]
        pipeline.send("signups", probes)
        pipeline.recommendations([e["event_id"] for e in probes])
        settle(pipeline, f"{prefix}coldstart-feedback-changelog")  # the lists' shown counts
        by_split = repeat_lists(pipeline, probes, count=2)
        b.stop()  # leaves the group: the new worker takes every partition
        wait_serving(c, lambda p: len(p) == PARTITIONS, "the new worker taking over")
        by_new = repeat_lists(pipeline, probes, count=3)
        assert by_split == by_new, "a new user's list depends on the worker that serves it"
        for ids, reasons in by_new.values():  # led by what every worker's users bought
            assert hit in ids[:3] and reasons[ids.index(hit)] == POPULAR, (ids, reasons)
            assert reasons.count(POPULAR) >= len(ids) // 2, reasons
    finally:
        pipeline.close()


def settle(pipeline: Pipeline, changelog: str, quiet_s: float = 3.0) -> None:
    """Until a changelog has had no new record for `quiet_s` (every worker follows it)."""
    reader = pipeline.reader(changelog)
    seen, since = -1, time.monotonic()
    while time.monotonic() - since < quiet_s:
        reader.poll()
        if len(reader.records) != seen:
            seen, since = len(reader.records), time.monotonic()


def repeat_lists(pipeline: Pipeline, probes: list[dict[str, Any]], count: int
                 ) -> dict[str, tuple[list[str], list[str]]]:
    """Send the probes again (a repeat counts nothing twice); the latest answer to each, once
    each has `count` answers."""
    pipeline.send("signups", probes)
    found = pipeline.recommendations([e["event_id"] for e in probes], count=count)
    return {e: ([i["item_id"] for i in recs[-1]["items"]],
                [i["reason"] for i in recs[-1]["items"]]) for e, recs in found.items()}

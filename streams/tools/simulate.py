"""`coldstart simulate`: MovieLens users through the real pipeline, exploration on vs off.

For each exploration rate the run gets fresh topics and a fresh data directory (nothing learnt
carries over), produces the catalogue, starts a `coldstart worker` with COLDSTART_EXPLORE_RATE
set, and waits until it has the catalogue. Then every simulated user signs up with their words and
makes their onboarding clicks, and in each round looks at their latest recommendations and clicks
the shown items among their held-out positives, each click naming its list (recommendation_id);
the round ends when every user who clicked has their refreshed list. A user who clicked nothing
keeps the list they have (the pipeline refreshes on events only) unless `revisit` is set, when
they search with their signup words again. World and scoring: streams/tools/simulation_world.py.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from coldstart.config import Settings
from coldstart.errors import ColdstartError
from coldstart.evaluation.datasets import load_movielens
from coldstart.evaluation.report import code_commit
from coldstart.events import now_ms
from coldstart.ranking.explain import EXPLORE
from streams.admin import ensure_topics
from streams.tools.bench.tap import OutputTap, Progress
from streams.tools.harness import (
    delete_topics,
    local_broker,
    share_vector_cache,
    start_worker,
    stop_worker,
    wait_for_log,
)
from streams.tools.simulation_world import (
    RunResult,
    SimUser,
    clicks_for,
    movielens_catalog,
    movielens_users,
    plot_rounds,
    report,
)

WHO = "simulate"
MAX_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class Options:
    """What to simulate: users, rounds, the exploration rates compared, the catalogue size."""

    users: int = 100
    rounds: int = 5
    rates: tuple[float, ...] = (0.0, 0.1)
    catalog_size: int = 0  # 0: every movie; else the users' movies and the most liked others
    revisit: bool = False
    ready_timeout: float = 1800.0  # the first run embeds the catalogue on shared cores
    idle_timeout: float = 180.0  # seconds without a new answer before a wait gives up


def label(rate: float) -> str:
    return f"exploration {rate:.0%}" if rate else "exploration off"


def simulate(base: Settings, options: Options) -> dict[str, Any]:
    """Run every rate one after the other; the report (streams.tools.simulation_world.report)."""
    data = load_movielens()
    users = movielens_users(data, options.users)
    keep = {m for u in users for m in (*u.onboarding, *u.wants)}
    catalog = movielens_catalog(data, keep, options.catalog_size)
    load_start, commit = _load(), code_commit()  # the code that runs
    results = [asyncio.run(_run_rate(base, rate, users, catalog, options))
               for rate in options.rates]
    meta = {"commit": commit, "dataset": "movielens", "users": len(users), "rounds": options.rounds,
            "items": len(catalog), "revisit": options.revisit,
            "machine": {"cores": os.cpu_count(), "load_start": load_start, "load_end": _load()}}
    return report(results, meta)


async def _run_rate(base: Settings, rate: float, users: list[SimUser],
                    catalog: list[dict[str, Any]], options: Options) -> RunResult:
    data_dir = Path(tempfile.mkdtemp(prefix="coldstart-sim-"))
    settings = replace(base, topic_prefix=f"{base.topic_prefix}sim-{uuid.uuid4().hex[:6]}-",
                       data_dir=data_dir, explore_rate=rate)
    loop = _Loop(settings, label(rate), options.idle_timeout)
    result = RunResult(label(rate), rate)
    try:
        share_vector_cache(data_dir, who=WHO)
        ensure_topics(settings)
        await loop.start()
        for item in catalog:
            await loop.send("catalog", item["item_id"], {**item, "ts": loop.now()})
        await loop.flush()
        loop.worker, log = start_worker(settings, who=WHO)
        await asyncio.to_thread(wait_for_log, loop.worker, log, "catalogue ready",
                                options.ready_timeout)
        started = time.monotonic()
        await _onboard(loop, users)
        clicked = {u.user_id: set(u.onboarding) for u in users}
        counted: set[str] = set()  # lists whose explored items are counted
        for r in range(options.rounds):
            await _round(loop, users, r + 1, clicked, counted, result, options.revisit)
            print(f"{WHO}: {result.label} round {r + 1}/{options.rounds}: "
                  f"{result.rewards[-1]} clicks (cumulative {sum(result.rewards)})",
                  file=sys.stderr)
        result.seconds = time.monotonic() - started
    finally:
        try:
            await loop.close()  # the worker stops before its data directory goes
        finally:
            shutil.rmtree(data_dir, ignore_errors=True)
            delete_topics(settings, who=WHO)
    return result


async def _onboard(loop: _Loop, users: list[SimUser]) -> None:
    """Signups with the users' words, then their onboarding clicks; each user's latest list."""
    expect = {}
    for u in users:
        expect[u.user_id] = await loop.event("signups", u.user_id, description=u.description)
    await loop.wait_for(expect, "signups")
    for u in users:
        for item in u.onboarding:
            expect[u.user_id] = await loop.event("clicks", u.user_id, item_id=item,
                                                 action="click")
    await loop.wait_for(expect, "onboarding clicks")


async def _round(loop: _Loop, users: list[SimUser], number: int, clicked: dict[str, set[str]],
                 counted: set[str], result: RunResult, revisit: bool) -> None:
    """Every user clicks what they want of their latest list; wait for the refreshed lists."""
    expect, reward = {}, 0
    for u in users:
        rec = loop.latest[u.user_id]
        shown = [i["item_id"] for i in rec["items"]]
        explored = {i["item_id"] for i in rec["items"] if i["reason"] == EXPLORE}
        if rec["recommendation_id"] not in counted:
            counted.add(rec["recommendation_id"])
            result.explored_shown += len(explored)
        for item in clicks_for(shown, u.wants, clicked[u.user_id]):
            expect[u.user_id] = await loop.event("clicks", u.user_id, item_id=item,
                                                 action="click",
                                                 recommendation_id=rec["recommendation_id"])
            clicked[u.user_id].add(item)
            result.explored_clicked += item in explored
            result.clicks.append({"round": number, "user_id": u.user_id, "item_id": item,
                                  "recommendation_id": rec["recommendation_id"], "shown": shown,
                                  "explored": item in explored})
            reward += 1
        if revisit and u.user_id not in expect:
            expect[u.user_id] = await loop.event("searches", u.user_id,
                                                 query=u.description[:500])
    result.rewards.append(reward)
    await loop.wait_for(expect, f"round {number}")


class _Loop:
    """One rate's connection to the pipeline: a producer, an output tap, the worker, and every
    user's latest recommendations."""

    def __init__(self, settings: Settings, name: str, idle_timeout: float) -> None:
        self.settings, self.name, self.idle_timeout = settings, name, idle_timeout
        self.producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks=1,
                                         linger_ms=5, max_request_size=MAX_BYTES,
                                         client_id="coldstart-simulate")
        self.tap = OutputTap(settings)
        self.worker: subprocess.Popen[bytes] | None = None
        self.latest: dict[str, dict[str, Any]] = {}
        self.answers: dict[str, dict[str, Any]] = {}  # trigger_event_id -> recommendation
        self.dead_letters: list[dict[str, Any]] = []
        self._clock = 0
        self._events = 0

    async def start(self) -> None:
        await self.producer.start()
        await self.tap.start()

    def now(self) -> int:
        """Wall-clock ms, strictly increasing: a user's events keep their order by ts."""
        self._clock = max(now_ms(), self._clock + 1)
        return self._clock

    async def send(self, topic: str, key: str, value: dict[str, Any]) -> None:
        raw = json.dumps(value, separators=(",", ":")).encode()
        await self.producer.send(self.settings.topic(topic), key=key.encode(), value=raw)

    async def event(self, topic: str, user: str, **fields: Any) -> str:
        """Send one user event; its event_id."""
        self._events += 1
        event_id = f"{user}-{topic[:2]}{self._events}"
        await self.send(topic, user, {"event_id": event_id, "user_id": user, **fields,
                                      "ts": self.now()})
        return event_id

    async def flush(self) -> None:
        await self.producer.flush()

    async def wait_for(self, expect: dict[str, str], what: str) -> None:
        """Until each user's expected trigger has its recommendation, which becomes their latest."""
        await self.flush()
        pending = {event_id: user for user, event_id in expect.items()}
        progress = Progress(f"{self.name}: {what}", len(pending), noun="users")
        clock = asyncio.get_running_loop()
        last_change = clock.time()
        while pending:
            for _, topic, raw in await self.tap.take(clock.time() + 0.5):
                value = json.loads(raw)
                if topic == "recommendations":
                    self.answers[value["trigger_event_id"]] = value
                elif topic == "dead_letters":
                    self.dead_letters.append(value)
            for event_id in [e for e in pending if e in self.answers]:
                self.latest[pending.pop(event_id)] = self.answers[event_id]
                last_change = clock.time()
            progress.show(len(expect), len(expect) - len(pending))
            if self.worker is not None and self.worker.poll() is not None:
                raise ColdstartError(f"the worker exited with code {self.worker.returncode}")
            if clock.time() - last_change > self.idle_timeout:
                raise ColdstartError(f"{what}: {len(pending)} users got no recommendations "
                                     f"within {self.idle_timeout:.0f}s of the last answer "
                                     f"({len(self.dead_letters)} dead letters)")
        progress.done()

    async def close(self) -> None:
        await self.tap.close()
        await self.producer.stop()
        stop_worker(self.worker)


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def write_report(result: dict[str, Any], out: Path) -> list[Path]:
    """simulation_pipeline_movielens.json and .png in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / "simulation_pipeline_movielens.json"
    json_path.write_text(json.dumps(result, indent=1) + "\n")
    runs = [RunResult(r["label"], r["explore_rate"], r["clicks_per_round"])
            for r in result["runs"]]
    idle = ("users who clicked nothing search again" if result["revisit"] else
            "users who clicked nothing keep their list")
    title = (f"MovieLens through the live pipeline: {result['users']} users, "
             f"{result['items']:,} items\nclicks on shown held-out positives; {idle}")
    return [json_path, plot_rounds(runs, out / "simulation_pipeline_movielens.png", title)]


def main(args: argparse.Namespace) -> int:
    """The `coldstart simulate` handler."""
    if args.dataset != "movielens":
        raise ColdstartError(f"expected --dataset movielens, got {args.dataset!r}")
    rates = tuple(args.explore) if args.explore else (0.0, 0.1)
    if any(not 0.0 <= r <= 1.0 for r in rates):
        raise ColdstartError(f"expected --explore rates from 0 to 1, got {list(rates)}")
    options = Options(users=args.users, rounds=args.rounds, rates=rates,
                      catalog_size=args.catalog_size, revisit=args.revisit)
    base = Settings.from_env()
    with local_broker(base, who=WHO):
        result = simulate(base, options)
    for run in result["runs"]:
        print(f"{run['label']:<18} clicks per round {run['clicks_per_round']} "
              f"total {run['total_clicks']} (explored: {run['explored_shown']} shown, "
              f"{run['explored_clicked']} clicked) in {run['seconds']:.0f}s")
    for path in write_report(result, Path(args.out)):
        print(f"wrote {path}")
    return 0

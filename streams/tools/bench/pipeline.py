"""`coldstart bench pipeline`: drive the running pipeline through the broker and time every answer.

A run loads a catalogue (1,000 to 100,000 items), proves the worker has all of it, warms every
path up, then runs phases one after another. A phase sends one kind of event at a rate (0: as
fast as possible) and waits for every answer: latency is the event's `ts` (stamped just before
it is produced) to the moment this process consumes the output. It also times the encoder alone,
batched, on the very texts the signups carry, and reports signups/s as a share of that.
By default the bench starts its own `coldstart worker` on its own topics and data directory;
`--workers N` starts N of them in one group (a data directory each) and, with two or more, ends
with a fail-over: one worker is SIGKILLed and the time to the first answer for a user it served
is measured (streams/tools/bench/failover.py).
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
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from coldstart.config import Settings
from coldstart.errors import ColdstartError
from coldstart.evaluation.report import code_commit
from streams.admin import ensure_topics
from streams.tools.bench import failover
from streams.tools.bench import workload as workload
from streams.tools.bench.latency import Ledger, rate, span_ms, summarize
from streams.tools.bench.tap import MemorySampler, OutputTap, Progress, process_cpu_seconds
from streams.tools.harness import (
    copy_vector_cache,
    delete_topics,
    local_broker,
    serving_partitions,
    share_vector_cache,
    start_worker,
    stop_worker,
)

KINDS = ("signups", "searches", "clicks", "page_views")
TRIGGER_KIND = {"signup": "signups", "search": "searches", "click": "clicks"}
MAX_BYTES = 8 * 1024 * 1024
ENCODER_BATCH = 64  # the users agent's take_events(64, ...): the batch the worker embeds
WARMUP = 32  # events of each kind sent before timing starts


MIXED = "mixed"
MIX_KINDS = ("clicks", "page_views", "signups")  # the order of a mixed phase's rates


@dataclass(frozen=True)
class Phase:
    """One kind of event, `events` of them, at `rate` per second (0: as fast as possible); or a
    mixed phase: several kinds at once, each at its own rate (`mix`), for `events` in all."""

    kind: str
    rate: float
    events: int
    mix: tuple[tuple[str, float], ...] = ()

    @property
    def label(self) -> str:
        if self.mix:
            return "mixed@" + "/".join(f"{r:g}" for _, r in self.mix)
        return f"{self.kind}@{f'{self.rate:g}/s' if self.rate else 'max'}"

    def counts(self) -> dict[str, int]:
        """Events of each kind this phase sends."""
        if not self.mix:
            return {self.kind: self.events}
        seconds = self.events / self.rate
        return {kind: round(rate * seconds) for kind, rate in self.mix if rate > 0}


# The targets, one phase each (one worker, two cores).
TARGET_PLAN = (Phase("signups", 0, 1000), Phase("signups", 20, 600), Phase("clicks", 0, 20000),
               Phase("clicks", 2000, 20000), Phase("page_views", 200, 3000))


def parse_phase(text: str, default_rate: float = 0.0, default_events: int = 1000) -> Phase:
    """'signups', 'signups@20', 'clicks@0:20000' or 'page_views:500' as a Phase; or
    'mixed@500/200/20:20': clicks, page views and signups per second at once, for 20 seconds."""
    head, _, count = text.partition(":")
    kind, _, speed = head.partition("@")
    if kind == MIXED:
        return _parse_mixed(text, speed, count)
    if kind not in KINDS:
        raise ColdstartError(f"expected a phase kind in {KINDS}, got {kind!r} in {text!r}")
    try:
        phase = Phase(kind, float(speed) if speed and speed != "max" else
                      (0.0 if speed == "max" else default_rate),
                      int(count) if count else default_events)
    except ValueError:
        raise ColdstartError(f"expected KIND[@RATE][:EVENTS] like clicks@2000:20000, "
                             f"got {text!r}") from None
    if phase.rate < 0 or phase.events < 1:
        raise ColdstartError(f"expected a rate >= 0 and events >= 1, got {text!r}")
    return phase


def _parse_mixed(text: str, speed: str, count: str) -> Phase:
    try:
        rates = [float(r) for r in speed.split("/")] if speed else []
        seconds = float(count) if count else 10.0
    except ValueError:
        rates = []
    if not 1 <= len(rates) <= len(MIX_KINDS) or min(rates) < 0 or sum(rates) <= 0:
        raise ColdstartError(f"expected mixed@CLICKS/PAGE_VIEWS/SIGNUPS[:SECONDS] with rates per "
                             f"second, like mixed@500/200/20:20, got {text!r}")
    mix = tuple(zip(MIX_KINDS, rates))
    return Phase(MIXED, sum(rates), max(1, round(sum(rates) * seconds)), mix)


def plan(args: argparse.Namespace) -> list[Phase]:
    """--targets, else the --phase list, else one phase per --kinds at --rate with --events."""
    if getattr(args, "targets", False):
        return list(TARGET_PLAN)
    if getattr(args, "phase", None):
        return [parse_phase(p, args.rate, args.events) for p in args.phase]
    kinds = [k.strip() for k in (getattr(args, "kinds", None) or ",".join(KINDS)).split(",")]
    return [parse_phase(k, args.rate, args.events) for k in kinds if k]


@dataclass
class Run:
    """What one bench run set up: where it talks, what it sent, and what it has to clean up."""

    settings: Settings
    run_id: str
    items: list[str]
    texts: dict[int, list[str]]  # signup descriptions per phase index (-1: the warm-up)
    pool_size: int = 1000  # users that the other kinds pick from (the latest signed up)
    users: list[str] = field(default_factory=list)  # signed-up users
    counters: dict[str, int] = field(default_factory=dict)
    producer: AIOKafkaProducer | None = None
    tap: OutputTap | None = None
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)  # one group
    worker_logs: list[Path] = field(default_factory=list)
    killed: set[int] = field(default_factory=set)  # workers the fail-over SIGKILLed
    dead_letters: int = 0
    model_version: str | None = None  # as the worker's recommendations name it
    zipf: float = 0.0  # the clicks' item skew (0: uniform)

    def event_id(self, kind: str) -> str:
        n = self.counters.get(kind, 0)
        self.counters[kind] = n + 1
        return f"{self.run_id}-{kind[:2]}{n}"

    async def send(self, topic: str, key: str, value: dict[str, Any]) -> asyncio.Future[Any]:
        assert self.producer is not None
        raw = json.dumps(value, separators=(",", ":")).encode()
        return await self.producer.send(self.settings.topic(topic), key=key.encode(), value=raw)

    def check_worker(self) -> None:
        for n, worker in enumerate(self.workers):
            if n not in self.killed and worker.poll() is not None:
                raise ColdstartError(f"a worker exited with code {worker.returncode}; "
                                     f"see {self.worker_logs[n]}")

    def worker_cpu_seconds(self) -> float | None:
        """The CPU time of the workers still running, together (None when unknown)."""
        found = [process_cpu_seconds(w) for n, w in enumerate(self.workers) if n not in self.killed]
        return None if not found or None in found else sum(c for c in found if c is not None)


def main(args: argparse.Namespace) -> int:
    """Run the bench; 0 when every event got its answer, 1 when some were lost."""
    phases = plan(args)
    if not 1 <= args.catalog_size <= 1_000_000:
        raise ColdstartError(f"expected --catalog-size in 1..1,000,000, got {args.catalog_size}")
    if not 1 <= args.workers <= 16:
        raise ColdstartError(f"expected --workers in 1..16, got {args.workers}")
    if args.workers > 1 and args.no_worker:
        raise ColdstartError("--workers starts workers; it cannot be used with --no-worker")
    own_worker = not args.no_worker
    run_id = f"b{uuid.uuid4().hex[:6]}"
    base = Settings.from_env()
    settings, data_dir = base, None
    if own_worker:
        data_dir = Path(args.data_dir) if args.data_dir else \
            Path(tempfile.mkdtemp(prefix="coldstart-bench-"))
        data_dir.mkdir(parents=True, exist_ok=True)
        settings = replace(base, topic_prefix=f"{base.topic_prefix}bench-{run_id}-",
                           data_dir=data_dir)
        if not args.cold_cache:
            share_vector_cache(data_dir)
    result: dict[str, Any] = {
        "run_id": run_id, **_commit(), "config": _config(args, phases, settings, own_worker),
        "machine": {"cores": os.cpu_count(), "load_start": _load()}}
    try:
        with local_broker(base):
            texts = _signup_texts(phases, args.source)
            result["encoder"] = _raw_encoder(settings, _encoder_texts(phases, texts))
            catalog = workload.catalog(args.catalog_size, args.source)
            run = Run(settings, run_id, [i["item_id"] for i in catalog], texts, pool_size=args.users,
                      zipf=getattr(args, "zipf", 0.0))
            asyncio.run(_drive(run, catalog, phases, args, own_worker, result))
            if result["encoder"]:
                result["encoder"]["worker_model_version"] = run.model_version
    finally:
        result["machine"]["load_end"] = _load()
        if data_dir is not None:
            result["table_disk_mib"] = _table_disk(data_dir, args.workers)
        if data_dir is not None and not args.keep and not args.data_dir:
            shutil.rmtree(data_dir, ignore_errors=True)
    result["ratios"] = _ratios(result)
    result["targets"] = _targets(result)
    print(report(result))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.out}")
    return 1 if sum(p["missing"] for p in result["phases"]) else 0


async def _drive(run: Run, catalog: list[dict[str, Any]], phases: list[Phase],
                 args: argparse.Namespace, own_worker: bool, result: dict[str, Any]) -> None:
    """Catalogue, warm-up, then the phases; the worker and topics are cleaned up whatever happens."""
    result["phases"] = []
    try:
        result["catalog"] = await _load_catalog(run, catalog, own_worker, args.ready_timeout,
                                                args.workers)
        result["warmup"] = await _warm_up(run, phases, args.source)
        for index, phase in enumerate(phases):
            result["phases"].append(await _run_phase(run, index, phase, args))
            await asyncio.sleep(1.0)  # let the worker commit and settle between phases
        if len(run.workers) > 1 and not args.no_failover:
            result["failover"] = await failover.measure(run, _stamp_and_send, _absorb)
        result["dead_letters"] = run.dead_letters
    finally:
        await _close(run, keep=args.keep or not own_worker)


# --- setting up ------------------------------------------------------------------------------------

def _config(args: argparse.Namespace, phases: list[Phase], settings: Settings,
            own_worker: bool) -> dict[str, Any]:
    return {"phases": [asdict(p) for p in phases], "catalog_size": args.catalog_size,
            "source": args.source, "broker": settings.broker, "topic_prefix": settings.topic_prefix,
            "worker": "started by the bench" if own_worker else "already running",
            "workers": args.workers if own_worker else None,
            "standby_replicas": settings.standby_replicas,
            "session_timeout_s": settings.session_timeout_s,
            "partitions": settings.partitions, "model": settings.model or "bundled",
            "encoder_threads": settings.encoder_threads or os.cpu_count(),
            "click_coalesce_ms": settings.click_coalesce_ms, "users": args.users,
            "zipf": getattr(args, "zipf", 0.0)}


def _commit() -> dict[str, Any]:
    """The code measured: the commit of this checkout, and whether it had uncommitted changes."""
    commit = code_commit()
    return {"commit": commit.rstrip("+") if commit else None,
            "dirty": commit.endswith("+") if commit else None}


def _table_disk(data_dir: Path, workers: int) -> list[float]:
    """Each started worker's RocksDB tables on disk, MiB (standby replicas add to it)."""
    dirs = [data_dir] + [data_dir / f"worker-{n}" for n in range(1, workers)]
    return [round(sum(f.stat().st_size for f in (d / "faust").rglob("*") if f.is_file()) / 2**20, 2)
            for d in dirs]


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _signup_texts(phases: list[Phase], source: str) -> dict[int, list[str]]:
    """Distinct descriptions for every signups phase, and for the warm-up (key -1)."""
    counts = [(i, p.counts()["signups"]) for i, p in enumerate(phases)
              if p.counts().get("signups")]
    pool = workload.descriptions(WARMUP + sum(n for _, n in counts), source)
    out, start = {-1: pool[:WARMUP]}, WARMUP
    for index, n in counts:
        out[index], start = pool[start:start + n], start + n
    return out


def _encoder_texts(phases: list[Phase], texts: dict[int, list[str]]) -> list[str]:
    """The texts of the first as-fast-as-possible signups phase (else of every signups phase)."""
    fastest = [i for i, p in enumerate(phases) if p.kind == "signups" and not p.rate]
    if fastest:
        return texts[fastest[0]]
    return [t for i, ts in texts.items() if i >= 0 for t in ts]


def _raw_encoder(settings: Settings, texts: list[str], repeats: int = 3) -> dict[str, Any] | None:
    """The worker's encoder alone, uncached, batches of 64: median texts/s of `repeats` passes.

    Run before the worker starts, so the two never share the cores.
    """
    if not texts:
        return None
    import torch

    from coldstart.encoder.encoder import load_encoder
    from coldstart.encoder.registry import model_spec

    # the model the worker loads: COLDSTART_MODEL, else the version `current` names in its data dir
    spec = model_spec(settings.model or None, settings.data_dir / "models")
    encoder = load_encoder(spec, threads=settings.encoder_threads, cache_size=0)
    encoder.encode(texts[:ENCODER_BATCH], batch_size=ENCODER_BATCH)  # first calls allocate
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        encoder.encode(texts, batch_size=ENCODER_BATCH)
        runs.append(time.perf_counter() - start)
    seconds = sorted(runs)[len(runs) // 2]
    return {"texts": len(texts), "batch_size": ENCODER_BATCH, "threads": torch.get_num_threads(),
            "version": encoder.version, "runs_s": [round(r, 3) for r in runs],
            "texts_per_s": round(len(texts) / seconds, 1)}


async def _load_catalog(run: Run, catalog: list[dict[str, Any]], own_worker: bool,
                        timeout: float, workers: int = 1) -> dict[str, Any]:
    """Produce the catalogue and ads, start the worker, wait until it knows each partition's last item."""
    settings = run.settings
    ensure_topics(settings)
    run.producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks=1,
                                    linger_ms=0, max_request_size=MAX_BYTES,
                                    client_id="coldstart-bench")
    await run.producer.start()
    started = time.monotonic()
    sent = [(item["item_id"], await run.send("catalog", item["item_id"], {**item, "ts": _now()}))
            for item in catalog]
    for ad in workload.ads(catalog):
        await run.send("ads", ad["ad_id"], {**ad, "ts": _now()})
    assert run.producer is not None
    await run.producer.flush()
    last = {(await future).partition: item_id for item_id, future in sent}
    produce_s = time.monotonic() - started
    run.tap = OutputTap(settings)
    await run.tap.start()
    if own_worker:
        _start_workers(run, workers)
    await _wait_for_items(run, sorted(last.values()), timeout)
    if len(run.workers) > 1:
        await _wait_balanced(run, timeout)
    return {"items": len(catalog), "produce_s": round(produce_s, 2),
            "ready_s": round(time.monotonic() - started, 1),
            "worker_logs": [str(log) for log in run.worker_logs]}


def _start_workers(run: Run, count: int) -> None:
    """`count` workers in one group, a data directory each (the first one's is the run's)."""
    for n in range(count):
        settings = run.settings if n == 0 else \
            replace(run.settings, data_dir=run.settings.data_dir / f"worker-{n}")
        if n:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            copy_vector_cache(settings.data_dir)
        process, log = start_worker(settings)
        run.workers.append(process)
        run.worker_logs.append(log)


async def _wait_balanced(run: Run, timeout: float) -> None:
    """Until every worker serves a share of the user partitions and together they serve all."""
    deadline = time.monotonic() + timeout
    while True:
        shares = [serving_partitions(log) for log in run.worker_logs]
        if all(shares) and sum(len(s or ()) for s in shares) == run.settings.partitions and \
                set().union(*(s or set() for s in shares)) == set(range(run.settings.partitions)):
            return
        run.check_worker()
        if time.monotonic() > deadline:
            raise ColdstartError(f"the workers did not share the partitions within {timeout:.0f}s"
                                 f" (each serves: {shares}); logs: {run.worker_logs}")
        await asyncio.sleep(0.5)


async def _wait_for_items(run: Run, items: list[str], timeout: float) -> None:
    """View each item until the view is answered: the worker then holds it and all before it.

    One probe user per partition, so with several workers each of them is asked."""
    deadline = time.monotonic() + timeout
    probes, ledger = failover.users_per_partition(f"{run.run_id}-probe", run.settings.partitions), Ledger()
    asked: dict[str, str] = {}  # event id -> item, while a probe is out
    done: set[str] = set()
    progress = Progress("catalogue", len(items), noun="items")
    while len(done) < len(items):
        for item in set(items) - done - set(asked.values()):
            for user in probes:
                event_id = run.event_id("probe")
                asked[event_id] = item
                event = {"event_id": event_id, "user_id": user, "item_id": item, "action": "view"}
                await _stamp_and_send(run, ledger, "clicks", user, event)
        pause = asyncio.get_running_loop().time() + 2.0
        while asyncio.get_running_loop().time() < pause:
            for event_id in await _absorb(run, ledger, pause):  # refused: not loaded yet
                refused = asked.get(event_id)  # asked again of every probe user
                asked = {e: i for e, i in asked.items() if i != refused}
        answered = {e for e in asked if e not in ledger.pending["clicks"]}
        done |= {item for item in set(asked.values())
                 if all(e in answered for e, i in asked.items() if i == item)}
        progress.show(len(done), len(done))
        run.check_worker()
        if time.monotonic() > deadline:
            raise ColdstartError(f"the worker did not load the catalogue within {timeout:.0f}s "
                                 f"(see --ready-timeout); worker logs: {run.worker_logs}")
    progress.done()


async def _warm_up(run: Run, phases: list[Phase], source: str) -> dict[str, Any]:
    """A few events of each kind the plan uses, answered before any timing: first calls allocate."""
    kinds = {k for p in phases for k in p.counts()} | {"signups"}
    ledger = Ledger()
    started = time.monotonic()
    for kind in KINDS:  # signups first, so the other kinds come from known users
        if kind in kinds:
            for user, event in _events(run, kind, WARMUP, -1, source):
                await _stamp_and_send(run, ledger, kind, user, event)
    await _wait_answered(run, ledger, kinds, 300.0, "warm-up")
    return {"events": sum(ledger.count_sent(k) for k in kinds),
            "seconds": round(time.monotonic() - started, 1)}


# --- phases ----------------------------------------------------------------------------------------

def _events(run: Run, kind: str, count: int, index: int, source: str
            ) -> Iterator[tuple[str, dict[str, Any]]]:
    """(user, event without ts) for a phase (index -1: the warm-up)."""
    pool = run.users[-run.pool_size:] or [f"{run.run_id}-v{n}" for n in range(run.pool_size)]
    if kind == "signups":
        for text in run.texts[index][:count]:
            user = f"{run.run_id}-u{len(run.users)}"
            run.users.append(user)
            yield user, {"event_id": run.event_id(kind), "user_id": user, "description": text,
                         "locale": "en-GB"}
        return
    if kind == "searches":
        users = workload.clicks(pool, run.items, seed=7 + index)
        bodies: Iterator[dict[str, Any]] = ({"user_id": next(users)["user_id"], "query": q}
                                            for q in workload.queries(count, source, seed=index))
    elif kind == "clicks":
        bodies = workload.clicks(pool, run.items, seed=5 + index, zipf=run.zipf)
    else:
        bodies = workload.page_views(pool, run.items, seed=6 + index)
    for _, body in zip(range(count), bodies):
        yield body["user_id"], {"event_id": run.event_id(kind), **body}


def _schedule(run: Run, index: int, phase: Phase, source: str
              ) -> Iterator[tuple[float | None, str, str, dict[str, Any]]]:
    """(due seconds after the start or None for as soon as possible, kind, user, event), in order."""
    if not phase.mix:
        for n, (user, event) in enumerate(_events(run, phase.kind, phase.events, index, source)):
            yield (n / phase.rate if phase.rate else None), phase.kind, user, event
        return
    streams = {kind: _events(run, kind, count, index, source)
               for kind, count in phase.counts().items()}
    rates = dict(phase.mix)
    due = [(n / rates[kind], kind, n) for kind, count in phase.counts().items()
           for n in range(count)]
    for at, kind, _ in sorted(due):
        user, event = next(streams[kind])
        yield at, kind, user, event


async def _run_phase(run: Run, index: int, phase: Phase, args: argparse.Namespace
                     ) -> dict[str, Any]:
    """Send the phase's events on schedule, then wait for every answer; the phase's figures."""
    ledger = Ledger()
    kinds = phase.counts()
    progress = Progress(phase.label, phase.events)
    loop = asyncio.get_running_loop()
    cpu_bench, cpu_worker = sum(os.times()[:2]), run.worker_cpu_seconds()
    memory = MemorySampler(run.workers[0] if run.workers else None)
    start = loop.time()
    for n, (at, kind, user, event) in enumerate(_schedule(run, index, phase, args.source)):
        if at is not None:
            due = start + at
            while loop.time() < due:
                await _absorb(run, ledger, due)
                memory.sample()
        elif n % 64 == 0:
            await asyncio.sleep(0)  # let the producer's sender and the tap run
            await _absorb(run, ledger, 0.0)
            memory.sample()
        await _stamp_and_send(run, ledger, kind, user, event)
        if n % 64 == 0:
            answered = sum(len(ledger.answers[k]) for k in kinds)
            progress.show(n + 1, answered, sum(ledger.repeats[k] for k in kinds))
    assert run.producer is not None
    await run.producer.flush()
    sent_s = loop.time() - start
    await _wait_answered(run, ledger, set(kinds), args.drain_timeout, phase.label, progress,
                         memory)
    wall = loop.time() - start
    worker_cpu = run.worker_cpu_seconds()
    worker_s = None if worker_cpu is None or cpu_worker is None else worker_cpu - cpu_worker
    bench_s = sum(os.times()[:2]) - cpu_bench
    out: dict[str, Any] = {
        "kind": phase.kind, "rate": phase.rate, "events": phase.events, "label": phase.label,
        "sent_s": round(sent_s, 3), "offered_per_s": round(rate(phase.events, sent_s), 1)}
    figures = {kind: _figures(ledger, kind, count, sent_s) for kind, count in kinds.items()}
    if phase.mix:
        out["mix"] = dict(phase.mix)
        out["kinds"] = figures
        out.update(answered=sum(f["answered"] for f in figures.values()),
                   missing=sum(f["missing"] for f in figures.values()),
                   repeats=sum(f["repeats"] for f in figures.values()),
                   unknown_outputs=ledger.unknown, throughput_per_s=0.0, latency_ms={},
                   worker_ms={})
    else:
        out.update(figures[phase.kind], unknown_outputs=ledger.unknown)
    out.update({
        "cpu_s": {"wall": round(wall, 1), "bench": round(bench_s, 1),
                  "worker": None if worker_s is None else round(worker_s, 1)},
        # CPU time per event is far less noisy than wall time on a shared machine
        "worker_cpu_ms_per_event": None if worker_s is None else
        round(1000 * worker_s / phase.events, 3),
        "worker_cpu_share": None if worker_s is None or wall <= 0 else round(worker_s / wall, 2),
        "worker_rss_mb": memory.figures(),
    })
    return out


def _figures(ledger: Ledger, kind: str, events: int, sent_s: float) -> dict[str, Any]:
    """One kind's answers in a phase: counts, throughput over the answered span, latencies."""
    answers = ledger.answers[kind]
    span = span_ms(answers)
    seconds = (span[1] - span[0]) / 1000 if span else 0.0
    return {"events": events, "offered_per_s": round(rate(events, sent_s), 1),
            "answered": len(answers), "missing": len(ledger.missing(kind)),
            "repeats": ledger.repeats[kind],
            "throughput_per_s": round(rate(len(answers), seconds), 1),
            "latency_ms": summarize(ledger.latencies(kind)),
            "worker_ms": summarize(ledger.worker_latencies(kind))}


async def _stamp_and_send(run: Run, ledger: Ledger, kind: str, user: str,
                          event: dict[str, Any]) -> None:
    event["ts"] = ts = _now()
    await run.send(kind, user, event)
    ledger.sent(kind, event["event_id"], user, ts)


async def _wait_answered(run: Run, ledger: Ledger, kinds: set[str], idle: float, what: str,
                         progress: Progress | None = None,
                         memory: MemorySampler | None = None) -> None:
    """Absorb outputs until nothing is missing, or nothing new arrived for `idle` seconds."""
    assert run.producer is not None
    await run.producer.flush()
    loop = asyncio.get_running_loop()
    last_change, answered = loop.time(), -1
    while any(ledger.missing(k) for k in kinds):
        await _absorb(run, ledger, loop.time() + 0.2)
        now_answered = sum(len(ledger.answers[k]) for k in kinds)
        if now_answered != answered:
            answered, last_change = now_answered, loop.time()
        if progress:
            progress.show(sum(ledger.count_sent(k) for k in kinds), now_answered,
                          sum(ledger.repeats[k] for k in kinds))
        if memory:
            memory.sample()
        run.check_worker()
        if loop.time() - last_change > idle:
            missing = sum(len(ledger.missing(k)) for k in kinds)
            print(f"\nbench: {what}: {missing} events unanswered after {idle:.0f}s without "
                  "progress", file=sys.stderr)
            break
    if progress:
        progress.done()


async def _absorb(run: Run, ledger: Ledger, until: float) -> list[str]:
    """Feed arrived outputs to `ledger` (waiting until loop time `until` for some); return the ids
    of our events that were dead-lettered."""
    assert run.tap is not None
    refused = []
    for received_ms, topic, raw in await run.tap.take(until):
        value = json.loads(raw)
        if topic == "recommendations":
            run.model_version = run.model_version or value.get("model_version")
            kind = TRIGGER_KIND.get(value.get("trigger"), "")
            ledger.received(kind, value.get("trigger_event_id", ""), value.get("produced_ts", 0),
                            received_ms)
        elif topic == "ad_slots":
            ledger.received("page_views", value.get("trigger_event_id", ""),
                            value.get("produced_ts", 0), received_ms)
        elif run.run_id in str(value.get("payload", "")):
            run.dead_letters += 1
            try:
                refused.append(json.loads(value["payload"]).get("event_id", ""))
            except (ValueError, AttributeError):
                pass
    return refused


def _now() -> int:
    return time.time_ns() // 1_000_000


async def _close(run: Run, keep: bool) -> None:
    if run.tap is not None:
        await run.tap.close()
    if run.producer is not None:
        await run.producer.stop()
    for worker in run.workers:
        stop_worker(worker)
    if not keep:
        delete_topics(run.settings)


# --- results ---------------------------------------------------------------------------------------

def _ratios(result: dict[str, Any]) -> dict[str, Any]:
    encoder = result.get("encoder")
    fastest = [p for p in result.get("phases", []) if p["kind"] == "signups" and not p["rate"]]
    if not encoder or not fastest:
        return {}
    return {"signups_over_raw_encoder": round(fastest[0]["throughput_per_s"] /
                                              encoder["texts_per_s"], 3)}


def _targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets that this run's phases can speak to, each with pass or fail."""
    phases = result.get("phases", [])
    out = []

    def add(name: str, value: float | None, op: str, limit: float) -> None:
        if value is not None:
            ok = value >= limit if op == ">=" else value <= limit
            out.append({"target": name, "value": value, "limit": f"{op} {limit:g}", "pass": ok})

    def first(kind: str, test: Any) -> dict[str, Any] | None:
        return next((p for p in phases if p["kind"] == kind and test(p["rate"])), None)

    add("signups/s over raw batched encoder texts/s",
        result.get("ratios", {}).get("signups_over_raw_encoder"), ">=", 0.8)
    if p := first("signups", lambda r: 0 < r <= 20):
        add(f"signup p99 ms at {p['rate']:g}/s", p["latency_ms"].get("p99"), "<=", 150)
    for p in phases:
        if p["kind"] == "clicks" and (not p["rate"] or p["rate"] >= 2000):
            add(f"clicks/s ({p['label']})", p["throughput_per_s"], ">=", 2000)
            if p["rate"]:
                add(f"click p99 ms at {p['rate']:g}/s", p["latency_ms"].get("p99"), "<=", 250)
    if p := first("page_views", lambda r: 0 < r <= 200):
        add(f"page view p99 ms at {p['rate']:g}/s", p["latency_ms"].get("p99"), "<=", 50)
    for p in phases:
        if p["kind"] == MIXED:
            for kind, limit in (("page_views", 50), ("clicks", 250), ("signups", 150)):
                if fig := p["kinds"].get(kind):
                    add(f"{kind} p99 ms in {p['label']}", fig["latency_ms"].get("p99"), "<=",
                        limit)
    return out


def report(result: dict[str, Any]) -> str:
    """The result as a few readable lines and a table."""
    cfg, lines = result["config"], []
    machine = result.get("machine", {})
    lines.append(f"coldstart bench pipeline {result['run_id']} at {result.get('commit')}"
                 f"{' (uncommitted changes)' if result.get('dirty') else ''}: "
                 f"{cfg['catalog_size']:,} {cfg['source']} items, {cfg.get('users')} users, clicks "
                 f"{'zipf ' + format(cfg['zipf'], 'g') if cfg.get('zipf') else 'uniform'}, "
                 f"{cfg.get('workers') or 1} worker(s) {cfg['worker']}, {cfg.get('partitions')} "
                 f"partitions, {machine.get('cores')} cores, "
                 f"load {machine.get('load_start')} -> {machine.get('load_end')}")
    if enc := result.get("encoder"):
        lines.append(f"raw encoder: {enc['texts']} signup texts, batch {enc['batch_size']}, "
                     f"{enc['threads']} threads: {enc['texts_per_s']:.1f} texts/s")
        if enc.get("worker_model_version") not in (None, enc.get("version")):
            lines.append(f"WARNING: the worker runs {enc['worker_model_version']}, the raw "
                         f"encoder was {enc.get('version')}: the ratio compares different models")
    if cat := result.get("catalog"):
        lines.append(f"catalogue: {cat['items']:,} items ready in {cat['ready_s']} s")
    head = (f"{'phase':<18}{'events':>7}{'offered/s':>11}{'answered':>9}{'lost':>6}{'rep':>5}"
            f"{'done/s':>9}{'p50':>8}{'p95':>8}{'p99':>8}{'max':>8}{'worker cpu':>11}"
            f"{'cpu share':>10}{'rss MB':>8}")
    lines += [head, "-" * len(head)]
    for p in result.get("phases", []):
        cpu, share = p.get("worker_cpu_ms_per_event"), p.get("worker_cpu_share")
        rss = (p.get("worker_rss_mb") or {}).get("peak")
        tail = ((f"{cpu:>8.2f} ms" if cpu is not None else f"{'-':>11}")
                + (f"{share:>10.2f}" if share is not None else f"{'-':>10}")
                + (f"{rss:>8.0f}" if rss is not None else f"{'-':>8}"))
        rows = [(p["label"], p)] if not p.get("kinds") else \
            [(f"{p['label']} {k}", f) for k, f in p["kinds"].items()]
        for n, (label, f) in enumerate(rows):
            lat = f["latency_ms"]
            lines.append(f"{label:<18}{f['events']:>7}{f['offered_per_s']:>11.1f}"
                         f"{f['answered']:>9}{f['missing']:>6}{f['repeats']:>5}"
                         f"{f['throughput_per_s']:>9.1f}" +
                         "".join(f"{lat.get(q, float('nan')):>8.1f}"
                                 for q in ("p50", "p95", "p99", "max"))
                         + (tail if n == 0 else ""))
    lines.append("latency: ms from the event's ts to this process consuming the output; "
                 "worker cpu: the worker's CPU time per event sent (a mixed phase: per event of "
                 "all kinds); cpu share: worker CPU s per wall s; rss: the worker's peak")
    if found := result.get("failover"):
        lines.append(failover.report(found))
    if disk := result.get("table_disk_mib"):
        lines.append(f"tables on disk per worker: {disk} MiB")
    for name, value in result.get("ratios", {}).items():
        lines.append(f"{name}: {value:.2f}")
    for t in result.get("targets", []):
        lines.append(f"  [{'pass' if t['pass'] else 'FAIL'}] {t['target']}: {t['value']} "
                     f"(target {t['limit']})")
    return "\n".join(lines)

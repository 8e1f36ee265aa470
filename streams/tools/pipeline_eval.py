"""`coldstart eval --pipeline`: the Home Depot queries through a running worker, as served.

The run gets its own topics and data directory (a fresh install: no clicks, no popularity, no
published model; COLDSTART_EXPLORE_RATE and the other settings as the environment has them) and
shares the item-vector cache, so only the first run with a model embeds the 54,667 titles. It
produces every distinct product to `catalog` (item_id = the product uid, title = the protocol's
item text), starts `coldstart worker`, waits for "catalogue ready", then asks each evaluation
query as a fresh user and reads that user's first `recommendations` event:

- `signup` (default): the user signs up with the query as their description;
- `search`: a user who never signed up searches with the query. The contract needs no signup
  before a search, and an empty signup would put the empty text's vector into the profile with
  weight 1 against the search's 0.5, measuring the empty text instead of the query.

Queries go out in a window of WINDOW unanswered at a time. The users agent's overload mode
(streams/overload.py) defers only clicks' lists; signups and searches are always answered at
once, so no pacing is needed to keep clear of it; the window keeps the worker's batches the size
a busy shop gives it and lets a stalled worker be noticed. A query with no answer within
`idle_timeout` seconds of the last answer is reported, counted as missing and scored as a miss.
Scoring: coldstart.evaluation.served_lists, the offline protocol's definitions.
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
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from coldstart.config import Settings
from coldstart.encoder.registry import resolve
from coldstart.errors import ColdstartError, ConfigError, ModelError
from coldstart.evaluation.datasets import HomeDepot, Query, load_home_depot
from coldstart.evaluation.protocols import SPLITS, split_queries
from coldstart.evaluation.report import code_commit
from coldstart.evaluation.served_lists import score_list, score_lists
from coldstart.events import now_ms
from coldstart.ranking.explain import kind_of
from streams.admin import ensure_topics
from streams.tools.bench.tap import OutputTap, Progress
from streams.tools.harness import (
    delete_topics,
    local_broker,
    share_vector_cache,
    start_worker,
    stop_worker,
)
from streams.tools.models import CATALOGUE, fetch

WHO = "eval"
MODES = ("signup", "search")
WINDOW = 200  # queries sent and not yet answered, at most
MAX_BYTES = 8 * 1024 * 1024
REPORT = "home_depot_pipeline"


@dataclass(frozen=True)
class Options:
    """Which queries, how they are asked, and how long to wait."""

    split: str = "test"
    limit: int = 0  # the first N queries; 0: all
    model: str = ""  # COLDSTART_MODEL for the worker; empty: what a fresh install serves
    mode: str = "signup"
    window: int = WINDOW
    ready_timeout: float = 1800.0  # a first run embeds the catalogue on shared cores
    idle_timeout: float = 180.0


@dataclass
class Asked:
    """What came back: one recommendation (or None) per query, and what went wrong."""

    answers: list[dict[str, Any] | None]
    sent: int
    dead_letters: int
    errors: list[str]
    seconds: float


def catalog_events(data: HomeDepot) -> list[dict[str, Any]]:
    """Every distinct product in the contract's `catalog` shape, its title the protocol's text."""
    cat = data.catalogue
    return [{"item_id": str(int(pid)), "title": text} for pid, text in zip(cat.ids, cat.texts)]


def worker_model(model: str, registry: Path, run_registry: Path) -> str:
    """COLDSTART_MODEL for the run's worker, whose registry (`run_registry`) starts empty: a
    version of the caller's `registry` (a fine-tuned one) as its directory; a fetchable
    catalogue encoder registered in the run's registry (from the local model cache after its
    first fetch) and named; anything else as given (a model directory); "" stays the default."""
    if not model:
        return ""
    try:
        return str(resolve(model, registry))
    except ModelError:
        pass
    if model in CATALOGUE:
        fetch(model, root=run_registry)
    return model


def evaluate(base: Settings, options: Options, data: HomeDepot | None = None) -> dict[str, Any]:
    """One run: a fresh pipeline, the queries asked, the lists scored; the report as a dict."""
    if options.mode not in MODES:
        raise ConfigError(f"expected --as {' or '.join(MODES)}, got {options.mode!r}")
    if options.split not in SPLITS:
        raise ConfigError(f"expected split {' or '.join(SPLITS)}, got {options.split!r}")
    started, load_start, commit = time.monotonic(), _load(), code_commit()  # the code that runs
    data = data or load_home_depot()
    queries = split_queries(data, options.split)[: options.limit or None]
    data_dir = Path(tempfile.mkdtemp(prefix="coldstart-eval-"))
    settings = replace(base, topic_prefix=f"{base.topic_prefix}eval-{uuid.uuid4().hex[:6]}-",
                       data_dir=data_dir)
    try:
        settings = replace(settings, model=worker_model(options.model or base.model,
                                                        base.data_dir / "models", data_dir / "models"))
        share_vector_cache(data_dir, who=WHO)
        ensure_topics(settings)
        asked, ready = asyncio.run(_run(settings, catalog_events(data), queries, options))
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
        delete_topics(settings, who=WHO)
    return _result(settings, options, data, queries, asked, ready, commit,
                   {"load_start": load_start, "load_end": _load(),
                    "seconds": round(time.monotonic() - started, 1)})


async def _run(settings: Settings, catalog: list[dict[str, Any]], queries: list[Query],
               options: Options) -> tuple[Asked, dict[str, Any]]:
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks=1,
                                linger_ms=5, max_request_size=MAX_BYTES,
                                client_id="coldstart-eval")
    tap = OutputTap(settings)
    worker: subprocess.Popen[bytes] | None = None
    await producer.start()
    try:
        await tap.start()
        for item in catalog:
            await producer.send(settings.topic("catalog"), key=item["item_id"].encode(),
                                value=_json({**item, "ts": now_ms()}))
        await producer.flush()
        worker, log = start_worker(settings, who=WHO)
        ready = await asyncio.to_thread(_wait_ready, worker, log, len(catalog),
                                        options.ready_timeout)
        asked = await _ask(producer, tap, worker, settings, queries, options)
        return asked, ready
    finally:
        await tap.close()
        await producer.stop()
        stop_worker(worker)


def _wait_ready(worker: subprocess.Popen[bytes], log: Path, items: int,
                timeout: float) -> dict[str, Any]:
    """Until the worker logs "catalogue ready"; its line, and the seconds it took."""
    print(f"{WHO}: waiting for the worker to load {items:,} items; a model's first run embeds "
          "every title (minutes: about 7 for the bundled model on two idle cores), later runs "
          "read the shared vector cache", file=sys.stderr)
    started = last_note = time.monotonic()
    while True:
        text = log.read_text(errors="replace") if log.exists() else ""
        line = next((x for x in reversed(text.splitlines()) if "catalogue ready" in x), None)
        if line is not None:
            return {"line": line.split("coldstart: ", 1)[-1].strip(),
                    "seconds": round(time.monotonic() - started, 1)}
        if worker.poll() is not None:
            raise ColdstartError(f"the worker exited with code {worker.returncode} before its "
                                 f"catalogue was ready; see {log}")
        if time.monotonic() - started > timeout:
            raise ColdstartError(f"the worker's catalogue was not ready within {timeout:.0f}s; "
                                 f"see {log}")
        if time.monotonic() - last_note >= 30:
            last_note = time.monotonic()
            print(f"{WHO}: still loading the catalogue after {last_note - started:.0f}s",
                  file=sys.stderr)
        time.sleep(0.5)


async def _ask(producer: AIOKafkaProducer, tap: OutputTap, worker: subprocess.Popen[bytes],
               settings: Settings, queries: list[Query], options: Options) -> Asked:
    """Each query as a fresh user, at most `options.window` unanswered at a time."""
    topic, field = ("signups", "description") if options.mode == "signup" else ("searches", "query")
    run = uuid.uuid4().hex[:6]
    index: dict[str, int] = {}  # event_id -> query position
    answers: list[dict[str, Any] | None] = [None] * len(queries)
    pending: set[str] = set()
    errors: list[str] = []
    dead = sent = 0
    progress = Progress(f"{WHO}: {options.mode}s", len(queries), noun="queries")
    clock = asyncio.get_running_loop()
    started = last_answer = clock.time()
    while sent < len(queries) or pending:
        while sent < len(queries) and len(pending) < options.window:
            user, event_id = f"hd-eval-{run}-{sent}", f"hd-eval-{run}-{sent}-{topic[:2]}"
            text = queries[sent].text[:2000 if topic == "signups" else 500]
            value = {"event_id": event_id, "user_id": user, field: text, "ts": now_ms()}
            await producer.send(settings.topic(topic), key=user.encode(), value=_json(value))
            index[event_id] = sent
            pending.add(event_id)
            sent += 1
        await producer.flush()
        for _, out_topic, raw in await tap.take(clock.time() + 0.5):
            value = json.loads(raw)
            if out_topic == "dead_letters":
                dead += 1
            elif out_topic == "recommendations" and value.get("trigger_event_id") in pending:
                pending.discard(value["trigger_event_id"])
                answers[index[value["trigger_event_id"]]] = value
                last_answer = clock.time()
        progress.show(sent, sent - len(pending))
        if worker.poll() is not None:
            errors.append(f"the worker exited with code {worker.returncode}; "
                          f"{len(queries) - sent} queries not sent, {len(pending)} unanswered")
            break
        if pending and clock.time() - last_answer > options.idle_timeout:
            errors.append(f"{len(pending)} queries got no recommendations within "
                          f"{options.idle_timeout:.0f}s of the last answer")
            pending.clear()
            last_answer = clock.time()
    progress.done()
    for message in errors:
        print(f"{WHO}: ERROR: {message}", file=sys.stderr)
    return Asked(answers, sent, dead, errors, round(clock.time() - started, 1))


def _result(settings: Settings, options: Options, data: HomeDepot, queries: list[Query],
            asked: Asked, ready: dict[str, Any], commit: str | None,
            machine: dict[str, Any]) -> dict[str, Any]:
    lists = [_product_ids(a) for a in asked.answers]
    scores = score_lists(lists, queries, settings.top_k)
    kinds: Counter[str] = Counter()
    per_query = []
    for q, answer, ranked in zip(queries, asked.answers, lists):
        reasons = [kind_of(i["reason"]) for i in answer["items"]] if answer else []
        kinds.update(reasons)
        s = score_list(ranked, q, settings.top_k)
        per_query.append({"query": q.text, "items": ranked, "kinds": reasons,
                          "relevant": sorted(q.relevant), "recall": s.recall, "ndcg": s.ndcg,
                          "mrr": s.mrr})
    versions = sorted({a["model_version"] for a in asked.answers if a})
    counts = {"queries": len(queries), "sent": asked.sent, "answered": scores["answered"],
              "missing": scores["missing"], "dead_letters": asked.dead_letters,
              "items": len(data.catalogue)}
    meta = {
        "commit": commit, "dataset": "home_depot", "split": options.split,
        "as": options.mode, "limit": options.limit or None,
        "model": options.model or "(fresh install default)", "model_version": versions,
        "settings": {"explore_rate": settings.explore_rate, "top_k": settings.top_k,
                     "rerank_depth": settings.rerank_depth, "partitions": settings.partitions,
                     "window": options.window},
        "counts": counts, "errors": asked.errors, "catalogue_ready": ready,
        "query_seconds": asked.seconds, "machine": {"cores": os.cpu_count(), **machine},
    }
    metrics = {k: v for k, v in scores.items() if k not in ("queries", "answered", "missing")}
    slots = sum(kinds.values())
    meta["slot_kinds"] = {k: round(n / slots, 4) for k, n in kinds.most_common()} if slots else {}
    return {"meta": meta, "results": {"pipeline": metrics}, "per_query": per_query}


def _product_ids(answer: dict[str, Any] | None) -> list[int] | None:
    """The served item ids as product uids (an id that is not one can match no judgement)."""
    if answer is None:
        return None
    return [int(i["item_id"]) if i["item_id"].isdigit() else -1 for i in answer["items"]]


def write_report(result: dict[str, Any], out: Path) -> list[Path]:
    """home_depot_pipeline.json (with every query's list) and .md in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / f"{REPORT}.json", out / f"{REPORT}.md"
    json_path.write_text(json.dumps(result, indent=1) + "\n")
    meta, m = result["meta"], result["results"]["pipeline"]
    c = meta["counts"]
    lines = [f"# Home Depot through the pipeline ({meta['split']} split, as {meta['as']})", ""]
    lines += [f"- {key}: {meta[key]}" for key in ("commit", "model", "model_version", "settings",
                                                  "catalogue_ready", "query_seconds",
                                                  "machine", "slot_kinds")]
    lines += [f"- counts: {c['queries']} queries, {c['sent']} sent, {c['answered']} answered, "
              f"{c['missing']} missing (scored as misses), {c['dead_letters']} dead letters, "
              f"{c['items']} items"]
    lines += [f"- ERROR: {e}" for e in meta["errors"]]
    lines += ["", "| recall@10 [95% CI] | nDCG@10 [95% CI] | MRR@10 |", "|---|---|---|",
              f"| {m['recall@10']:.3f} [{m['recall@10 low']:.3f}, {m['recall@10 high']:.3f}] "
              f"| {m['ndcg@10']:.3f} [{m['ndcg@10 low']:.3f}, {m['ndcg@10 high']:.3f}] "
              f"| {m['mrr@10']:.3f} |", ""]
    md_path.write_text("\n".join(lines))
    return [json_path, md_path]


def main(args: argparse.Namespace) -> int:
    """The `coldstart eval --pipeline` handler; 1 when a query went unanswered."""
    if args.dataset != "home_depot":
        raise ConfigError(f"expected --dataset home_depot with --pipeline, got {args.dataset!r}")
    options = Options(split=args.split, limit=args.limit or 0, model=args.model or "",
                      mode=args.as_)
    base = Settings.from_env()
    with local_broker(base, who=WHO):
        result = evaluate(base, options)
    m = result["results"]["pipeline"]
    print(f"recall@10 {m['recall@10']:.3f} [{m['recall@10 low']:.3f}, {m['recall@10 high']:.3f}]"
          f"  nDCG@10 {m['ndcg@10']:.3f} [{m['ndcg@10 low']:.3f}, {m['ndcg@10 high']:.3f}]"
          f"  MRR@10 {m['mrr@10']:.3f}  ({result['meta']['counts']['missing']} missing)")
    for path in write_report(result, Path(args.out)):
        print(path)
    return 1 if result["meta"]["counts"]["missing"] else 0


def _json(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]

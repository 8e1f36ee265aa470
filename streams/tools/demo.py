"""`coldstart demo`: broker, worker, the sample catalogue and shoppers, and the live output."""
from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer

from coldstart.config import Settings
from streams.tools.broker import LocalBroker
from streams.tools.harness import spawn_worker
from streams.tools.models import fetch
from streams.tools.replay import replay
from streams.tools.sample_data import SAMPLE_DIR
from streams.tools.sample_data_zh import ZH_DIR

USER_FILES = ("signups", "searches", "clicks", "page_views")
ZH_MODEL = "bge-small-zh-v15"


def run_demo(seconds: float = 60.0, lang: str = "en") -> int:
    """Run the loop and print what comes out; returns 0 when every input got its output.

    `lang="zh"`: the Chinese sample, served by the Chinese encoder (fetched from Maven Central the
    first time, unless COLDSTART_MODEL names another model)."""
    sample = ZH_DIR if lang == "zh" else SAMPLE_DIR
    settings, env, started_broker = _environment()
    if lang == "zh" and not os.environ.get("COLDSTART_MODEL"):
        version = fetch(ZH_MODEL, root=Path(env["COLDSTART_DATA_DIR"]) / "models")
        env["COLDSTART_MODEL"] = ZH_MODEL
        print(f"demo: serving {version}")
    titles = _titles(sample)
    work = Path(env["COLDSTART_DATA_DIR"])
    print(f"demo: broker {settings.broker}, topics prefixed {settings.topic_prefix!r}, state in {work}")
    worker = spawn_worker(env, work / "worker.log")
    try:
        for name in ("catalog", "ads"):
            replay(sample / f"{name}.jsonl", name, settings=settings, quiet=True)
        print(f"demo: sample catalogue ({_count(sample, 'catalog')} items) and {_count(sample, 'ads')} ads sent; "
              "the worker embeds them ...")
        expected = {name: _count(sample, name) for name in USER_FILES}
        for name in USER_FILES:
            replay(sample / f"{name}.jsonl", name, rate=40.0, settings=settings, quiet=True)
        print(f"demo: sent {expected['signups']} signups, {expected['searches']} searches, "
              f"{expected['clicks']} clicks, {expected['page_views']} page views; live output:\n")
        done = _show_output(settings, titles, expected, seconds, worker)
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
        if started_broker:
            LocalBroker().stop()
    print(f"\ndemo: {'complete' if done else 'stopped before all output arrived'}; "
          f"worker log: {work / 'worker.log'}")
    return 0 if done else 1


def _environment() -> tuple[Settings, dict[str, str], bool]:
    env = dict(os.environ)
    env.setdefault("COLDSTART_TOPIC_PREFIX", f"demo{int(time.time())}-")
    env.setdefault("COLDSTART_DATA_DIR", tempfile.mkdtemp(prefix="coldstart-demo-"))
    os.environ.update(env)
    settings = Settings.from_env()
    broker, started = LocalBroker(), False
    if settings.bootstrap_servers == broker.config.address and not broker.accepts_connections():
        print("demo: no broker at 127.0.0.1:9092, starting a local one ...")
        print(f"demo: broker started in {broker.start():.1f}s")
        started = True
    return settings, env, started


def _titles(sample: Path) -> dict[str, str]:
    lines = (sample / "catalog.jsonl").read_text(encoding="utf-8").splitlines()
    return {item["item_id"]: item["title"] for item in map(json.loads, lines)}


def _count(sample: Path, name: str) -> int:
    return sum(1 for line in (sample / f"{name}.jsonl").read_text(encoding="utf-8").splitlines() if line.strip())


def _show_output(settings: Settings, titles: dict[str, str], expected: dict[str, int],
                 seconds: float, worker: subprocess.Popen[bytes]) -> bool:
    consumer = KafkaConsumer(settings.topic("recommendations"), settings.topic("ad_slots"),
                             bootstrap_servers=settings.bootstrap_servers,
                             auto_offset_reset="earliest", group_id=None)
    seen: dict[str, set[str]] = {"signup": set(), "search": set(), "ads": set()}
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline and worker.poll() is None:
            for records in consumer.poll(timeout_ms=500).values():
                for record in records:
                    print(_describe(json.loads(record.value), titles, seen))
            if (len(seen["signup"]) >= expected["signups"] and len(seen["search"]) >= expected["searches"]
                    and len(seen["ads"]) >= expected["page_views"]):
                return True
    finally:
        consumer.close()
    return False


def _describe(event: dict[str, Any], titles: dict[str, str], seen: dict[str, set[str]]) -> str:
    if "placements" in event:
        seen["ads"].add(event["trigger_event_id"])
        slots = ", ".join(f"{p['slot_id']}={p['ad_id']}" for p in event["placements"])
        return f"[ad slots] {event['user_id']:<8} page {event['page_id']}: {slots}"
    seen.setdefault(event["trigger"], set()).add(event["trigger_event_id"])
    top = event["items"][:3]
    lines = [f"[{event['trigger']:>6}] {event['user_id']:<8} -> {len(event['items'])} items, "
             f"for {event['trigger_event_id']}"]
    lines += [f"           {i + 1}. {titles.get(it['item_id'], it['item_id'])[:48]:<48} "
              f"({it['reason']})" for i, it in enumerate(top)]
    return "\n".join(lines)

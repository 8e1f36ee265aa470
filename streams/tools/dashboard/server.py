"""`coldstart dashboard`: a live page over the workers' /metrics and the output topics.

It scrapes every worker of the group (found through the broker, streams/tools/ops_client.py)
every few seconds, follows `recommendations`, `ad_slots` and `dead_letters` (and `catalog`, for
item titles) from a little before their end, and serves one HTML page with its script and a
chart drawer of its own (static/): nothing is fetched from elsewhere, so it works offline.

No personal text leaves it: dead letters are shown without their key and payload, the live tail
shows item titles and ad ids only, and a list's reasons appear only for the one user searched.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from aiohttp import ClientSession, ClientTimeout, web
from aiokafka import AIOKafkaConsumer, TopicPartition

from coldstart.config import Settings
from streams.admin import topic_partitions
from streams.tools.dashboard.series import History, Scrape, parse
from streams.tools.ops_client import describe_group

log = logging.getLogger(__name__)
STATIC = {"index.html": "text/html", "dashboard.js": "application/javascript",
          "charts.js": "application/javascript", "dashboard.css": "text/css"}
TAIL, DEAD_LETTERS, USERS = 40, 50, 100_000
DISCOVER_EVERY_S = 10.0


@dataclass(frozen=True)
class DashboardConfig:
    host: str = "127.0.0.1"
    port: int = 8070
    workers: tuple[str, ...] = ()  # operations addresses besides the group's members
    poll_s: float = 2.0
    history: int = 20000  # records per partition of each followed topic read at start


@dataclass
class WorkerView:
    url: str
    name: str
    ready: bool = False
    model: str | None = None
    error: str = ""
    seen: float = 0.0


@dataclass
class Board:
    """Everything the page shows, updated by the scraper and the topic follower."""

    settings: Settings
    config: DashboardConfig
    history: History = field(default_factory=History)
    workers: dict[str, WorkerView] = field(default_factory=dict)
    latest: Scrape = field(default_factory=Scrape)
    recommendations: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=TAIL))
    ad_slots: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=TAIL))
    dead_letters: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=DEAD_LETTERS))
    users: OrderedDict[str, dict[str, Any]] = field(default_factory=OrderedDict)
    titles: dict[str, str] = field(default_factory=dict)
    feed_error: str = ""

    # --- the topics ------------------------------------------------------------------------
    def on_record(self, topic: str, value: Any) -> None:
        if not isinstance(value, dict):
            return
        if topic == "catalog":
            if isinstance(value.get("item_id"), str) and isinstance(value.get("title"), str):
                self.titles[value["item_id"]] = value["title"][:120]
        elif topic == "recommendations":
            user = str(value.get("user_id", ""))
            self.users[user] = value
            self.users.move_to_end(user)
            while len(self.users) > USERS:
                self.users.popitem(last=False)
            self.recommendations.appendleft(self._rec_summary(value))
        elif topic == "ad_slots":
            self.ad_slots.appendleft({
                "ts": value.get("produced_ts"), "user_id": value.get("user_id"),
                "page_id": value.get("page_id"),
                "placements": [{"slot_id": p.get("slot_id"), "ad_id": p.get("ad_id")}
                               for p in value.get("placements", [])]})
        elif topic == "dead_letters":  # never the key or the payload: they may hold user text
            self.dead_letters.appendleft({k: value.get(k) for k in
                                          ("source_topic", "partition", "offset", "error", "ts")})

    def _rec_summary(self, rec: dict[str, Any]) -> dict[str, Any]:
        items = rec.get("items", [])
        return {"ts": rec.get("produced_ts"), "user_id": rec.get("user_id"),
                "trigger": rec.get("trigger"), "count": len(items),
                "latency_ms": _latency_ms(rec),
                "top": [str(i.get("item_id")) for i in items[:3]]}

    def user(self, user_id: str) -> dict[str, Any] | None:
        """The user's latest list with its reasons (the one place reasons are shown)."""
        rec = self.users.get(user_id)
        if rec is None:
            return None
        return {"user_id": user_id, "trigger": rec.get("trigger"),
                "trigger_event_id": rec.get("trigger_event_id"), "ts": rec.get("produced_ts"),
                "model_version": rec.get("model_version"), "latency_ms": _latency_ms(rec),
                "items": [{"item_id": i.get("item_id"), "score": i.get("score"),
                           "reason": i.get("reason"),
                           "title": self.titles.get(i.get("item_id"), "")}
                          for i in rec.get("items", [])]}

    # --- what the page polls ---------------------------------------------------------------
    def overview(self) -> dict[str, Any]:
        latest = self.latest
        kinds: dict[str, float] = {}
        for (topic, kind), count in latest.dead_letters.items():
            kinds[f"{topic}: {kind}"] = kinds.get(f"{topic}: {kind}", 0.0) + count
        return {
            "group": f"{self.settings.topic_prefix}coldstart",
            "now": int(time.time() * 1000),
            "poll_s": self.config.poll_s,
            "workers": [vars(w) for w in sorted(self.workers.values(), key=lambda w: w.name)],
            "models": sorted(latest.models),
            "catalogue_items": latest.catalogue_items,
            "series": self.history.series(),
            "lag": dict(sorted(latest.lag.items())),
            "dead_letter_counts": dict(sorted(kinds.items())),
            "dead_letters": list(self.dead_letters),
            "recommendations": [{**r, "top": [self.titles.get(i, i) for i in r["top"]]}
                                for r in self.recommendations],  # titles may arrive later
            "ad_slots": list(self.ad_slots),
            "feed_error": self.feed_error,
        }


def _latency_ms(event: dict[str, Any]) -> int | None:
    source, produced = event.get("source_ts"), event.get("produced_ts")
    if isinstance(source, int) and isinstance(produced, int):
        return max(0, produced - source)
    return None


# --- background work ---------------------------------------------------------------------------

async def scrape_forever(board: Board) -> None:
    """Every `poll_s`: find the workers (every DISCOVER_EVERY_S), read their /metrics and
    /readyz, and add the sum to the history."""
    loop = asyncio.get_running_loop()
    last_discovery = 0.0
    async with ClientSession(timeout=ClientTimeout(total=max(1.0, board.config.poll_s))) as http:
        while True:
            now = time.monotonic()
            if now - last_discovery >= DISCOVER_EVERY_S:
                last_discovery = now
                try:
                    group = await loop.run_in_executor(None, describe_group, board.settings)
                    found = {m.url: m.client_id for m in group.members if m.url}
                except Exception as exc:
                    log.warning("dashboard: cannot describe the group: %s", exc)
                    found = {}
                found.update({u.rstrip("/"): u.rstrip("/") for u in board.config.workers})
                for url, name in found.items():
                    board.workers.setdefault(url, WorkerView(url, name)).name = name
                for url in [u for u in board.workers if u not in found]:
                    del board.workers[url]  # left the group
            total = Scrape()
            for worker in list(board.workers.values()):
                scrape = await _scrape(http, worker)
                if scrape is not None:
                    total.add(scrape)
            board.latest = total
            board.history.add(time.time(), total)
            await asyncio.sleep(board.config.poll_s)


async def _scrape(http: ClientSession, worker: WorkerView) -> Scrape | None:
    try:
        async with http.get(f"{worker.url}/metrics") as response:
            text = await response.text()
        async with http.get(f"{worker.url}/readyz") as response:
            report = await response.json(content_type=None)
    except Exception as exc:
        worker.ready, worker.error = False, f"unreachable: {type(exc).__name__}"
        return None
    worker.ready, worker.error, worker.seen = bool(report.get("ready")), "", time.time()
    worker.model = report.get("model_version")
    if not worker.ready:
        failing = [k for k, ok in (report.get("checks") or {}).items() if not ok]
        worker.error = "not ready: " + ", ".join(failing)
    return parse(text)


async def follow_topics(board: Board) -> None:
    """Read the output topics (and the catalogue's titles) from a little before their end."""
    names = {board.settings.topic(t): t for t in ("catalog", "recommendations", "ad_slots",
                                                   "dead_letters")}
    while True:
        consumer = AIOKafkaConsumer(bootstrap_servers=board.settings.bootstrap_servers,
                                    group_id=None, enable_auto_commit=False,
                                    auto_offset_reset="earliest",
                                    max_partition_fetch_bytes=8 * 1024 * 1024)
        try:
            await consumer.start()
            missing = set(names) - await consumer.topics()
            if missing:
                board.feed_error = f"waiting for topics {', '.join(sorted(missing))}"
                await asyncio.sleep(5)
                continue
            loop = asyncio.get_running_loop()
            parts = [TopicPartition(topic, p) for topic in names
                     for p in await loop.run_in_executor(None, topic_partitions, topic,
                                                         board.settings.bootstrap_servers)]
            consumer.assign(parts)
            ends = await consumer.end_offsets(parts)
            starts = await consumer.beginning_offsets(parts)
            for tp in parts:  # the whole catalogue (titles); the latest of each output topic
                back = 0 if names[tp.topic] == "catalog" else board.config.history
                consumer.seek(tp, starts[tp] if back == 0 else max(starts[tp], ends[tp] - back))
            board.feed_error = ""
            while True:
                batches = await consumer.getmany(timeout_ms=500, max_records=2000)
                for tp, records in batches.items():
                    for record in records:
                        try:
                            value = json.loads(record.value) if record.value else None
                        except ValueError:
                            continue  # a bad catalogue record: the workers dead-letter it
                        board.on_record(names[tp.topic], value)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            board.feed_error = f"cannot read the topics: {exc}"
            log.warning("dashboard: %s; retrying", board.feed_error)
            await asyncio.sleep(5)
        finally:
            await consumer.stop()


# --- the web server ----------------------------------------------------------------------------

def web_app(board: Board) -> web.Application:
    async def static(request: web.Request) -> web.Response:
        name = request.match_info.get("name", "index.html")
        if name not in STATIC:
            raise web.HTTPNotFound()
        body = resources.files("streams.tools.dashboard").joinpath("static", name).read_bytes()
        return web.Response(body=body, content_type=STATIC[name], charset="utf-8")

    async def overview(request: web.Request) -> web.Response:
        return web.json_response(board.overview())

    async def user(request: web.Request) -> web.Response:
        user_id = request.query.get("id", "").strip()
        found = board.user(user_id) if user_id else None
        if found is None:
            return web.json_response({"user_id": user_id, "found": False}, status=404)
        return web.json_response({**found, "found": True})

    async def start_background(server: web.Application) -> Any:
        tasks = [asyncio.create_task(scrape_forever(board)), asyncio.create_task(follow_topics(board))]
        yield
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    server = web.Application()
    server.add_routes([web.get("/", static), web.get("/static/{name}", static),
                       web.get("/api/overview", overview), web.get("/api/user", user)])
    server.cleanup_ctx.append(start_background)
    return server


async def serve(settings: Settings, config: DashboardConfig) -> None:
    runner = web.AppRunner(web_app(Board(settings, config)), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, config.host, config.port)
    await site.start()
    port = runner.addresses[0][1] if runner.addresses else config.port
    print(f"dashboard on http://{config.host}:{port} for group {settings.topic_prefix}coldstart "
          f"at {settings.bootstrap_servers}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def run_dashboard(settings: Settings, config: DashboardConfig) -> int:
    """Serve the page until interrupted."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s")
    try:
        asyncio.run(serve(settings, config))
    except KeyboardInterrupt:
        pass
    return 0

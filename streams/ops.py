"""The worker's operations port: /metrics (Prometheus), /healthz and /readyz, in its event loop.

Faust's own web server stays off (`web_enabled=False`); this small aiohttp server shares the
worker's event loop. The port is COLDSTART_METRICS_PORT (0: a free one), bound when this module
is imported (streams/agents/__init__.py imports it in the worker only) so that it can be named in
the worker's Kafka client id, `coldstart-worker-<port>-<host>`: `coldstart status` and
`coldstart dashboard` find every member's port in the consumer group's description.

What the metrics read at scrape time lives here (catalogue size, consumer lag, readiness, the
served model); what is counted per event lives in streams/metrics.py.
"""
from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Iterator
from typing import Any

import faust
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector

from coldstart.errors import ConfigError
from streams import metrics
from streams.app import app, settings
from streams.endpoint import client_id, is_stream_topic
from streams.faust_compat import read_offsets, start_with_consumer
from streams.state import state
from streams.topics import contract_name

log = logging.getLogger(__name__)
def _bind(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("0.0.0.0", port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"COLDSTART_METRICS_PORT={port}: cannot listen there ({exc.strerror}); "
                          "choose a free port, or 0 for any free one") from None
    sock.listen(64)
    sock.setblocking(False)
    return sock


SOCKET = _bind(settings.metrics_port)
PORT: int = SOCKET.getsockname()[1]
HOST = socket.gethostname()
app.conf.broker_client_id = client_id(PORT, HOST)  # before the consumer exists: the worker runs after


# --- readiness --------------------------------------------------------------------------------

def readiness() -> dict[str, Any]:
    """What /readyz answers: ready when the catalogue has caught up, the tables are recovered
    and the assigned partitions are being served (no rebalance under way, every agent running)."""
    recovery = app.tables.recovery  # type: ignore[attr-defined]  # TableManager's, not its interface's
    recovered = recovery.completed.is_set() and not app.in_recovery
    agents_running = all(agent.started and not agent.crashed for agent in app.agents.values())
    checks = {
        "catalogue": state.ready.is_set(),
        "state_recovered": bool(recovered),
        "partitions_served": bool(recovered and not app.rebalancing and agents_running),
    }
    engine = state.engine
    return {
        "ready": all(checks.values()),
        "checks": checks,
        "member": app.conf.broker_client_id,
        "pid": os.getpid(),
        "model_version": engine.model_version if engine else None,
        "catalogue": {"items": len(engine.catalog), "ads": len(engine.catalog.ads())} if engine else None,
        "partitions": assigned(),
    }


def assigned() -> dict[str, list[int]]:
    """The worker's assigned partitions per topic (contract names), changelogs included."""
    try:
        tps = app.consumer.assignment()
    except Exception:  # no consumer yet
        return {}
    found: dict[str, list[int]] = {}
    for tp in tps:
        found.setdefault(contract_name(tp.topic), []).append(tp.partition)
    return {topic: sorted(parts) for topic, parts in sorted(found.items())}


# --- what is read at scrape time ----------------------------------------------------------------


class WorkerCollector(Collector):
    """Readiness, the served model, catalogue size, assigned partitions and consumer lag."""

    def collect(self) -> Iterator[Any]:
        report = readiness()
        ready = GaugeMetricFamily("coldstart_ready", "1 when /readyz answers ready", labels=["check"])
        ready.add_metric(["all"], float(report["ready"]))
        for check, ok in report["checks"].items():
            ready.add_metric([check], float(ok))
        yield ready
        model = InfoMetricFamily("coldstart_model", "The model version this worker serves")
        if report["model_version"]:
            model.add_metric([], {"version": report["model_version"]})
        yield model
        catalogue = report["catalogue"] or {"items": 0, "ads": 0}
        yield GaugeMetricFamily("coldstart_catalogue_items", "Live items in this worker's catalogue",
                                value=catalogue["items"])
        yield GaugeMetricFamily("coldstart_catalogue_ads", "Ads in this worker's inventory",
                                value=catalogue["ads"])
        parts = GaugeMetricFamily("coldstart_assigned_partitions",
                                  "Partitions assigned to this worker, per topic", labels=["topic"])
        for topic, numbers in report["partitions"].items():
            parts.add_metric([topic], len(numbers))
        yield parts
        yield self._lag()

    def _lag(self) -> GaugeMetricFamily:
        lag = GaugeMetricFamily("coldstart_consumer_lag",
                                "Records behind the end of each assigned partition (high water "
                                "minus the next offset to read)", labels=["topic", "partition"])
        try:
            consumer = app.consumer
            read = read_offsets(app)
            tps = consumer.assignment()
        except Exception:
            return lag
        for tp in sorted(tps):
            if not is_stream_topic(tp.topic):
                continue
            try:
                high = consumer.highwater(tp)
            except Exception:
                continue  # not fetched yet
            if high is None:
                continue
            position = read[tp] + 1 if tp in read else 0
            lag.add_metric([contract_name(tp.topic), str(tp.partition)], max(0, high - position))
        return lag


metrics.REGISTRY.register(WorkerCollector())


# --- rebalances and recoveries ------------------------------------------------------------------

class RebalanceSensor(faust.Sensor):
    """Counts the worker's rebalances and times them (Faust calls its sensors on each one)."""

    def on_rebalance_start(self, app: Any) -> dict:
        metrics.REBALANCES.inc()
        return {"started": time.monotonic()}

    def on_rebalance_end(self, app: Any, state: dict) -> None:
        started = (state or {}).get("started")
        if started is not None:
            metrics.REBALANCE_SECONDS.observe(time.monotonic() - started)


app.sensors.add(RebalanceSensor())


async def _on_recovered(sender: Any, **kwargs: Any) -> None:
    """Faust sends this when the tables have recovered and the streams resume."""
    metrics.RECOVERIES.inc()


app.on_rebalance_complete.connect(_on_recovered)  # type: ignore[arg-type]


# --- the HTTP server ------------------------------------------------------------------------------

async def _metrics(request: web.Request) -> web.Response:
    body = generate_latest(metrics.REGISTRY)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"alive": True, "pid": os.getpid()})


async def _readyz(request: web.Request) -> web.Response:
    report = readiness()
    return web.json_response(report, status=200 if report["ready"] else 503)


def web_app() -> web.Application:
    server = web.Application()
    server.add_routes([web.get("/metrics", _metrics), web.get("/healthz", _healthz),
                       web.get("/readyz", _readyz)])
    return server


async def operations_server() -> None:
    """Serve the operations port for as long as the worker runs, from its start: /healthz
    answers (and /readyz says not ready) while the model and the catalogue load, before the
    worker joins its group."""
    runner = web.AppRunner(web_app(), access_log=None)
    await runner.setup()
    await web.SockSite(runner, SOCKET).start()
    log.warning("coldstart: metrics, health and readiness on http://%s:%d (/metrics /healthz "
                "/readyz), Kafka client id %s", HOST, PORT, app.conf.broker_client_id)
    try:
        await asyncio.Event().wait()  # until the worker stops and cancels its tasks
    finally:
        await runner.cleanup()


start_with_consumer(app, operations_server)

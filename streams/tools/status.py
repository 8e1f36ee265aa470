"""`coldstart status`: the group's members and partitions, lag per topic, the served model, and
whether each worker is ready, in one screen (or as JSON)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from coldstart.config import Settings
from schemas.topics import AD_PLACEMENTS, COOCCURRENCE_UPDATES, FEEDBACK, USER_TOPICS
from streams.endpoint import is_stream_topic
from streams.tools.ops_client import Group, Probe, TopicLag, describe_group, get, group_lag, published_model

# What the group consumes: the lag table lists these even before anything was committed.
GROUP_TOPICS = [*USER_TOPICS, "page_views", AD_PLACEMENTS, COOCCURRENCE_UPDATES, FEEDBACK]


@dataclass
class WorkerStatus:
    """One worker: the member the broker lists (if any) and what its /readyz says."""

    name: str
    url: str | None
    partitions: dict[str, list[int]] = field(default_factory=dict)
    probe: Probe | None = None

    @property
    def ready(self) -> bool:
        return self.probe is not None and self.probe.status == 200

    @property
    def model(self) -> str | None:
        body = self.probe.body if self.probe else None
        return body.get("model_version") if isinstance(body, dict) else None

    def readiness(self) -> str:
        if self.url is None:
            return "unknown (no operations port in its client id)"
        if self.probe is None or self.probe.status is None:
            return f"unreachable ({self.probe.error if self.probe else 'not asked'})"
        if self.ready:
            return "ready"
        body = self.probe.body if isinstance(self.probe.body, dict) else {}
        failing = [name for name, ok in (body.get("checks") or {}).items() if not ok]
        return f"not ready ({', '.join(failing) or f'HTTP {self.probe.status}'})"


@dataclass
class Status:
    group: Group
    workers: list[WorkerStatus]
    lag: list[TopicLag]
    published: str | None

    @property
    def all_ready(self) -> bool:
        return bool(self.workers) and all(w.ready for w in self.workers)

    def to_dict(self) -> dict[str, Any]:
        return {
            "group": self.group.group_id, "state": self.group.state,
            "workers": [{"name": w.name, "url": w.url, "ready": w.ready, "readiness": w.readiness(),
                         "model_version": w.model, "partitions": w.partitions} for w in self.workers],
            "lag": [{"topic": t.topic, "partitions": t.partitions, "end": t.end,
                     "committed": t.committed, "lag": t.lag} for t in self.lag],
            "published_model": self.published,
            "served_models": sorted({w.model for w in self.workers if w.model}),
            "all_ready": self.all_ready,
        }


def collect(settings: Settings, extra_urls: list[str] | None = None, timeout: float = 3.0) -> Status:
    """Ask the broker and every worker; `extra_urls` are operations ports to ask besides the
    members' (a worker the broker's view of its host does not reach)."""
    group = describe_group(settings)
    workers = [WorkerStatus(m.client_id, m.url, m.partitions) for m in group.members]
    known = {w.url for w in workers}
    for url in extra_urls or []:
        url = url.rstrip("/")
        if url not in known:
            workers.append(WorkerStatus(url, url))
    for worker in workers:
        if worker.url:
            worker.probe = get(f"{worker.url}/readyz", timeout)
            body = worker.probe.body
            if not worker.partitions and isinstance(body, dict):
                worker.partitions = body.get("partitions") or {}
    return Status(group, workers, group_lag(settings, GROUP_TOPICS), published_model(settings))


def _partitions(parts: dict[str, list[int]]) -> str:
    shown = [f"{topic} {','.join(map(str, numbers))}" for topic, numbers in parts.items()
             if is_stream_topic(topic) and numbers]
    hidden = sum(1 for topic in parts if not is_stream_topic(topic))
    text = "; ".join(shown) or "none"
    return f"{text} (+{hidden} changelog/assignor)" if hidden else text


def render(status: Status) -> str:
    """The human-readable report."""
    group = status.group
    lines = [f"group {group.group_id}: {group.state}, {len(group.members)} member(s)"]
    if not status.workers:
        lines.append("  no worker has joined the group (is `coldstart worker` running with this "
                     "COLDSTART_BROKER and COLDSTART_TOPIC_PREFIX?)")
    for worker in status.workers:
        lines.append(f"  {worker.name}")
        lines.append(f"    operations: {worker.url or '-'}   {worker.readiness()}")
        lines.append(f"    model:      {worker.model or '-'}")
        lines.append(f"    partitions: {_partitions(worker.partitions)}")
    lines.append("lag (records past the group's committed offsets):")
    width = max([len(t.topic) for t in status.lag] + [5])
    lines.append(f"  {'topic':<{width}}  {'parts':>5}  {'end':>9}  {'committed':>9}  {'lag':>7}")
    for t in status.lag:
        lines.append(f"  {t.topic:<{width}}  {t.partitions:>5}  {t.end:>9}  {t.committed:>9}  {t.lag:>7}")
    served = sorted({w.model for w in status.workers if w.model})
    ready = sum(1 for w in status.workers if w.ready)
    lines.append(f"served model: {', '.join(served) or 'none yet'}; published: "
                 f"{status.published or 'none (the default model)'}")
    lines.append(f"ready: {ready} of {len(status.workers)} worker(s)")
    return "\n".join(lines)


def run_status(settings: Settings, urls: list[str], as_json: bool, timeout: float) -> int:
    """Print the report; 0 when every worker is ready, 1 otherwise (or when there are none)."""
    status = collect(settings, urls, timeout)
    print(json.dumps(status.to_dict(), indent=2) if as_json else render(status))
    return 0 if status.all_ready else 1

"""End-to-end fixtures: one real `coldstart worker` subprocess for the session, on the real broker.

Starting a worker costs a model load and embedding the catalogue, so the end-to-end modules share
one (`running_worker`). Each test uses its own user ids and its own catalogue items, so tests do
not see each other's state. On a failure the worker's log is attached to the report.
"""
from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytest.register_assert_rewrite("e2e")

from e2e import WAIT, Pipeline, Worker, load_sample, new_id, signup, start_worker

from coldstart.config import Settings
from streams.admin import ensure_topics
from streams.tools.replay import replay
from streams.tools.sample_data import SAMPLE_DIR

READY_TIMEOUT = 300.0  # model load and 340 texts embedded, on two cores shared with others
PARTITIONS = 2
# The time-to-forget of the shared worker: short, so the deletion test waits seconds, not the
# product's default of minutes (its changelogs roll every 6 s).
FORGET_MS = 30_000

WorkerFactory = Callable[[Settings], Worker]


@pytest.fixture(scope="session")
def worker_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerFactory]:
    """Start `coldstart worker` subprocesses; each is stopped (SIGTERM, then SIGKILL) at the end."""
    started: list[Worker] = []

    def start(settings: Settings) -> Worker:
        log = tmp_path_factory.mktemp("worker-log") / "worker.log"
        worker = start_worker(settings, log)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture(scope="session")
def running_worker(broker: str, topic_prefix: str, worker_factory: WorkerFactory,
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    """A worker on its own topics with the sample catalogue and ads loaded, proven to answer."""
    settings = Settings(broker=f"kafka://{broker}",
                        topic_prefix=f"{topic_prefix}e2e{uuid.uuid4().hex[:4]}-",
                        data_dir=Path(tmp_path_factory.mktemp("worker-data")),
                        partitions=PARTITIONS, forget_ms=FORGET_MS)
    ensure_topics(settings)  # the worker's own first step: the catalogue lands in 2 partitions
    replay(SAMPLE_DIR / "catalog.jsonl", "catalog", settings=settings, quiet=True)
    replay(SAMPLE_DIR / "ads.jsonl", "ads", settings=settings, quiet=True)
    worker = worker_factory(settings)
    pipeline = Pipeline(settings, worker)
    pipeline._track("catalog", load_sample("catalog"))
    pipeline._track("ads", load_sample("ads"))
    try:
        worker.wait_for_log("catalogue ready", READY_TIMEOUT)
        probe = signup(new_id("probe"), "a warm waterproof rain jacket")
        pipeline.send("signups", [probe])
        pipeline.recommendations([probe["event_id"]], timeout=max(WAIT, 120.0))
        yield pipeline
    finally:
        pipeline.close()


@pytest.fixture
def pipeline(running_worker: Pipeline) -> Pipeline:
    """The session's running pipeline (see `running_worker`)."""
    return running_worker


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        found = getattr(item, "funcargs", {}).get("running_worker")
        if isinstance(found, Pipeline):
            code = found.worker.process.returncode
            state = "running" if found.worker.alive() else f"exited {code}"
            report.sections.append((f"coldstart worker log ({state}, last lines)",
                                    found.worker.tail()))

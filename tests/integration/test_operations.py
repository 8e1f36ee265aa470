"""Operations: a real worker's /metrics, /healthz and /readyz, `coldstart status`, and the
`coldstart dashboard` page in headless Chromium.

The module starts its own worker on its own topics (a small catalogue), so its counters start at
zero and move only by what the tests send.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from e2e import WAIT, Pipeline, Worker, load_sample, new_id, page_view, signup, start_worker
from prometheus_client.parser import text_string_to_metric_families

from coldstart.config import Settings
from streams.admin import ensure_topics
from streams.tools import harness
from streams.tools.replay import replay

pytestmark = pytest.mark.integration

READY_TIMEOUT = 300.0
ITEMS, ADS = 40, 10
CHROMIUM, CHROMEDRIVER = shutil.which("chromium") or "/usr/bin/chromium", \
    shutil.which("chromedriver") or "/usr/bin/chromedriver"


@dataclass
class OpsWorker:
    pipeline: Pipeline
    url: str  # the worker's operations address
    readiness: list[tuple[int | None, bool]]  # (/readyz status, "catalogue ready" logged after it)


def http(url: str, timeout: float = 5.0) -> tuple[int | None, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except OSError:
        return None, ""


def _operations_url(worker: Worker) -> str:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        found = re.search(r"metrics, health and readiness on http://\S+?:(\d+)", worker.log())
        if found:
            return f"http://127.0.0.1:{found.group(1)}"
        assert worker.alive(), f"the worker exited:\n{worker.tail()}"
        time.sleep(0.2)
    raise AssertionError(f"the worker never opened its operations port:\n{worker.tail()}")


@pytest.fixture(scope="module")
def ops(broker: str, topic_prefix: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpsWorker]:
    """A worker on its own topics with 40 items and 10 ads, /readyz watched while it starts."""
    settings = Settings(broker=f"kafka://{broker}", topic_prefix=f"{topic_prefix}ops{uuid.uuid4().hex[:4]}-",
                        data_dir=Path(tmp_path_factory.mktemp("ops-data")), partitions=2)
    ensure_topics(settings)
    files = tmp_path_factory.mktemp("ops-catalogue")
    items, ads = load_sample("catalog")[:ITEMS], load_sample("ads")[:ADS]
    for name, events in (("catalog", items), ("ads", ads)):
        path = files / f"{name}.jsonl"
        path.write_text("".join(json.dumps(e) + "\n" for e in events))
        replay(path, name, settings=settings, quiet=True)
    worker = start_worker(settings, tmp_path_factory.mktemp("ops-log") / "worker.log")
    pipeline = Pipeline(settings, worker)
    pipeline._track("catalog", items)
    pipeline._track("ads", ads)
    try:
        url = _operations_url(worker)
        readiness: list[tuple[int | None, bool]] = []
        deadline = time.monotonic() + READY_TIMEOUT
        while not readiness or readiness[-1][0] != 200:
            assert time.monotonic() < deadline, f"never ready: {readiness[-5:]}\n{worker.tail()}"
            assert worker.alive(), f"the worker exited:\n{worker.tail()}"
            status, _ = http(f"{url}/readyz")
            readiness.append((status, "catalogue ready" in worker.log()))
            time.sleep(0.2)
        yield OpsWorker(pipeline, url, readiness)
    finally:
        pipeline.close()
        worker.stop()


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    status, text = http(f"{url}/metrics")
    assert status == 200
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def sample(values: dict, name: str, **labels: str) -> float:
    return values.get((name, tuple(sorted(labels.items()))), 0.0)


def test_healthz_answers_and_readyz_turns_ready_only_after_the_catalogue_loads(ops: OpsWorker) -> None:
    assert http(f"{ops.url}/healthz")[0] == 200
    before = [status for status, logged in ops.readiness if not logged]
    assert before and set(before) == {503}, f"/readyz before the catalogue was ready: {ops.readiness}"
    status, body = http(f"{ops.url}/readyz")
    report = json.loads(body)
    assert status == 200 and report["ready"]
    assert report["checks"] == {"catalogue": True, "state_recovered": True, "partitions_served": True}
    # an ad sent with `active: false` is out of the inventory (docs/operations.md, bounded state)
    in_rotation = sum(1 for ad in load_sample("ads")[:ADS] if ad.get("active", True))
    assert report["catalogue"] == {"items": ITEMS, "ads": in_rotation}
    assert report["partitions"]["signups"] == [0, 1]


def test_metrics_move_by_exactly_what_was_sent(ops: OpsWorker) -> None:
    pipeline = ops.pipeline
    signups = [signup(new_id("ops"), "a light waterproof rain jacket for running") for _ in range(3)]
    views = [page_view(new_id("ops"), [("top", 1), ("side", 2)]) for _ in range(2)]
    bad = pipeline.send("signups", [b"not json {"], key=b"ops-bad")
    pipeline.send("signups", signups)
    pipeline.send("page_views", views)
    pipeline.recommendations([e["event_id"] for e in signups])
    pipeline.ad_slots([e["event_id"] for e in views])
    pipeline.dead_letters(bad)

    expected = {
        ("coldstart_events_in_total", "topic", "signups"): 4,
        ("coldstart_events_in_total", "topic", "page_views"): 2,
        ("coldstart_outputs_total", "topic", "recommendations"): 3,
        ("coldstart_outputs_total", "topic", "ad_slots"): 2,
        ("coldstart_outputs_total", "topic", "dead_letters"): 1,
        ("coldstart_end_to_end_latency_seconds_count", "trigger", "signup"): 3,
        ("coldstart_end_to_end_latency_seconds_count", "trigger", "page_view"): 2,
        ("coldstart_replica_records_total", "topic", "catalog"): ITEMS,
        ("coldstart_replica_records_total", "topic", "ads"): ADS,
    }

    def seen(values: dict) -> dict:
        return {key: sample(values, key[0], **{key[1]: key[2]}) for key in expected}

    deadline = time.monotonic() + WAIT  # outputs are read back a moment before their hook runs
    values = scrape(ops.url)
    while any(seen(values)[k] < v for k, v in expected.items()) and time.monotonic() < deadline:
        time.sleep(0.5)
        values = scrape(ops.url)
    assert seen(values) == expected
    assert sample(values, "coldstart_dead_letters_total", source_topic="signups", kind="not_json") == 1
    assert sample(values, "coldstart_batch_size_count", agent="users") >= 1
    assert sample(values, "coldstart_encoder_texts_total", kind="users") >= 1
    assert sample(values, "coldstart_encoder_texts_total", kind="items") >= ITEMS
    assert sample(values, "coldstart_catalogue_items") == ITEMS
    assert sample(values, "coldstart_ready", check="all") == 1
    assert sample(values, "coldstart_rebalances_total") >= 1
    assert sample(values, "coldstart_recoveries_total") >= 1
    assert sample(values, "coldstart_replica_position", topic="catalog", partition="0") + \
        sample(values, "coldstart_replica_position", topic="catalog", partition="1") == ITEMS
    models = [dict(labels) for (name, labels) in values if name == "coldstart_model_info"]
    assert len(models) == 1 and models[0]["version"]
    lags = {labels: v for (name, labels), v in values.items() if name == "coldstart_consumer_lag"}
    assert {dict(k)["topic"] for k in lags} >= {"signups", "page_views", "clicks"}
    assert not any("changelog" in dict(k)["topic"] for k in lags)


def test_coldstart_status_prints_members_lag_model_and_readiness(ops: OpsWorker) -> None:
    env = harness.worker_env(ops.pipeline.settings)
    command = [sys.executable, "-m", "streams.tools.cli", "status"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    text = done.stdout
    port = ops.url.rsplit(":", 1)[1]
    assert f"group {ops.pipeline.settings.topic_prefix}coldstart: Stable, 1 member(s)" in text
    assert f"coldstart-worker-{port}-" in text and f":{port}   ready" in text
    assert "signups 0,1" in text and "page_views 0,1" in text
    assert re.search(r"^\s+signups\s+2\s+\d+\s+\d+\s+\d+$", text, re.M), text
    report = json.loads(http(f"{ops.url}/readyz")[1])
    assert f"served model: {report['model_version']}; published: none" in text
    assert "ready: 1 of 1 worker(s)" in text
    as_json = json.loads(subprocess.run([*command, "--json"], env=env, capture_output=True,
                                        text=True, timeout=120, check=True).stdout)
    assert as_json["all_ready"] and as_json["workers"][0]["model_version"] == report["model_version"]


def _chromium_missing() -> str:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install selenium)"
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.path.exists(path):
            return (f"no {path}: the browser test needs Debian's chromium and chromium-driver "
                    "(apt-get install -y chromium chromium-driver; bash scripts/test installs "
                    "them where it can)")
    return ""


@pytest.fixture
def dashboard(ops: OpsWorker, tmp_path: Path) -> Iterator[str]:
    """`coldstart dashboard` on a free port, scraping every second; its address."""
    log = tmp_path / "dashboard.log"
    with log.open("wb") as sink:
        process = subprocess.Popen([sys.executable, "-m", "streams.tools.cli", "dashboard",
                                    "--port", "0", "--poll", "1"],
                                   env=harness.worker_env(ops.pipeline.settings), stdout=sink,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not (found := re.search(r"dashboard on (http://\S+)", log.read_text())):
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        yield found.group(1)
    finally:
        harness.stop_worker(process, 10)


def test_the_dashboard_page_draws_its_charts_and_finds_a_users_list(
        ops: OpsWorker, dashboard: str, tmp_path: Path) -> None:
    missing = _chromium_missing()
    if missing:
        pytest.skip(missing)
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    options = Options()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1400,1400", f"--user-data-dir={tmp_path / 'chromium'}"):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        browser.get(dashboard)
        user = new_id("ops-dash")

        def points(chart: str) -> int:
            found = browser.find_elements(By.CSS_SELECTOR, f"#{chart} svg")
            return int(found[0].get_attribute("data-points") or 0) if found else 0

        deadline, sent = time.monotonic() + WAIT, 0.0
        while points("throughput-chart") == 0 or points("latency-chart") == 0:
            assert time.monotonic() < deadline, "the charts drew no points:\n" + browser.page_source[:3000]
            if time.monotonic() - sent > 3:  # keep outputs coming, so the latency window holds some
                ops.pipeline.send("signups", [signup(user, "warm gloves for winter cycling")])
                sent = time.monotonic()
            time.sleep(0.5)
        assert "ready" in browser.find_element(By.ID, "workers").text
        assert ops.pipeline.settings.topic_prefix in browser.find_element(By.ID, "group").text

        browser.find_element(By.ID, "user-id").send_keys(user)
        browser.find_element(By.CSS_SELECTOR, "#user-search button").click()

        def listed(_: object) -> bool:
            items = browser.find_elements(By.CSS_SELECTOR, "#user-items li")
            if not items:  # not read from the topic yet: ask again
                browser.find_element(By.CSS_SELECTOR, "#user-search button").click()
            return len(items) == 10

        WebDriverWait(browser, WAIT, poll_frequency=1.0).until(listed)
        first = browser.find_elements(By.CSS_SELECTOR, "#user-items li")[0].text
        assert "—" in first and first.split("—", 1)[1].strip(), first  # a title and a reason
        WebDriverWait(browser, WAIT).until(
            lambda _: user in browser.find_element(By.ID, "recommendations").text)
        shot = Path(os.environ.get("COLDSTART_DASHBOARD_SCREENSHOT") or tmp_path / "dashboard.png")
        browser.save_screenshot(str(shot))
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        browser.quit()


def test_a_worker_refuses_a_metrics_port_in_use_with_a_clear_error(ops: OpsWorker, tmp_path: Path) -> None:
    port = int(ops.url.rsplit(":", 1)[1])
    settings = Settings(broker=ops.pipeline.settings.broker,
                        topic_prefix=f"{ops.pipeline.settings.topic_prefix}{uuid.uuid4().hex[:4]}-",
                        data_dir=tmp_path / "data", partitions=2, metrics_port=port)
    worker = start_worker(settings, tmp_path / "worker.log")
    try:
        assert worker.process.wait(120) != 0
        assert f"COLDSTART_METRICS_PORT={port}: cannot listen there" in worker.log()
    finally:
        worker.stop()

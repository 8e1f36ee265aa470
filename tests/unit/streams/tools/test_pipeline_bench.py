"""The pipeline bench's plan, workload and verdicts (the run itself needs a broker: scripts/test-long)."""
from __future__ import annotations

import itertools
import json

import pytest

import schemas
from coldstart.errors import ColdstartError
from coldstart.text.item_text import item_text
from streams.tools.bench import workload as workload
from streams.tools.bench.pipeline import TARGET_PLAN, Phase, _ratios, _targets, parse_phase, plan, report
from streams.tools.cli import build_parser
from tests.conftest import DATASETS


@pytest.mark.parametrize("text, phase", [
    ("signups", Phase("signups", 5.0, 300)),
    ("signups@20", Phase("signups", 20.0, 300)),
    ("clicks@max:20000", Phase("clicks", 0.0, 20000)),
    ("page_views@200:3000", Phase("page_views", 200.0, 3000)),
    ("searches:10", Phase("searches", 5.0, 10)),
])
def test_parse_phase(text: str, phase: Phase) -> None:
    assert parse_phase(text, default_rate=5.0, default_events=300) == phase


@pytest.mark.parametrize("text", ["likes", "clicks@fast", "clicks:lots", "clicks@-1", "clicks:0"])
def test_parse_phase_refuses_nonsense(text: str) -> None:
    with pytest.raises(ColdstartError, match="expected"):
        parse_phase(text)


def test_plan_from_the_command_line() -> None:
    parse = build_parser().parse_args
    assert plan(parse(["bench", "pipeline", "--targets"])) == list(TARGET_PLAN)
    assert plan(parse(["bench", "--kinds", "signups,clicks", "--rate", "20", "--events", "50"])) \
        == [Phase("signups", 20.0, 50), Phase("clicks", 20.0, 50)]
    args = parse(["bench", "--phase", "clicks@2000:100", "--phase", "signups", "--no-worker"])
    assert plan(args) == [Phase("clicks", 2000.0, 100), Phase("signups", 0.0, 1000)]
    assert args.no_worker and not parse(["bench"]).no_worker
    assert Phase("clicks", 0, 1).label == "clicks@max" and Phase("clicks", 20, 1).label == "clicks@20/s"


def test_demo_catalogue_of_any_size_has_distinct_valid_items() -> None:
    items = workload.catalog(5000, "demo")
    assert len(items) == 5000
    assert len({i["item_id"] for i in items}) == 5000
    assert len({item_text(i) for i in items}) == 5000  # the encoder really embeds every one
    assert workload.catalog(50, "demo") == items[:50]  # stable ids and texts: the vector cache hits
    for item in items[:200]:
        schemas.validate("catalog", {**item, "ts": 1})
    for ad in workload.ads(items):
        schemas.validate("ads", {**ad, "ts": 1})


@pytest.mark.skipif(not (DATASETS / "home_depot" / "train.csv").is_file(),
                    reason="Home Depot dataset not present")
def test_home_depot_catalogue_goes_past_its_distinct_products() -> None:
    items = workload.catalog(60_000, "home_depot")
    assert len({i["item_id"] for i in items}) == 60_000
    assert all(i["title"].endswith("(variant 2)") for i in items[54_667:])
    assert items[54_667]["title"] == items[0]["title"] + " (variant 2)"
    assert len(set(workload.descriptions(2000, "home_depot"))) == 2000


def test_descriptions_are_distinct_and_events_valid() -> None:
    texts = workload.descriptions(3000)
    assert len(set(texts)) == 3000 and all(texts)
    users, items = ["u1", "u2"], ["bd-000001", "bd-000002"]
    for n, click in enumerate(itertools.islice(workload.clicks(users, items), 200)):
        assert click["user_id"] in users and click["item_id"] in items
        schemas.validate("clicks", {**click, "event_id": f"e{n}", "ts": 1})
    for n, view in enumerate(itertools.islice(workload.page_views(users, items), 200)):
        schemas.validate("page_views", {**view, "event_id": f"e{n}", "ts": 1})
    assert len(workload.queries(10)) == 10


def _phase(kind: str, rate: float, done: float, p99: float, missing: int = 0) -> dict:
    return {"kind": kind, "rate": rate, "label": Phase(kind, rate, 1).label, "events": 10,
            "offered_per_s": 1.0, "answered": 10, "missing": missing, "repeats": 0,
            "throughput_per_s": done, "latency_ms": {"count": 10, "p50": 1.0, "p95": 2.0,
                                                     "p99": p99, "max": p99},
            "worker_cpu_ms_per_event": 0.5, "cpu_s": {"wall": 1, "bench": 0, "worker": 1}}


def test_targets_judge_the_phases_that_speak_to_them() -> None:
    result = {"run_id": "b1", "encoder": {"texts": 10, "batch_size": 64, "threads": 2,
                                          "texts_per_s": 100.0},
              "config": {"catalog_size": 1000, "source": "demo", "worker": "started"},
              "machine": {"cores": 2}, "catalog": {"items": 1000, "ready_s": 1.0},
              "phases": [_phase("signups", 0, 85.0, 900.0), _phase("signups", 20, 20.0, 151.0),
                         _phase("clicks", 2000, 2001.0, 240.0),
                         _phase("page_views", 200, 200.0, 30.0)]}
    result["ratios"] = _ratios(result)
    assert result["ratios"] == {"signups_over_raw_encoder": 0.85}
    verdicts = {t["target"]: t["pass"] for t in _targets(result)}
    assert verdicts == {"signups/s over raw batched encoder texts/s": True,
                        "signup p99 ms at 20/s": False, "clicks/s (clicks@2000/s)": True,
                        "click p99 ms at 2000/s": True, "page view p99 ms at 200/s": True}
    result["targets"] = _targets(result)
    text = report(result)
    assert "[FAIL] signup p99 ms at 20/s: 151.0" in text and "clicks@2000/s" in text
    assert "WARNING" not in text
    result["encoder"].update(version="m-1", worker_model_version="m-2")
    assert "WARNING: the worker runs m-2, the raw encoder was m-1" in report(result)
    json.dumps(result)  # the --out file


def test_no_targets_without_the_phases() -> None:
    result = {"phases": [_phase("searches", 0, 10.0, 5.0)], "encoder": None}
    assert _ratios(result) == {} and _targets(result) == []

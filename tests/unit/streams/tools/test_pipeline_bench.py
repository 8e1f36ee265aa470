"""The pipeline bench's plan, workload and verdicts (the run itself needs a broker: scripts/test-long)."""
from __future__ import annotations

import collections
import itertools
import json

import pytest

import schemas
from coldstart.config import Settings
from coldstart.errors import ColdstartError
from coldstart.text.item_text import item_text
from streams.tools.bench import workload as workload
from streams.tools.bench.pipeline import (
    TARGET_PLAN,
    Phase,
    Run,
    _ratios,
    _schedule,
    _targets,
    parse_phase,
    plan,
    report,
)
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


def test_a_mixed_phase_sends_each_kind_at_its_own_rate() -> None:
    phase = parse_phase("mixed@500/200/20:2")
    assert phase.mix == (("clicks", 500.0), ("page_views", 200.0), ("signups", 20.0))
    assert phase.counts() == {"clicks": 1000, "page_views": 400, "signups": 40}
    assert phase.events == 1440 and phase.label == "mixed@500/200/20"
    assert parse_phase("mixed@500/0:1").counts() == {"clicks": 500}
    for bad in ("mixed", "mixed@a/b", "mixed@0/0", "mixed@1/2/3/4", "mixed@5:x"):
        with pytest.raises(ColdstartError, match="expected mixed@"):
            parse_phase(bad)
    run = Run(Settings.from_env(), "b1", ["i1", "i2"], {0: [f"text {n}" for n in range(40)]},
              pool_size=10)
    sent = list(_schedule(run, 0, phase, "demo"))
    assert [at for at, *_ in sent] == sorted(at for at, *_ in sent)  # one timeline, in order
    kinds = [kind for _, kind, _, _ in sent]
    assert {k: kinds.count(k) for k in set(kinds)} == phase.counts()
    assert sent[-1][0] == pytest.approx(2 - 1 / 500)  # the phase lasts its seconds
    for _, kind, _, event in sent[:50]:
        schemas.validate(kind, {**event, "ts": 1})


def test_zipf_clicks_favour_a_few_items_and_keep_users_uniform() -> None:
    users, items = [f"u{n}" for n in range(50)], [f"i{n}" for n in range(1000)]
    skewed = list(itertools.islice(workload.clicks(users, items, zipf=1.1), 20_000))
    flat = list(itertools.islice(workload.clicks(users, items), 20_000))

    def top_share(clicks: list[dict], key: str, n: int) -> float:
        counts = sorted(collections.Counter(c[key] for c in clicks).values(), reverse=True)
        return sum(counts[:n]) / len(clicks)

    assert top_share(skewed, "item_id", 10) > 0.3  # Zipf 1.1 over 1,000 items: about 0.38
    assert top_share(flat, "item_id", 10) < 0.03
    assert top_share(skewed, "user_id", 5) < 0.15  # users stay uniform (5 of 50: 0.1)
    assert skewed[:100] == list(itertools.islice(workload.clicks(users, items, zipf=1.1), 100))


def test_a_mixed_phase_is_judged_and_reported_per_kind() -> None:
    kinds = {k: {**_phase(k, r, r, p99), "events": 20} for k, r, p99 in
             (("clicks", 500, 240.0), ("page_views", 200, 60.0), ("signups", 20, 100.0))}
    mixed = {**_phase("clicks", 720, 0.0, 0.0), "kind": "mixed", "label": "mixed@500/200/20",
             "kinds": kinds, "worker_cpu_share": 0.9,
             "worker_rss_mb": {"start": 500.0, "peak": 640.0, "end": 600.0}}
    result = {"run_id": "b1", "commit": "abc1234", "dirty": False, "encoder": None,
              "config": {"catalog_size": 1000, "source": "demo", "worker": "started", "zipf": 1.1},
              "machine": {"cores": 2}, "phases": [mixed]}
    verdicts = {t["target"]: t["pass"] for t in _targets(result)}
    assert verdicts == {"page_views p99 ms in mixed@500/200/20": False,
                        "clicks p99 ms in mixed@500/200/20": True,
                        "signups p99 ms in mixed@500/200/20": True}
    text = report(result)
    assert "at abc1234" in text and "zipf 1.1" in text
    assert "mixed@500/200/20 page_views" in text and "640" in text

"""The committed sample files are valid events, consistent with each other, and reproducible."""
from __future__ import annotations

from pathlib import Path

import pytest

import schemas
from streams.tools import sample_data
from streams.tools.sample_data import FILES, SAMPLE_DIR


def _load(topic: str) -> list[dict]:
    lines = (SAMPLE_DIR / f"{topic}.jsonl").read_bytes().splitlines()
    return [schemas.decode(topic, line) for line in lines if line.strip()]


@pytest.mark.parametrize("topic", FILES)
def test_every_sample_event_is_valid_and_in_time_order(topic: str) -> None:
    events = _load(topic)
    assert events
    stamps = [event["ts"] for event in events]
    assert stamps == sorted(stamps)


def test_ids_are_unique_and_references_resolve() -> None:
    items = {event["item_id"] for event in _load("catalog")}
    assert len(items) == len(_load("catalog")) >= 250
    event_ids = [e["event_id"] for topic in FILES[2:] for e in _load(topic)]
    assert len(event_ids) == len(set(event_ids))
    assert {e["item_id"] for e in _load("clicks")} <= items
    assert {a["item_id"] for a in _load("ads") if a.get("item_id")} <= items
    assert {p["context_item_id"] for p in _load("page_views") if p.get("context_item_id")} <= items
    assert all(2 <= len(p["slots"]) <= 4 for p in _load("page_views"))


def test_sample_covers_what_the_demo_needs() -> None:
    ads = _load("ads")
    assert len(ads) >= 30 and sum(not a["active"] for a in ads) == 2
    assert any("item_id" not in a for a in ads)
    assert len({item["category"] for item in _load("catalog")}) >= 8
    assert {c["action"] for c in _load("clicks")} == {"view", "click", "add_to_cart", "purchase"}


def test_generator_is_deterministic_and_files_are_current(tmp_path: Path) -> None:
    counts = sample_data.write(tmp_path)
    assert counts == {topic: len(_load(topic)) for topic in FILES}
    for topic in FILES:
        fresh = (tmp_path / f"{topic}.jsonl").read_bytes()
        committed = (SAMPLE_DIR / f"{topic}.jsonl").read_bytes()
        assert fresh == committed, f"{topic}.jsonl is stale: run python -m streams.tools.sample_data"


def test_the_chinese_sample_is_valid_current_and_written_for_the_product(tmp_path: Path) -> None:
    from streams.tools import sample_data_zh
    from streams.tools.sample_data_zh import ZH_DIR

    counts = sample_data_zh.write(tmp_path)
    for topic in FILES:
        fresh = (tmp_path / f"{topic}.jsonl").read_bytes()
        assert fresh == (ZH_DIR / f"{topic}.jsonl").read_bytes(), f"zh/{topic}.jsonl is stale: run " \
                                                                  "python -m streams.tools.sample_data_zh"
        assert all(schemas.decode(topic, line) for line in fresh.splitlines())
    assert counts["catalog"] == 300 and counts["signups"] >= 30
    catalog = [schemas.decode("catalog", line) for line in (ZH_DIR / "catalog.jsonl").read_bytes().splitlines()]
    assert len({item["category"] for item in catalog}) == 10
    english = {event["event_id"] for topic in FILES[2:] for event in _load(topic)}
    chinese = [schemas.decode(t, line)["event_id"] for t in FILES[2:] for line in
               (ZH_DIR / f"{t}.jsonl").read_bytes().splitlines()]
    assert not english & set(chinese) and len(set(chinese)) == len(chinese)

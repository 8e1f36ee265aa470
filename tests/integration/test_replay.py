"""Replay and record on the real broker: what goes in comes back, bad lines too, paced on request."""
from __future__ import annotations

import json
import time
from collections import defaultdict
from pathlib import Path

import pytest
from kafka import KafkaConsumer

from coldstart.config import Settings
from coldstart.errors import ColdstartError
from streams.tools import replay as replay_module
from streams.tools.cli import main
from streams.tools.replay import read_topic, record, replay
from streams.tools.sample_data import SAMPLE_DIR

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(broker: str, unique_prefix: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("COLDSTART_BROKER", f"kafka://{broker}")
    monkeypatch.setenv("COLDSTART_TOPIC_PREFIX", unique_prefix)
    return Settings.from_env()


def _by_key(events: list[dict], field: str) -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = defaultdict(list)
    for event in events:
        groups[event[field]].append(event)
    return dict(groups)


def _raw_records(settings: Settings, topic: str, count: int) -> list[tuple[bytes | None, bytes]]:
    consumer = KafkaConsumer(settings.topic(topic), bootstrap_servers=settings.bootstrap_servers,
                             auto_offset_reset="earliest", consumer_timeout_ms=5000)
    found = []
    for message in consumer:
        found.append((message.key, message.value))
        if len(found) == count:
            break
    consumer.close()
    return found


def test_replayed_sample_records_back_in_per_key_order(settings: Settings, tmp_path: Path) -> None:
    source = SAMPLE_DIR / "clicks.jsonl"
    sent = [json.loads(line) for line in source.read_text().splitlines()]
    assert replay(source, "clicks", settings=settings) == len(sent)

    out = tmp_path / "clicks.jsonl"
    assert record("clicks", out, timeout=2.0, settings=settings) == len(sent)
    received = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(received) == len(sent)
    assert _by_key(received, "user_id") == _by_key(sent, "user_id")


def test_bad_lines_are_carried_as_given(settings: Settings, tmp_path: Path) -> None:
    lines = [b'{"event_id": "e1",  "user_id": "u1", "query": "tent", "ts": 1}',
             b"not json at all", b'{"event_id": "e2", "query": "no user"}', b'[1, 2]',
             b'{"user_id": "u3", "query": "lone \\ud800", "bad": "\xff"}']
    source = tmp_path / "bad.jsonl"
    source.write_bytes(b"\n".join([lines[0], b"", b"   ", *lines[1:]]) + b"\n")
    assert replay(source, "searches", settings=settings) == 5

    keyed = dict((value, key) for key, value in _raw_records(settings, "searches", 5))
    assert keyed == {lines[0]: b"u1", lines[1]: None, lines[2]: None, lines[3]: None, lines[4]: b"u3"}

    out = tmp_path / "out.jsonl"
    assert record("searches", out, limit=5, settings=settings) == 5
    recorded = out.read_text().splitlines()
    assert '{"_raw":"not json at all"}' in recorded and "[1,2]" in recorded
    events = list(read_topic(settings.topic("searches"), bootstrap=settings.bootstrap_servers,
                             timeout=5.0, until=lambda seen: len(seen) >= 5))
    assert {"_raw": "not json at all"} in events and len(events) == 5


def test_rate_paces_events(settings: Settings, tmp_path: Path) -> None:
    source = tmp_path / "signups.jsonl"
    source.write_text("".join(json.dumps({"event_id": f"e{i}", "user_id": f"u{i}", "description": "x",
                                          "ts": i}) + "\n" for i in range(11)))
    started = time.monotonic()
    assert replay(source, "signups", rate=20.0, settings=settings) == 11
    assert time.monotonic() - started >= 10 / 20 * 0.9


def test_cli_replay_and_record_return_zero(settings: Settings, tmp_path: Path) -> None:
    assert main(["replay", str(SAMPLE_DIR / "ads.jsonl"), "--topic", "ads"]) == 0
    out = tmp_path / "ads.jsonl"
    assert main(["record", "--topic", "ads", "--out", str(out), "--limit", "40", "--timeout", "5"]) == 0
    assert len(out.read_text().splitlines()) == 40


def test_unreachable_broker_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(replay_module, "BOOTSTRAP_MS", 500)
    unreachable = Settings(broker="kafka://127.0.0.1:9")
    with pytest.raises(ColdstartError, match="127.0.0.1:9"):
        replay(SAMPLE_DIR / "ads.jsonl", "ads", settings=unreachable)
    with pytest.raises(ColdstartError, match="127.0.0.1:9"):
        record("ads", tmp_path / "x.jsonl", settings=unreachable)

"""`coldstart status` says who is in the group, what each serves, what lags, and who is ready."""
from __future__ import annotations

from streams.tools.ops_client import Group, Member, Probe, TopicLag
from streams.tools.status import Status, WorkerStatus, render


def status(probe: Probe) -> Status:
    member = Member("m-1", "coldstart-worker-9464-box", "10.0.0.5",
                    {"signups": [0, 1], "coldstart-profiles-changelog": [0, 1]})
    worker = WorkerStatus(member.client_id, member.url, member.partitions, probe)
    return Status(Group("coldstart", "Stable", [member]), [worker],
                  [TopicLag("signups", 2, 120, 100)], None)


def test_a_ready_worker_is_listed_with_its_address_model_partitions_and_the_lag() -> None:
    report = status(Probe(200, {"ready": True, "model_version": "m-1"}))
    text = render(report)
    assert "group coldstart: Stable, 1 member(s)" in text
    assert "http://10.0.0.5:9464   ready" in text
    assert "signups 0,1 (+1 changelog/assignor)" in text
    assert "signups" in text and " 20" in text.splitlines()[-3]
    assert "served model: m-1; published: none (the default model)" in text
    assert report.all_ready and report.to_dict()["workers"][0]["ready"]


def test_a_worker_that_is_not_ready_names_the_failing_checks() -> None:
    report = status(Probe(503, {"ready": False, "checks": {"catalogue": False, "state_recovered": True}}))
    assert "not ready (catalogue)" in render(report)
    assert not report.all_ready


def test_an_unreachable_worker_says_why() -> None:
    assert "unreachable (connection refused)" in render(status(Probe(None, error="connection refused")))

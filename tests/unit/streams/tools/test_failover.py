"""The fail-over bench's pieces: a probe user per partition, the served partitions read from a
worker's log, and its report line."""
from __future__ import annotations

from pathlib import Path

from streams.partitioned import partition_for
from streams.tools.bench import failover
from streams.tools.harness import serving_partitions


def test_there_is_one_probe_user_on_each_partition() -> None:
    users = failover.users_per_partition("run-fo", 8)
    assert [partition_for(u.encode(), 8) for u in users] == list(range(8))


def test_the_latest_serving_line_of_a_worker_log_names_its_partitions(tmp_path: Path) -> None:
    log = tmp_path / "worker.log"
    assert serving_partitions(log) is None
    log.write_text("x\n[W] coldstart: serving user partitions 0,1,2,3\n")
    assert serving_partitions(log) == {0, 1, 2, 3}
    log.write_text(log.read_text() + "[W] coldstart: serving user partitions 1,3\n")
    assert serving_partitions(log) == {1, 3}
    log.write_text(log.read_text() + "[W] coldstart: serving no user partitions\n")
    assert serving_partitions(log) == set()


def test_the_report_says_the_fail_over_time_or_what_went_unanswered() -> None:
    found = {"killed_worker": 1, "its_partitions": [1, 3], "failover_s": 8.25,
             "survivors_stall_s": 2.5, "unanswered_partitions": [], "session_timeout_s": 6,
             "standby_replicas": 0}
    assert "after 8.25 s" in failover.report(found)
    lost = {**found, "failover_s": None, "unanswered_partitions": [3]}
    assert "[3] got no answer" in failover.report(lost)


def test_the_survivors_stall_is_their_longest_wait_between_answers_after_the_kill() -> None:
    """Answered 0.1 s after the kill, then paused by the rebalance for 2.3 s: the stall is 2.3 s,
    not the 0.1 s to the first answer."""
    kill = 10_000.0
    answers = [kill + 100, kill + 200, kill + 2_500, kill + 2_600]
    assert failover.longest_gap(answers, kill) == 2.3
    assert failover.longest_gap([kill + 900], kill) == 0.9
    assert failover.longest_gap([], kill) == 0.0
    assert failover.gap_start(answers, kill) == 0.2  # the 2.3 s wait began 0.2 s after the kill
    assert failover.gap_start([], kill) == 0.0

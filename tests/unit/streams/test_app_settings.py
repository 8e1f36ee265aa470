"""The group settings that make scale-out safe: batches finish before a rebalance hands their
partitions over, a dead worker is noticed quickly, standby replicas are a setting."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PROBE = """
from streams.app import app
c = app.conf
print("CONF", c.stream_wait_empty, c.broker_session_timeout, c.broker_heartbeat_interval,
      c.table_standby_replicas)
"""


def conf(tmp_path: Path, **env: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                          timeout=120, env=dict(os.environ, COLDSTART_DATA_DIR=str(tmp_path), **env))
    lines = [line for line in done.stdout.splitlines() if line.startswith("CONF ")]
    assert lines, done.stderr[-2000:]
    return lines[-1].split()[1:]


def test_a_rebalance_waits_for_the_running_batch_a_dead_worker_is_noticed_in_6_s_and_one_standby(
        tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k in ("COLDSTART_STANDBY_REPLICAS",
                                                         "COLDSTART_SESSION_TIMEOUT_S")}
    assert not env, f"unset {sorted(env)} to run this test"
    assert conf(tmp_path) == ["True", "6.0", "0.5", "1"]  # heartbeats at a twelfth of it


def test_standby_replicas_and_the_session_timeout_come_from_the_environment(
        tmp_path: Path) -> None:
    assert conf(tmp_path, COLDSTART_STANDBY_REPLICAS="0", COLDSTART_SESSION_TIMEOUT_S="15") == \
        ["True", "15.0", "1.25", "0"]

"""The worker logs at the level it is given: no debug records built behind a warning level."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PROBE = """
import logging, os
from streams.app import app
worker = app.Worker(loglevel="warn", quiet=True)
worker._setup_logging()
debug = [name for name in ("", "aiokafka", "faust", "mode")
         if logging.getLogger(name).isEnabledFor(logging.DEBUG)]
os.write(2, ("DEBUG-ON:" + ",".join(debug) + "\\n").encode())
"""


def test_worker_at_warning_level_builds_no_debug_records(tmp_path: Path) -> None:
    # Faust's terminal spinner sets the root logger to DEBUG; in a busy worker every aiokafka
    # debug call then became a log record (the profile's largest cost per click).
    env = dict(os.environ, COLDSTART_DATA_DIR=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True,
                          text=True, timeout=120)
    lines = [line for line in done.stderr.splitlines() if line.startswith("DEBUG-ON:")]
    assert lines, done.stderr[-2000:]
    assert lines[-1] == "DEBUG-ON:", f"loggers enabled for DEBUG: {lines[-1]}"

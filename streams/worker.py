"""`coldstart worker`: create the contract's topics if missing, then run the Faust app and its agents."""
from __future__ import annotations

import dataclasses
import logging
import os
import sys

from coldstart.config import Settings
from streams.admin import check_partitions, ensure_topics, policy_warnings, with_broker

SWITCH_INTERVAL_S = 0.001
LEVELS = {"debug": "debug", "info": "info", "warning": "warn", "warn": "warn", "error": "error",
          "critical": "crit"}


def run_worker(loglevel: str = "warning") -> int:
    """Run one worker until it is stopped (SIGTERM or SIGINT)."""
    log = logging.getLogger(__name__)
    settings = Settings.from_env()  # impossible values raise ConfigError: one line, no start
    (settings.data_dir / "faust").mkdir(parents=True, exist_ok=True)
    partitions = check_partitions(settings)
    if partitions != settings.partitions:
        log.warning("coldstart: the user topics have %d partitions; using %d, not "
                    "COLDSTART_PARTITIONS=%d", partitions, partitions, settings.partitions)
        os.environ["COLDSTART_PARTITIONS"] = str(partitions)  # streams.app reads it next
        settings = dataclasses.replace(settings, partitions=partitions)
    created = ensure_topics(settings)
    if created:
        log.warning("created topics: %s", ", ".join(created))
    for line in with_broker(settings, lambda: policy_warnings(settings)):
        log.warning("coldstart: %s", line)
    from streams.agents import register
    from streams.app import app
    from streams.faust_compat import run_app

    register()
    # The users agent ranks in a thread (streams/agents/users.py); a shorter GIL switch interval
    # (default 5 ms) lets the event loop, and so page views, in sooner while it does.
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    run_app(app, LEVELS.get(loglevel, "warn"))
    return 0

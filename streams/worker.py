"""`coldstart worker`: create the contract's topics if missing, then run the Faust app and its agents."""
from __future__ import annotations

import logging
import sys

from coldstart.config import Settings
from streams.admin import ensure_topics

SWITCH_INTERVAL_S = 0.001
LEVELS = {"debug": "debug", "info": "info", "warning": "warn", "warn": "warn", "error": "error",
          "critical": "crit"}


def run_worker(loglevel: str = "warning") -> int:
    """Run one worker until it is stopped (SIGTERM or SIGINT)."""
    settings = Settings.from_env()
    (settings.data_dir / "faust").mkdir(parents=True, exist_ok=True)
    created = ensure_topics(settings)
    if created:
        logging.getLogger(__name__).warning("created topics: %s", ", ".join(created))
    from streams.agents import register
    from streams.app import app
    from streams.faust_compat import run_app

    register()
    # The users agent ranks in a thread (streams/agents/users.py); a shorter GIL switch interval
    # (default 5 ms) lets the event loop, and so page views, in sooner while it does.
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    run_app(app, LEVELS.get(loglevel, "warn"))
    return 0

"""A log line each time this worker starts serving its share of the user partitions.

Faust sends `on_rebalance_complete` once a rebalance's table recovery is done, just before the
streams resume: the partitions named here are served with their profiles recovered. Operators
(and the scale-out test) read which worker serves which partitions from it. The time of it is
kept too (`resumed_at`): the users agent's overload mode measures lag from there at most.
"""
from __future__ import annotations

import logging
import time
from typing import Any

from schemas.topics import USER_TOPICS
from streams.app import app, settings

log = logging.getLogger(__name__)
resumed_at = 0.0  # epoch seconds: the latest rebalance's end, when the streams resume


def user_partitions(assignment: Any) -> list[int]:
    """The partitions of the user topics among a consumer's assigned topic partitions."""
    topic = settings.topic(USER_TOPICS[0])  # the user topics are co-partitioned
    return sorted(tp.partition for tp in assignment if tp.topic == topic)


@app.on_rebalance_complete.connect  # type: ignore[arg-type]  # mode types `signal` as keyword-only
async def on_rebalance_complete(sender: Any, *args: Any, **kwargs: Any) -> None:
    global resumed_at
    resumed_at = time.time()
    mine = user_partitions(app.consumer.assignment())
    if mine:
        log.warning("coldstart: serving user partitions %s", ",".join(map(str, mine)))
    else:
        log.warning("coldstart: serving no user partitions")

"""The one Faust app, configured from the environment (coldstart/config.py); it imports no agent.

The agents register themselves on import (streams/agents/__init__.py); `coldstart worker`
(streams/worker.py) imports them before it runs the app.
"""
from __future__ import annotations

import faust

from coldstart.config import Settings
from streams.faust_compat import QuietWorker, use_rewinding_consumer

settings = Settings.from_env()

app = faust.App(
    f"{settings.topic_prefix}coldstart",  # the prefix keeps groups and changelogs apart too
    broker=settings.broker,
    store="rocksdb://",
    datadir=str(settings.data_dir / "faust"),
    topic_partitions=settings.partitions,
    key_serializer="raw",
    value_serializer="raw",
    web_enabled=False,
    consumer_auto_offset_reset="earliest",  # a new worker group reads what is already there
    consumer_max_fetch_size=8 * 1024 * 1024,
    producer_max_request_size=8 * 1024 * 1024,
    # Outputs and changelog records wait up to 5 ms to share a produce request: under load the
    # event loop otherwise spends a third of its time writing small requests to the socket.
    producer_linger_ms=5,
    broker_max_poll_interval=900.0,
    # A worker killed without leaving its group holds its partitions until this runs out; the
    # others take them over after it (docs/operations.md#fail-over: up to 2.5 s more). Heartbeats
    # come from Faust's consumer thread, not the event loop, and the encoder and the ranking run
    # in threads, so long batches do not stop them; a worker joins its group only once its model
    # and catalogue are loaded (streams/replica.py), so no start-up stall counts against it
    # either. At the default 6 s, the broker's minimum, two workers on two shared cores were not
    # evicted once through signups, clicks and a fail-over; on oversubscribed cores raise it.
    broker_session_timeout=float(settings.session_timeout_s),
    # The survivors learn of a dead worker's eviction at their next heartbeat after it: at a
    # twelfth of the timeout (0.5 s at 6 s) that adds at most half a second to the fail-over
    # (Kafka asks for a third or less; a heartbeat is a small request to the coordinator).
    broker_heartbeat_interval=max(0.5, min(3.0, settings.session_timeout_s / 12)),
    broker_commit_every=1000,
    broker_commit_interval=1.0,
    # At a rebalance the running batch is finished and acknowledged (and committed) before the
    # partitions are given up, so two workers never write one user's profile at once.
    stream_wait_empty=True,
    table_standby_replicas=settings.standby_replicas,
    autodiscover=False,
    Worker=QuietWorker,
)
# aiokafka leaves never-committed partitions unrewound after a rebalance (streams/faust_compat.py)
use_rewinding_consumer(app)

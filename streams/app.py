"""The one Faust app, configured from the environment (see coldstart/config.py)."""
from __future__ import annotations

import faust

from coldstart.config import Settings
from streams.consumer import RewindingConsumer

settings = Settings.from_env()


class QuietWorker(faust.Worker):
    """Faust's worker without its terminal spinner.

    To spin once per log record, the spinner sets the root logger to DEBUG, so every aiokafka
    and Faust debug call builds and handles a record even at `--loglevel warning`: profiled at
    about 40% of a click's cost. Without the spinner the level is the one asked for.
    """

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.spinner = None


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
    broker_max_poll_interval=900.0,
    # A worker killed without leaving its group holds its partitions until this runs out; its
    # replacement waits that long. Heartbeats come from Faust's consumer thread, not the agents.
    broker_session_timeout=15.0,
    broker_heartbeat_interval=3.0,  # the first catalogue load may take minutes on two cores
    broker_commit_every=1000,
    broker_commit_interval=1.0,
    stream_wait_empty=False,
    table_standby_replicas=0,
    autodiscover=False,
    Worker=QuietWorker,
)
# aiokafka leaves never-committed partitions unrewound after a rebalance (see streams/consumer.py)
app.transport.Consumer = RewindingConsumer

# Importing the agents registers them with the app.
from streams.agents import ads as _ads  # noqa: E402,F401
from streams.agents import users as _users  # noqa: E402,F401
from streams.agents import cooccurrence as _cooccurrence  # noqa: E402,F401
from streams.agents import feedback as _feedback  # noqa: E402,F401
from streams import catalog_replica as _catalog_replica  # noqa: E402,F401

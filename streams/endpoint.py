"""How a worker names its operations port to the group, and which topics its lag is measured on.

Shared by the worker (streams/ops.py) and the tools that find it (streams/tools/ops_client.py);
it imports nothing of Faust, so the tools can use it without building the app.
"""
from __future__ import annotations

CLIENT_ID_PREFIX = "coldstart-worker-"


def client_id(port: int, host: str) -> str:
    """The Kafka client id of a worker whose operations port is `port` on `host`."""
    return f"{CLIENT_ID_PREFIX}{port}-{host}"


def metrics_port(client_id: str) -> int | None:
    """The operations port a worker's client id names; None for any other client."""
    if not client_id.startswith(CLIENT_ID_PREFIX):
        return None
    port = client_id[len(CLIENT_ID_PREFIX):].partition("-")[0]
    return int(port) if port.isdigit() else None


def is_stream_topic(topic: str) -> bool:
    """A topic an agent consumes: not a table's changelog (written by its worker, read only in
    recovery) nor Faust's assignor topic, whose lag would mean nothing."""
    return not topic.endswith("-changelog") and "__assignor" not in topic

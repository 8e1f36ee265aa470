"""A worker's client id names its operations port, and lag is measured on stream topics only."""
from __future__ import annotations

from streams.endpoint import client_id, is_stream_topic, metrics_port


def test_the_client_id_carries_the_port_even_when_the_host_has_dashes() -> None:
    assert metrics_port(client_id(9464, "worker-7b9-x")) == 9464


def test_other_clients_have_no_port() -> None:
    assert metrics_port("faust-0.15.3") is None
    assert metrics_port("coldstart-worker-x-host") is None


def test_changelogs_and_the_assignor_topic_are_not_stream_topics() -> None:
    assert is_stream_topic("signups") and is_stream_topic("coldstart-ad-placements")
    assert not is_stream_topic("coldstart-profiles-changelog")
    assert not is_stream_topic("coldstart-__assignor-__leader")

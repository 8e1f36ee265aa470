"""docker-compose.yml: valid YAML, and the worker's health check asks /readyz on its metrics port."""
from __future__ import annotations

from pathlib import Path

import yaml

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"


def test_the_worker_is_healthy_when_readyz_says_ready_and_the_dashboard_waits_for_it() -> None:
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    worker = services["worker"]
    port = str(worker["environment"]["COLDSTART_METRICS_PORT"])
    assert f"127.0.0.1:{port}/readyz" in " ".join(worker["healthcheck"]["test"])
    dashboard = services["dashboard"]
    assert dashboard["depends_on"]["worker"]["condition"] == "service_healthy"
    assert dashboard["command"][0] == "dashboard"

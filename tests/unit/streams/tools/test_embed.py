"""`coldstart embed`: one unit vector per input line, plain text or a JSON-lines field, any model version."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from coldstart.encoder.encoder import Encoder
from coldstart.encoder.registry import save_version
from coldstart.errors import ConfigError
from streams.tools.cli import main as cli_main
from streams.tools.embed import embed_file

LINES = ["trail running shoes", "", "cast iron dutch oven"]


@pytest.fixture(autouse=True)
def no_current_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLDSTART_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("COLDSTART_MODEL", raising=False)


def test_plain_lines_give_one_unit_vector_each(encoder: Encoder, tmp_path: Path) -> None:
    (tmp_path / "in.txt").write_text("\n".join(LINES) + "\n")
    assert embed_file(tmp_path / "in.txt", tmp_path / "out" / "v.npy") == 3
    vectors = np.load(tmp_path / "out" / "v.npy")
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(vectors, encoder.encode(LINES), atol=1e-5)


def test_jsonl_field_through_the_cli_and_a_model_version(encoder: Encoder, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "in.jsonl").write_text('{"q": "tent", "n": 1}\n{"q": "camping stove"}\n')

    def write(directory: Path) -> list[str]:
        torch.save({"weight": torch.eye(384)[:8]}, directory / "head.pt")
        return ["head.pt"]

    version = save_version(write, {"name": "tiny", "base": ""})
    assert cli_main(["embed", "--in", str(tmp_path / "in.jsonl"), "--out", str(tmp_path / "v"),
                     "--field", "q", "--model", version]) == 0
    assert "wrote 2 vectors" in capsys.readouterr().out
    vectors = np.load(tmp_path / "v")  # the name given, no .npy appended
    expected = encoder.encode(["tent", "camping stove"])[:, :8]
    np.testing.assert_allclose(vectors, expected / np.linalg.norm(expected, axis=1, keepdims=True), atol=1e-5)


def test_bad_jsonl_line_names_the_line(tmp_path: Path) -> None:
    (tmp_path / "in.jsonl").write_text('{"q": "tent"}\n{"text": "no q here"}\n')
    with pytest.raises(ConfigError, match=r"in.jsonl:2: expected a JSON object with a 'q' field"):
        embed_file(tmp_path / "in.jsonl", tmp_path / "v.npy", field="q")
    with pytest.raises(ConfigError, match="expected an input file"):
        embed_file(tmp_path / "missing.txt", tmp_path / "v.npy")

"""The bench's shared vector cache is linked only when a worker could open it."""
from __future__ import annotations

from pathlib import Path

import pytest
from rocksdict import AccessType, Options, Rdict

from streams.tools.harness import share_vector_cache


@pytest.fixture
def shared(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("COLDSTART_HOME", str(tmp_path / "home"))
    cache = tmp_path / "home" / "bench" / "text-vectors" / "model-x"
    cache.mkdir(parents=True)
    Rdict(str(cache)).close()  # as a worker's TextVectorCache creates it
    return cache


def test_a_usable_cache_is_shared(shared: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    share_vector_cache(run)
    assert (run / "text-vectors").resolve() == shared.parent.resolve()


def test_a_cache_held_open_is_not_shared(shared: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    held, run = Rdict(str(shared)), tmp_path / "run"
    run.mkdir()
    try:
        share_vector_cache(run)
    finally:
        held.close()
    assert not (run / "text-vectors").exists()
    assert "not sharing the vector cache (model-x" in capsys.readouterr().err


def test_a_cache_a_worker_could_not_open_is_not_shared(shared: Path, tmp_path: Path) -> None:
    # opening it in raw mode rewrites rocksdict's saved options: a worker would then fail on it
    Rdict(str(shared), options=Options(raw_mode=True),
          access_type=AccessType.read_only()).close()
    run = tmp_path / "run"
    run.mkdir()
    share_vector_cache(run)
    assert not (run / "text-vectors").exists()

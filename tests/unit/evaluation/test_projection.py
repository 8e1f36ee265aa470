"""The PCA projection: known answers on synthetic data, unit-norm output, save/load round trips."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from coldstart.errors import ConfigError
from coldstart.evaluation.projection import Projection, ProjectionConfig


def plane_in_10d(n: int = 200, seed: int = 0) -> np.ndarray:
    """Points on a 2-d affine plane in 10-d: offset + a * u + b * v, with very different spreads."""
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(rng.normal(size=(10, 2)))[0].T  # two orthonormal rows
    coords = rng.normal(size=(n, 2)) * np.array([5.0, 1.0])
    return (coords @ basis + rng.normal(size=10)).astype(np.float32)


@pytest.mark.parametrize("whiten", [False, True])
def test_data_in_a_2d_subspace_is_reconstructed_exactly_at_dims_2(whiten: bool) -> None:
    data = plane_in_10d()
    projection = Projection.fit(data, ProjectionConfig(dims=2, whiten=whiten))
    assert np.allclose(projection.reconstruct(projection.project(data)), data, atol=1e-4)
    assert projection.explained_variance_ratio == pytest.approx(1.0, abs=1e-9)


def test_one_direction_keeps_the_wider_spread_only() -> None:
    data = plane_in_10d()
    projection = Projection.fit(data, ProjectionConfig(dims=1))
    assert 0.9 < projection.explained_variance_ratio < 1.0  # variances about 25 : 1
    assert not np.allclose(projection.reconstruct(projection.project(data)), data, atol=1e-2)


def test_components_are_orthonormal_and_largest_variance_first() -> None:
    rng = np.random.default_rng(1)
    projection = Projection.fit(rng.normal(size=(500, 16)) * np.arange(16, 0, -1), ProjectionConfig(dims=6))
    assert np.allclose(projection.components @ projection.components.T, np.eye(6), atol=1e-5)
    assert np.all(np.diff(projection.variance) <= 0)


@pytest.mark.parametrize("whiten", [False, True])
def test_transform_rows_have_unit_norm(whiten: bool) -> None:
    rng = np.random.default_rng(2)
    projection = Projection.fit(rng.normal(size=(300, 24)), ProjectionConfig(dims=8, whiten=whiten))
    out = projection.transform(rng.normal(size=(50, 24)))
    assert out.shape == (50, 8) and out.dtype == np.float32
    assert np.allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)


def test_whitening_gives_unit_variance_coordinates() -> None:
    rng = np.random.default_rng(3)
    data = rng.normal(size=(2000, 12)) * np.linspace(10, 1, 12)
    z = Projection.fit(data, ProjectionConfig(dims=4, whiten=True)).project(data)
    assert np.allclose(z.var(axis=0, ddof=1), 1.0, atol=1e-3)


def test_refit_gives_the_same_projection() -> None:
    data = np.random.default_rng(4).normal(size=(100, 10))
    first, second = (Projection.fit(data, ProjectionConfig(dims=3)) for _ in range(2))
    assert first.version == second.version
    assert np.array_equal(first.components, second.components)


def test_truncated_equals_a_fit_with_fewer_dims() -> None:
    data = np.random.default_rng(7).normal(size=(300, 12)) * np.linspace(6, 1, 12)
    full = Projection.fit(data, ProjectionConfig(dims=12, whiten=True))
    small, refit = full.truncated(4), Projection.fit(data, ProjectionConfig(dims=4, whiten=True))
    assert small.config == refit.config
    assert np.allclose(small.transform(data), refit.transform(data), atol=1e-5)
    assert small.explained_variance_ratio == pytest.approx(refit.explained_variance_ratio)


@pytest.mark.parametrize("whiten", [False, True])
def test_bytes_and_file_round_trips(tmp_path: Path, whiten: bool) -> None:
    rng = np.random.default_rng(5)
    projection = Projection.fit(rng.normal(size=(100, 20)), ProjectionConfig(dims=5, whiten=whiten))
    queries = rng.normal(size=(7, 20))
    path = tmp_path / "projection.npz"
    projection.save(path)
    for loaded in (Projection.from_bytes(projection.to_bytes()), Projection.load(path)):
        assert loaded.config == projection.config
        assert loaded.version == projection.version
        assert loaded.explained_variance_ratio == pytest.approx(projection.explained_variance_ratio)
        assert np.array_equal(loaded.transform(queries), projection.transform(queries))


def test_bad_dims_and_shapes_say_what_was_expected() -> None:
    data = np.random.default_rng(6).normal(size=(20, 10))
    with pytest.raises(ConfigError, match="dims"):
        Projection.fit(data, ProjectionConfig(dims=11))
    projection = Projection.fit(data, ProjectionConfig(dims=2))
    with pytest.raises(ConfigError, match=r"\(n, 10\)"):
        projection.transform(np.zeros((3, 9)))

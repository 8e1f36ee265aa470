"""Reduce and normalise: a PCA projection fitted on item vectors, applied to items and queries alike."""
from __future__ import annotations

import hashlib
import io
import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from coldstart.errors import ConfigError

_EPS = 1e-12


@dataclass(frozen=True)
class ProjectionConfig:
    """Keep the top `dims` principal directions; `whiten` scales each to unit variance (off by default)."""

    dims: int
    whiten: bool = False


class Projection:
    """x -> normalise((x - mean) @ components.T [/ sqrt(variance)]), fitted with numpy's SVD."""

    def __init__(self, config: ProjectionConfig, mean: np.ndarray, components: np.ndarray,
                 variance: np.ndarray, total_variance: float) -> None:
        if components.shape != (config.dims, mean.shape[0]) or variance.shape != (config.dims,):
            raise ConfigError(f"expected components ({config.dims}, {mean.shape[0]}) and variance "
                              f"({config.dims},), got {components.shape} and {variance.shape}")
        self.config = config
        self.mean = mean.astype(np.float32)
        self.components = components.astype(np.float32)  # (dims, input dim), orthonormal rows
        self.variance = variance.astype(np.float64)  # variance along each kept direction
        self.total_variance = float(total_variance)

    @property
    def dims(self) -> int:
        return self.config.dims

    @property
    def input_dim(self) -> int:
        return int(self.mean.shape[0])

    @property
    def explained_variance_ratio(self) -> float:
        """Share of the fitted data's variance the kept directions hold."""
        return float(self.variance.sum() / self.total_variance) if self.total_variance > 0 else 1.0

    @classmethod
    def fit(cls, vectors: np.ndarray, config: ProjectionConfig) -> Projection:
        """Principal directions of `vectors` (n, d), largest first; signs fixed so reruns agree."""
        x = np.asarray(vectors, dtype=np.float64)
        if x.ndim != 2 or not 0 < config.dims <= min(x.shape):
            raise ConfigError(f"expected 0 < dims <= min(n, d) for vectors of shape {x.shape}, "
                              f"got dims={config.dims}")
        mean = x.mean(axis=0)
        centred = x - mean
        _, singular, vt = np.linalg.svd(centred, full_matrices=False)
        variance = singular**2 / max(len(x) - 1, 1)
        vt = vt[: config.dims]
        signs = np.sign(vt[np.arange(config.dims), np.abs(vt).argmax(axis=1)])
        vt *= np.where(signs == 0, 1.0, signs)[:, None]
        return cls(config, mean, vt, variance[: config.dims], float(variance.sum()))

    def truncated(self, dims: int) -> Projection:
        """The first `dims` directions only: the same as fitting again with fewer dims, without the SVD."""
        if not 0 < dims <= self.dims:
            raise ConfigError(f"expected 0 < dims <= {self.dims}, got {dims}")
        return Projection(replace(self.config, dims=dims), self.mean, self.components[:dims],
                          self.variance[:dims], self.total_variance)

    def _scale(self) -> np.ndarray:
        return np.sqrt(np.maximum(self.variance, _EPS)) if self.config.whiten else np.ones(self.dims)

    def project(self, vectors: np.ndarray) -> np.ndarray:
        """Coordinates along the kept directions (whitened if configured), not normalised."""
        x = np.asarray(vectors, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.input_dim:
            raise ConfigError(f"expected vectors of shape (n, {self.input_dim}), got {x.shape}")
        return ((x - self.mean) @ self.components.T / self._scale()).astype(np.float32)

    def reconstruct(self, coordinates: np.ndarray) -> np.ndarray:
        """Back from `project`'s coordinates to the input space (exact for data in the kept span)."""
        z = np.asarray(coordinates, dtype=np.float64) * self._scale()
        return (z @ self.components + self.mean).astype(np.float32)

    def transform(self, vectors: np.ndarray) -> np.ndarray:
        """Project and L2-normalise rows (a zero row stays zero), ready for inner-product search."""
        z = self.project(vectors)
        return z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), _EPS)

    def to_bytes(self) -> bytes:
        """An .npz blob of the arrays and the config."""
        meta = {"config": asdict(self.config), "total_variance": self.total_variance}
        buffer = io.BytesIO()
        np.savez(buffer, mean=self.mean, components=self.components, variance=self.variance,
                 meta=np.frombuffer(json.dumps(meta).encode(), np.uint8))
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, blob: bytes) -> Projection:
        with np.load(io.BytesIO(blob), allow_pickle=False) as data:
            meta = json.loads(data["meta"].tobytes())
            return cls(ProjectionConfig(**meta["config"]), data["mean"], data["components"],
                       data["variance"], meta["total_variance"])

    @property
    def version(self) -> str:
        """8 hex of sha256 over the config and the arrays: the same fit, the same id."""
        digest = hashlib.sha256(json.dumps(asdict(self.config), sort_keys=True).encode())
        for array in (self.mean, self.components, self.variance):
            digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()[:8]

    def save(self, path: str | Path) -> None:
        Path(path).write_bytes(self.to_bytes())

    @classmethod
    def load(cls, path: str | Path) -> Projection:
        return cls.from_bytes(Path(path).read_bytes())

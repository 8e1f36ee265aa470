"""Item index backends: one suite over every kind, with answers known in advance."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from coldstart.errors import ItemIndexError
from coldstart.index import IndexConfig, ItemIndex, load_index, make_index, measure_recall

KINDS = ["flat", "hnsw", "auto"]
DIM = 32


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def random_unit(n: int, dim: int = DIM, seed: int = 0) -> np.ndarray:
    return unit(np.random.default_rng(seed).normal(size=(n, dim)))


def filled(kind: str, n: int = 200, **config: int) -> tuple[ItemIndex, list[str], np.ndarray]:
    index = make_index(DIM, IndexConfig(kind=kind, **config))
    ids, vecs = [f"item-{i}" for i in range(n)], random_unit(n)
    index.upsert(ids, vecs)
    return index, ids, vecs


@pytest.mark.parametrize("kind", KINDS)
def test_item_equal_to_query_ranks_first(kind: str) -> None:
    index, ids, vecs = filled(kind)
    found, scores = index.search(vecs, 5)
    assert [row[0] for row in found] == ids
    assert np.allclose(scores[:, 0], 1.0, atol=1e-5)
    assert np.all(np.diff(scores, axis=1) <= 1e-6)


@pytest.mark.parametrize("kind", KINDS)
def test_deleted_items_are_never_returned(kind: str) -> None:
    index, ids, vecs = filled(kind)
    gone = set(ids[::2])
    index.delete(gone)
    found, _ = index.search(vecs, 150)
    assert len(index) == 100 and not gone & set(index.ids())
    assert all(not gone & set(row) for row in found)
    assert all(len(row) == 100 for row in found)  # fewer than k: the catalogue is smaller
    assert index.vector(ids[0]) is None and ids[0] not in index


@pytest.mark.parametrize("kind", KINDS)
def test_compaction_after_many_deletes_keeps_answers(kind: str) -> None:
    index, ids, vecs = filled(kind, rebuild_min=10)
    index.delete(ids[:150])
    assert len(index._id_at) == 50  # tombstones dropped by the rebuild
    found, _ = index.search(vecs[150:], 1)
    assert [row[0] for row in found] == ids[150:]


@pytest.mark.parametrize("kind", KINDS)
def test_update_moves_an_item(kind: str) -> None:
    index, ids, vecs = filled(kind)
    index.upsert([ids[0]], vecs[1:2])  # item-0 now sits exactly where item-1 is
    found, scores = index.search(vecs[[0, 1]], 2)
    assert ids[0] not in found[0][:1]
    assert set(found[1]) == {ids[0], ids[1]} and np.allclose(scores[1], 1.0, atol=1e-5)
    assert np.allclose(index.vector(ids[0]), vecs[1]) and len(index) == 200


@pytest.mark.parametrize("kind", KINDS)
def test_last_vector_wins_within_one_upsert(kind: str) -> None:
    index = make_index(DIM, IndexConfig(kind=kind))
    vecs = random_unit(2)
    index.upsert(["a", "a"], vecs)
    assert len(index) == 1 and np.allclose(index.vector("a"), vecs[1])


@pytest.mark.parametrize("kind", KINDS)
def test_exclusion_is_honoured(kind: str) -> None:
    index, ids, vecs = filled(kind)
    excluded = set(ids[:10])
    found, _ = index.search(vecs[:10], 10, exclude=excluded)
    assert all(len(row) == 10 and not excluded & set(row) for row in found)


@pytest.mark.parametrize("kind", KINDS)
def test_save_load_round_trip(kind: str, tmp_path: Path) -> None:
    index, ids, vecs = filled(kind)
    index.delete(ids[:3])
    index.save(tmp_path / "items.npz")
    loaded = load_index(str(tmp_path / "items.npz"))
    assert type(loaded) is type(index) and loaded.config == index.config
    assert loaded.ids() == index.ids()
    assert np.array_equal(loaded.vectors(ids[3:]), index.vectors(ids[3:]))
    assert loaded.search(vecs, 5)[0] == index.search(vecs, 5)[0]


@pytest.mark.parametrize("kind", KINDS)
def test_vectors_and_dimension_errors(kind: str) -> None:
    index, ids, vecs = filled(kind, n=5)
    assert np.allclose(index.vectors(ids[::-1]), vecs[::-1])
    with pytest.raises(ItemIndexError):
        index.vectors(["missing"])
    with pytest.raises(ItemIndexError):
        index.upsert(["x"], np.zeros((1, DIM + 1), np.float32))
    with pytest.raises(ItemIndexError):
        index.search(np.zeros((1, 3), np.float32), 1)


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ItemIndexError, match="ivf"):
        make_index(DIM, IndexConfig(kind="ivf"))


def test_auto_starts_flat_and_switches_to_hnsw() -> None:
    index, ids, vecs = filled("auto", n=99, auto_threshold=100)
    assert not index.is_hnsw
    index.upsert(["one-more"], random_unit(1, seed=9))
    assert index.is_hnsw and len(index) == 100
    assert [row[0] for row in index.search(vecs, 1)[0]] == ids


def test_hnsw_recall_against_flat_on_5k_random_vectors() -> None:
    ids, vecs = [str(i) for i in range(5000)], random_unit(5000, dim=384)
    hnsw = make_index(384, IndexConfig(kind="hnsw"))
    flat = make_index(384, IndexConfig(kind="flat"))
    hnsw.upsert(ids, vecs)
    flat.upsert(ids, vecs)
    queries = random_unit(100, dim=384, seed=1)
    assert measure_recall(flat, flat, queries, 10) == 1.0
    assert measure_recall(hnsw, flat, queries, 10) >= 0.9

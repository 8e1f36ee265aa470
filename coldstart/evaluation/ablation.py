"""Ablations on Home Depot: PCA dimensions, the int8 encoder, and HNSW against exact search.

`python -m coldstart.evaluation.ablation --what projection|int8|index` writes
`reports/ablation_<what>.json` and `.md`. Every figure uses the datasets/README.md protocol's
catalogue (54,667 titles) and 1,432 test queries, and the catalogue vectors cached per model
version (`vector_cache.item_vectors`), so only a model version never seen before is embedded.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from coldstart.encoder.encoder import load_encoder
from coldstart.evaluation import metrics as M
from coldstart.evaluation.datasets import HomeDepot, Query, load_home_depot
from coldstart.evaluation.projection import Projection, ProjectionConfig
from coldstart.evaluation.rankers import DenseRanker
from coldstart.evaluation.vector_cache import item_vectors
from coldstart.index import IndexConfig, ItemIndex, make_index, measure_recall

Rows = dict[str, dict[str, Any]]
PCA_DIMS = (384, 256, 128, 64)
EF_SEARCH = (64, 128, 256)
HNSW_M = 32
SPEED_TEXTS, SPEED_BATCH, SPEED_REPEATS = 512, 32, 3


def _say(message: str) -> None:
    print(f"[ablation {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def home_depot_metrics(ids: np.ndarray | Sequence[Sequence[int]], queries: Sequence[Query]) -> dict[str, float]:
    """recall@10, nDCG@10 (gain = relevance − 1), recall@100 and MRR@100 of ranked product ids."""
    rows = [(list(r), q.relevant, M.graded_gains(q.judgements)) for r, q in zip(ids, queries)]
    return {
        "recall@10": float(np.mean([M.recall_at_k(r, rel, 10) for r, rel, _ in rows])),
        "ndcg@10": float(np.mean([M.ndcg_at_k(r, g, 10) for r, _, g in rows])),
        "recall@100": float(np.mean([M.recall_at_k(r, rel, 100) for r, rel, _ in rows])),
        "mrr@100": float(np.mean([M.mrr_at_k(r, rel, 100) for r, rel, _ in rows])),
    }


class ProjectedEncoder:
    """An encoder whose vectors go through a projection (the dense ranker sees nothing else)."""

    def __init__(self, encoder: Any, projection: Projection) -> None:
        self.encoder, self.projection = encoder, projection
        self.version = f"{encoder.version}-pca{projection.dims}-{projection.version}"

    def encode(self, texts: Sequence[str], batch_size: int = 64, show_progress: bool = False) -> np.ndarray:
        return self.projection.transform(self.encoder.encode(texts, batch_size, show_progress))


def projection_ablation(data: HomeDepot, queries: Sequence[Query], model: str | None) -> tuple[Rows, dict[str, Any]]:
    """The dense ranker without a projection, then with PCA fitted on the catalogue at each of PCA_DIMS."""
    encoder = load_encoder(model)
    cat, texts = data.catalogue, [q.text for q in queries]
    items = item_vectors(encoder, cat)
    plain = DenseRanker(cat, encoder, items).rank(texts, 100)[0]
    rows: Rows = {f"none ({items.shape[1]})": home_depot_metrics(plain, queries)}
    started = time.perf_counter()
    full = Projection.fit(items, ProjectionConfig(dims=max(PCA_DIMS)))  # one SVD; fewer dims = its first rows
    fit_s = time.perf_counter() - started
    for dims in PCA_DIMS:
        projection = full.truncated(dims)
        ranker = DenseRanker(cat, ProjectedEncoder(encoder, projection), projection.transform(items))
        rows[f"pca {dims}"] = {**home_depot_metrics(ranker.rank(texts, 100)[0], queries),
                               "explained variance": projection.explained_variance_ratio}
        _say(f"pca {dims}: {rows[f'pca {dims}']}")
    return rows, {"model": encoder.version,
                  "fitted on": f"{len(cat)} catalogue item vectors (centred; applied to items and queries)",
                  "whiten": False, "svd seconds": round(fit_s, 1)}


def texts_per_second(encoder: Any, texts: Sequence[str], batch_size: int) -> Callable[[], float]:
    """A timer of one uncached pass over `texts` (after one warm-up batch), in texts/s."""
    uncached = encoder.with_cache_size(0)
    uncached.encode(list(texts[:batch_size]), batch_size=batch_size)

    def once() -> float:
        started = time.perf_counter()
        uncached.encode(list(texts), batch_size=batch_size)
        return len(texts) / (time.perf_counter() - started)

    return once


def int8_ablation(data: HomeDepot, queries: Sequence[Query], model: str | None) -> tuple[Rows, dict[str, Any]]:
    """fp32 vs dynamic int8 (both sides, and int8 queries on fp32 items), plus texts/s at batch 32."""
    cat, texts = data.catalogue, [q.text for q in queries]
    fp32, int8 = load_encoder(model), load_encoder(model, quantize=True)  # one spec: the same name in both ids
    items32 = item_vectors(fp32, cat)
    _say(f"int8 catalogue vectors for {int8.version} (embedded once, then cached)")
    items8 = item_vectors(int8, cat, batch_size=SPEED_BATCH)
    cosine = np.sum(items8 * items32, axis=1)
    rows: Rows = {
        "fp32": home_depot_metrics(DenseRanker(cat, fp32, items32).rank(texts, 100)[0], queries),
        "int8": home_depot_metrics(DenseRanker(cat, int8, items8).rank(texts, 100)[0], queries),
        "int8 queries, fp32 items": home_depot_metrics(DenseRanker(cat, int8, items32).rank(texts, 100)[0], queries),
    }
    sample = random.Random(0).sample(cat.texts, SPEED_TEXTS)
    timers = {"fp32": texts_per_second(fp32, sample, SPEED_BATCH), "int8": texts_per_second(int8, sample, SPEED_BATCH)}
    load_before = _load()
    speeds: dict[str, list[float]] = {name: [] for name in timers}
    for _ in range(SPEED_REPEATS):  # interleaved, so a change in machine load hits both alike
        for name, timer in timers.items():
            speeds[name].append(timer())
    for name, runs in speeds.items():
        rows[name]["texts/s"] = statistics.median(runs)
        _say(f"{name}: {rows[name]}  (runs {[round(s, 1) for s in runs]})")
    meta = {
        "fp32 model": fp32.version, "int8 model": int8.version,
        "item cosine int8 vs fp32 (mean / 1st percentile / min)":
            f"{cosine.mean():.4f} / {np.percentile(cosine, 1):.4f} / {cosine.min():.4f}",
        "speed": f"{SPEED_TEXTS} catalogue titles (random.Random(0) sample), batch {SPEED_BATCH}, "
                 f"median of {SPEED_REPEATS} interleaved runs, cache off",
        "texts/s runs": {k: [round(s, 1) for s in v] for k, v in speeds.items()},
        "load average (1/5/15 min) before / after": f"{load_before} / {_load()}",
    }
    return rows, meta


def _latencies_ms(index: ItemIndex, vectors: np.ndarray, k: int) -> list[float]:
    out = []
    for row in vectors:
        started = time.perf_counter()
        index.search(row[None, :], k)
        out.append((time.perf_counter() - started) * 1000)
    return out


def index_ablation(data: HomeDepot, queries: Sequence[Query], model: str | None) -> tuple[Rows, dict[str, Any]]:
    """Flat vs HNSW (M=32) at each efSearch: recall@10 against flat, Home Depot metrics, latency, build time."""
    import faiss

    encoder, cat = load_encoder(model), data.catalogue
    items = item_vectors(encoder, cat)
    vectors = encoder.encode([q.text for q in queries], batch_size=64)
    ids = [str(p) for p in cat.ids]
    built: dict[str, tuple[ItemIndex, float]] = {}
    for kind in ("flat", "hnsw"):
        index = make_index(items.shape[1], IndexConfig(kind=kind, hnsw_m=HNSW_M))
        started = time.perf_counter()
        index.upsert(ids, items)
        built[kind] = (index, time.perf_counter() - started)
        _say(f"{kind} built in {built[kind][1]:.1f} s")
    flat, hnsw = built["flat"][0], built["hnsw"][0]
    settings = [("flat (exact)", "flat", None)] + [(f"hnsw M={HNSW_M} ef={ef}", "hnsw", ef) for ef in EF_SEARCH]
    rows: Rows = {}
    for name, kind, ef in settings:
        index, build_s = built[kind]
        if ef is not None:  # one graph, searched at each efSearch (search_hnsw reads it from the config)
            index.config = replace(index.config, ef_search=ef)
        found, _ = index.search(vectors, 10)
        quality = home_depot_metrics([[int(i) for i in row] for row in found], queries)
        lat = _latencies_ms(index, vectors, 10)
        rows[name] = {
            "recall@10 vs exact": measure_recall(index, flat, vectors, 10),
            "hd recall@10": quality["recall@10"], "hd ndcg@10": quality["ndcg@10"],
            "median ms/query": statistics.median(lat), "p95 ms/query": float(np.percentile(lat, 95)),
            "build s": build_s,
        }
        _say(f"{name}: {rows[name]}")
    meta = {"model": encoder.version, "items": len(ids), "efConstruction": hnsw.config.ef_construction,
            "latency": "one query per ItemIndex.search call (k=10), every test query",
            "faiss threads": faiss.omp_get_max_threads(), "load average (1/5/15 min) after": _load()}
    return rows, meta


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) <= 1 else f"{value:.2f}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


def markdown(rows: Rows) -> str:
    """Settings as rows; the union of their metrics as columns (blank where a row has none)."""
    columns = list(dict.fromkeys(c for row in rows.values() for c in row))
    lines = ["| setting | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for name, row in rows.items():
        lines.append(f"| {name} | " + " | ".join(_fmt(row[c]) if c in row else "" for c in columns) + " |")
    return "\n".join(lines) + "\n"


def write(rows: Rows, meta: dict[str, Any], what: str, out_dir: Path) -> list[Path]:
    """`ablation_<what>.json` and `.md` in out_dir."""
    out_dir.mkdir(parents=True, exist_ok=True)
    base = out_dir / f"ablation_{what}"
    base.with_suffix(".json").write_text(json.dumps({"what": what, "meta": meta, "results": rows}, indent=2) + "\n")
    header = f"# Ablation: {what}\n\n" + "".join(f"- {k}: {v}\n" for k, v in meta.items()) + "\n"
    base.with_suffix(".md").write_text(header + markdown(rows))
    return [base.with_suffix(".json"), base.with_suffix(".md")]


ABLATIONS = {"projection": projection_ablation, "int8": int8_ablation, "index": index_ablation}


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m coldstart.evaluation.ablation --what projection|int8|index [--out reports]`."""
    import torch

    parser = argparse.ArgumentParser(prog="python -m coldstart.evaluation.ablation")
    parser.add_argument("--what", choices=sorted(ABLATIONS), required=True)
    parser.add_argument("--out", default="reports")
    parser.add_argument("--model", default=None, help="model directory (default: the bundled fp32 encoder)")
    parser.add_argument("--limit", type=int, default=None, help="first N test queries only (a smoke run)")
    args = parser.parse_args(argv)
    started, data = time.time(), load_home_depot()
    queries = data.test_queries[: args.limit or None]
    rows, meta = ABLATIONS[args.what](data, queries, args.model)
    meta = {"command": "python -m coldstart.evaluation.ablation " + " ".join(argv or sys.argv[1:]),
            "queries": len(queries), **meta, "cpus": os.cpu_count(),
            "torch threads": torch.get_num_threads(), "seconds": round(time.time() - started, 1)}
    for path in write(rows, meta, args.what, Path(args.out)):
        print(path)
    print(markdown(rows), end="")


if __name__ == "__main__":
    main()

"""What one worker's catalogue replica holds in memory, at a catalogue size, and what each item
index would cost: `python scripts/replica_memory.py --items 100000`.

The items are synthetic (the bench's demo vocabulary, streams/tools/bench/workload.py) and so are
their vectors: unit vectors around 1,000 random centres, since embedding 100,000 texts takes
far longer than the measurement and the memory does not depend on what the vectors say. It
measures the process's resident memory before and after the worker's own `Catalog` takes the
items (vectors, the served index, both BM25 indexes, titles and texts), then builds an exact,
an HNSW and an IVF-PQ index of the same vectors alone and reports each one's size and its
recall@10 against exact search. On clustered synthetic vectors recall is indicative only; the
served HNSW's recall on real item vectors comes from the index ablation (docs/performance.md).
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import time
from typing import Any

import faiss
import numpy as np

from coldstart.catalog import Catalog
from coldstart.index.base import IndexConfig
from coldstart.index.hnsw import new_hnsw, search_hnsw
from streams.tools.bench import workload

DIM = 384  # all-MiniLM-L6-v2, the bundled encoder
QUERIES, K = 500, 10


def rss_mib() -> float:
    """This process's resident memory, MiB (/proc/self/status VmRSS)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def clustered(n: int, rng: np.random.Generator, centres: np.ndarray) -> np.ndarray:
    """`n` unit vectors, each a random centre plus noise (item vectors cluster by topic)."""
    picks = rng.integers(0, len(centres), n)
    vectors = centres[picks] + rng.normal(0, 0.03, (n, DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def size_mib(index: faiss.Index) -> float:
    return len(faiss.serialize_index(index)) / 2**20


def recall(found: np.ndarray, exact: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(e)) / len(e) for f, e in zip(found, exact)]))


def indexes(vectors: np.ndarray, queries: np.ndarray) -> list[dict[str, Any]]:
    """Exact, HNSW (as served) and IVF-PQ over the same vectors: size, recall@10, build time."""
    rows = []
    exact = faiss.IndexFlatIP(DIM)
    exact.add(vectors)
    _, truth = exact.search(queries, K)
    rows.append({"index": "flat (exact)", "mib": round(size_mib(exact), 1), "recall@10": 1.0,
                 "build_s": 0.0})
    config = IndexConfig()
    started = time.perf_counter()
    hnsw = new_hnsw(DIM, config)
    hnsw.add(vectors)
    built = time.perf_counter() - started
    _, found = search_hnsw(hnsw, queries, K, config)
    rows.append({"index": f"HNSW M={config.hnsw_m} efSearch {config.ef_search} (served)",
                 "mib": round(size_mib(hnsw), 1), "recall@10": round(recall(found, truth), 3),
                 "build_s": round(built, 1)})
    nlist = max(64, int(4 * np.sqrt(len(vectors))))
    for m in (48, 96):  # bytes per vector: 48 (x32 smaller than float32) or 96
        started = time.perf_counter()
        quantizer = faiss.IndexFlatIP(DIM)
        ivfpq = faiss.IndexIVFPQ(quantizer, DIM, nlist, m, 8, faiss.METRIC_INNER_PRODUCT)
        ivfpq.train(vectors[: min(len(vectors), 50 * nlist)])
        ivfpq.add(vectors)
        built = time.perf_counter() - started
        for nprobe in (16, 64):
            ivfpq.nprobe = nprobe
            _, found = ivfpq.search(queries, K)
            print(f"IVF-PQ m={m} nprobe {nprobe} done", flush=True)
            rows.append({"index": f"IVF-PQ nlist {nlist} m={m} nprobe {nprobe}",
                         "mib": round(size_mib(ivfpq), 1),
                         "recall@10": round(recall(found, truth), 3), "build_s": round(built, 1)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--out", help="write the JSON result here")
    args = parser.parse_args()
    faiss.omp_set_num_threads(1)  # on shared, busy cores OpenMP's spinning threads cost minutes
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 1, (1000, DIM)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    events = workload.catalog(args.items, "demo")
    vectors = clustered(args.items, rng, centres)
    gc.collect()
    before = rss_mib()
    catalog = Catalog(DIM)
    started = time.perf_counter()
    catalog.apply_items(events, vectors)
    applied = time.perf_counter() - started
    gc.collect()
    held = rss_mib() - before
    result = {
        "items": args.items, "dim": DIM, "served_index": catalog.index.kind,
        "replica_mib": round(held, 1), "per_item_kib": round(held * 1024 / args.items, 2),
        "vectors_mib": round(vectors.nbytes / 2**20, 1), "apply_s": round(applied, 1),
        "cores": os.cpu_count(), "load": [round(x, 2) for x in os.getloadavg()],
    }
    print(json.dumps(result), flush=True)  # the replica's figure first: the indexes take longer
    del catalog
    gc.collect()
    result["indexes"] = indexes(vectors, clustered(QUERIES, rng, centres))
    print(json.dumps(result, indent=2))
    if args.out:
        with open(args.out, "w") as out:
            json.dump(result, out, indent=2)


if __name__ == "__main__":
    main()

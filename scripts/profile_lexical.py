"""What each BM25 index of the worker costs on Home Depot's 54,667 titles: build time, memory,
query time (median and p99 over the 1,432 test queries, second pass, k 100).

    PYTHONPATH=. python scripts/profile_lexical.py

Each analyzer runs in its own process, so the peak memory of one does not hide the other's.
The README's "What text retrieval costs" quotes it.
"""
from __future__ import annotations

import json
import resource
import subprocess
import sys
import time

import numpy as np


def measure(name: str) -> dict[str, float]:
    from coldstart.evaluation.datasets import load_home_depot
    from coldstart.text.lexical import TRIGRAMS, WORDS, LexicalIndex

    data = load_home_depot()
    queries = [q.text for q in data.test_queries]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    index = LexicalIndex({"words": WORDS, "trigrams": TRIGRAMS}[name])
    index.upsert([str(i) for i in data.catalogue.ids], data.catalogue.texts)
    build = time.perf_counter() - started
    for text in queries:  # first pass: fills the per-term array cache
        index.search(text, 100)
    times = []
    for text in queries:
        started = time.perf_counter()
        index.search(text, 100)
        times.append(time.perf_counter() - started)
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    return {"analyzer": name, "items": len(index), "build_s": round(build, 2), "peak_mb_added": round(grown, 1),
            "query_ms_p50": round(1000 * float(np.median(times)), 3),
            "query_ms_p99": round(1000 * float(np.percentile(times, 99)), 3)}


if __name__ == "__main__":
    if len(sys.argv) > 1:
        print(json.dumps(measure(sys.argv[1])))
    else:
        for analyzer in ("words", "trigrams"):
            subprocess.run([sys.executable, __file__, analyzer], check=True)

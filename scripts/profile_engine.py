"""The engine alone on a dense click stream: ms per click, then a cProfile of 30 batches.

1,000 random unit item vectors, 1,000 users clicking uniformly at random (or with --zipf S, items
Zipf-skewed) in batches of 64; every row update is applied and loaded back, as the co-occurrence
agent and the replica do. CPU time is the figure: contention from other jobs inflates wall time. The state
is warmed with 300 batches first, so every row is near its neighbour cap (the bench's worst case).

    ~/.cache/coldstart/venv/bin/python scripts/profile_engine.py [cumulative|tottime] [--zipf 1.1]
"""
from __future__ import annotations

import cProfile
import pstats
import sys
import time

import numpy as np

from coldstart.catalog import Catalog
from coldstart.engine import Engine
from coldstart.ranking.cooccurrence import apply_update_bytes

N, DIM, USERS, BATCH, T0 = 1000, 384, 1000, 64, 1_700_000_000_000
rng = np.random.default_rng(0)
ZIPF = float(sys.argv[sys.argv.index("--zipf") + 1]) if "--zipf" in sys.argv else 0.0
_p = 1.0 / np.arange(1, N + 1) ** ZIPF if ZIPF else np.ones(N)
ITEM_P = _p / _p.sum()


def unit(rows: int) -> np.ndarray:
    x = rng.normal(size=(rows, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


catalog = Catalog(DIM)
catalog.apply_items([{"item_id": f"i{i}", "title": f"item {i}"} for i in range(N)], unit(N))
engine = Engine(catalog, lambda texts: unit(len(texts)), "random")
profiles: dict = {}
served: dict = {}
table: dict[str, bytes] = {}
clock = [T0]


def batch() -> list[tuple[str, dict]]:
    events = []
    for _ in range(BATCH):
        clock[0] += 1
        events.append(("clicks", {"event_id": f"e{clock[0]}", "user_id": f"u{rng.integers(USERS)}",
                                  "item_id": f"i{rng.choice(N, p=ITEM_P)}", "action": "click",
                                  "ts": clock[0]}))
    return events


def run(batches: int) -> None:
    for _ in range(batches):
        events = batch()
        users = {e["user_id"] for _, e in events}
        result = engine.handle_users(events, {u: profiles.get(u) for u in users},
                                     {u: served.get(u) for u in users})
        profiles.update(result.profiles)
        served.update(result.served)
        for update in result.cooccurrence:
            table[update.item_id] = apply_update_bytes(table.get(update.item_id), update,
                                                       engine.cooc.config)
            engine.load_cooccurrence(update.item_id, table[update.item_id], clock[0])


if __name__ == "__main__":
    run(300)
    started, cpu = time.perf_counter(), time.process_time()
    run(50)
    clicks = 50 * BATCH
    print(f"{(time.process_time() - cpu) / clicks * 1000:.3f} ms CPU per click "
          f"({(time.perf_counter() - started) / clicks * 1000:.3f} ms wall; engine only)")
    profiler = cProfile.Profile()
    profiler.runcall(run, 30)
    pstats.Stats(profiler).sort_stats(
        sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith("-") else "cumulative").print_stats(30)

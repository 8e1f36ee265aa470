"""Engine-only cost of a signup's list, with and without the text retrieval (BM25 over words and
trigrams and dense fused).

    PYTHONPATH=. python scripts/profile_signups.py

The sample catalogue (300 items), 200 signups from four texts (embedded once beforehand, so the encoder is
left out); prints ms per signup for both. The README's "What text retrieval costs" quotes it.
"""
from __future__ import annotations

import json
import time

import numpy as np

from coldstart.catalog import Catalog
from coldstart.encoder.encoder import load_encoder
from coldstart.engine import Engine
from streams.tools.sample_data import SAMPLE_DIR

TEXTS = ["trail running shoes and a light rain jacket", "cast iron pan for camping",
         "yoga mat and water bottle", "warm winter gloves"] * 50


def ms_per_signup(engine: Engine) -> float:
    started = time.perf_counter()
    for i, text in enumerate(TEXTS):
        event = {"event_id": f"s{i}", "user_id": f"u{i}", "description": text, "ts": i}
        engine.handle_users([("signups", event)], {})
    return (time.perf_counter() - started) / len(TEXTS) * 1000


def main() -> None:
    items = [json.loads(line) for line in (SAMPLE_DIR / "catalog.jsonl").read_text().splitlines()]
    encoder = load_encoder(None)
    catalog = Catalog(encoder.dim)
    catalog.apply_items(items, encoder.encode_items(catalog.item_texts(items)))
    known = dict(zip(TEXTS, encoder.encode_users(TEXTS)))
    engine = Engine(catalog, lambda texts: np.stack([known[t] for t in texts]), "profile", top_k=10)
    with_text = ms_per_signup(engine)
    # the list from the profile alone: no text ranking for any text event of the batch
    engine._text_ranked = lambda events, vectors: {i: [] for i in vectors}  # type: ignore[method-assign]
    without = ms_per_signup(engine)
    print(f"{len(catalog)} items: {with_text:.2f} ms per signup with text retrieval, {without:.2f} ms without")


if __name__ == "__main__":
    main()

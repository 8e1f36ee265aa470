"""`coldstart finetune`: pairs from a file, logged events or a dataset's train split -> a new model version.

Logged events come from a folder of JSON lines (`--events`) or, read from the broker by the
streaming layer (`--from-topics`, streams/tools/topic_events.py), as plain event lists per topic: this
module never talks to Kafka.
"""
from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from coldstart.errors import ConfigError
from coldstart.finetune import (
    FinetuneConfig,
    Pair,
    catalog_items,
    finetune,
    home_depot_pairs,
    pairs_from_events,
    read_items,
    read_pairs,
    save,
)
from coldstart.privacy import without_deleted

Logged = Mapping[str, Sequence[Mapping[str, Any]]]  # topic -> its events, in topic order


def _jsonl(path: Path) -> list[dict[str, object]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def load_pairs(args: argparse.Namespace, logged: Logged | None = None
               ) -> tuple[list[Pair], dict[str, object], dict[str, np.ndarray] | None]:
    """The training pairs the arguments name, a note of where they came from for the manifest, and
    base-model vectors already cached for some of their texts (a dataset's catalogue), if any.
    `logged`: the events `--from-topics` read (signups, searches, clicks, catalog, and
    user_deletions: a deleted user's events dated at or before their deletion are left out, and
    the manifest note says how many, and the time window of the user events trained on)."""
    sources = [s for s in ("pairs", "events", "dataset", "from_topics") if getattr(args, s, None)]
    if len(sources) != 1:
        raise ConfigError("expected exactly one of --pairs, --events, --dataset, --from-topics, "
                          f"got {sources or 'none'}")
    items = read_items(Path(args.items)) if getattr(args, "items", None) else None
    if getattr(args, "from_topics", False):
        if logged is None:
            raise ConfigError("--from-topics: the events were not read (run it through `coldstart finetune`)")
        kept = without_deleted({t: e for t, e in logged.items() if t != "user_deletions"},
                               logged.get("user_deletions", ()))
        items = items or catalog_items(kept.events.get("catalog", ()))
        pairs = pairs_from_events(kept.events.get("signups", ()), kept.events.get("searches", ()),
                                  kept.events.get("clicks", ()), items, negatives=args.negatives, seed=args.seed)
        return pairs, {"source": "topics", **kept.manifest_note()}, None
    if args.pairs:
        return read_pairs(Path(args.pairs), items), {"source": f"pairs:{Path(args.pairs).name}"}, None
    if args.events:
        folder = Path(args.events)
        items = items or read_items(folder / "catalog.jsonl")
        pairs = pairs_from_events(_jsonl(folder / "signups.jsonl"), _jsonl(folder / "searches.jsonl"),
                                  _jsonl(folder / "clicks.jsonl"), items, negatives=args.negatives, seed=args.seed)
        return pairs, {"source": f"events:{folder.name}"}, None
    from coldstart.evaluation.datasets import Catalogue, load_home_depot

    data = load_home_depot()  # only its train split is read here, as the protocol requires
    titles = {int(pid): text for pid, text in zip(data.catalogue.ids, data.catalogue.texts)}
    vectors = None
    if args.lora_r <= 0 or args.towers == "query":  # base vectors used: the catalogue's, shared with eval's cache
        from coldstart.encoder.loader import load_model
        from coldstart.evaluation.vector_cache import item_vectors

        base = load_model(base_spec(args), threads=args.threads, cache_size=0)
        vectors = dict(zip(data.catalogue.texts, item_vectors(base, data.catalogue)))
        if args.lora_r <= 0 and base.query_prefix == base.passage_prefix:  # terms through the base too: cached alike
            terms = sorted({term.strip() for term, _, _ in data.train})
            ids = np.arange(len(terms), dtype=np.int64)
            vectors.update(zip(terms, item_vectors(base, Catalogue("home_depot_train_terms", ids, terms))))
    return home_depot_pairs(data.train, titles), {"source": "home_depot:train"}, vectors


def base_spec(args: argparse.Namespace) -> str | None:
    """--base as a model spec: a registered version (a fetched encoder's name, say) as its directory."""
    if not args.base:
        return None
    from coldstart.encoder import registry as model_registry

    spec = model_registry.model_spec(args.base, args.out)
    return str(Path(spec).resolve()) if spec and Path(spec).is_dir() else spec  # the manifest names it from anywhere


def config_from(args: argparse.Namespace) -> FinetuneConfig:
    targets = tuple(t for t in args.lora_targets.split(",") if t)
    return FinetuneConfig(
        loss=args.loss, towers=args.towers, lora_r=args.lora_r, lora_alpha=args.lora_alpha or 2 * args.lora_r,
        lora_targets=targets,
        lora_layers=args.lora_layers,
        head=args.head, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
        hard_negatives=args.hard_negatives, negatives=args.negatives, val_fraction=args.val_fraction,
        eval_every=args.eval_every, patience=args.patience, max_pairs=args.limit, seed=args.seed,
        max_seq_length=args.max_seq_length,
        threads=args.threads)


def main(args: argparse.Namespace, logged: Logged | None = None) -> int:
    """Train, save the version under --out (the models root), optionally point `current` at it."""
    print(json.dumps(run(args, logged)))
    return 0


def run(args: argparse.Namespace, logged: Logged | None = None) -> dict[str, Any]:
    """`main` without the printing: what it would print (model_version, path, kind, ...)."""
    from coldstart.encoder import registry as model_registry

    if getattr(args, "reranker", False):
        return _run_reranker(args, logged)
    pairs, source, vectors = load_pairs(args, logged)
    if not pairs:
        raise ConfigError("expected training pairs, got none")
    result = finetune(pairs, config_from(args), base=base_spec(args), progress=not args.quiet,
                      base_vectors=vectors)
    version = save(result, args.out, extra=source)
    if args.set_current:
        model_registry.set_current(version, args.out)
    path = model_registry.resolve(version, args.out)
    return {"model_version": version, "path": str(path), "kind": result.config.kind, "pairs": len(pairs),
            "best": result.best, "base_val_recall@10": result.history[0].get("val_recall@10"),
            "current": model_registry.current(args.out)}


def _given(args: argparse.Namespace, **fields: str) -> dict[str, Any]:
    """The config fields whose command-line option was given (others keep the config's default)."""
    return {field: getattr(args, option) for field, option in fields.items()
            if getattr(args, option, None) is not None}


def _run_reranker(args: argparse.Namespace, logged: Logged | None) -> dict[str, Any]:
    """`--reranker`: train a cross-encoder on the pairs (a dataset's judged rows, graded) and save it
    with --base's encoder as a new version."""
    from coldstart.encoder import registry as model_registry
    from coldstart.finetune import save_reranker
    from coldstart.finetune.reranker import RerankerConfig, graded_pairs, train_reranker

    encoder_version = str(model_registry.resolve(args.base, args.out).name) if args.base else None
    config = RerankerConfig(epochs=args.epochs, max_pairs=args.rr_pairs, eval_every=args.rr_eval_every,
                            patience=args.patience, seed=args.seed, threads=args.threads,
                            **_given(args, lr="rr_lr", head_std="rr_head_std"))
    candidates = None
    if args.dataset:
        from coldstart.encoder.encoder import load_encoder
        from coldstart.evaluation.datasets import load_home_depot
        from coldstart.evaluation.vector_cache import item_vectors
        from coldstart.finetune.reranker import hybrid_candidates

        data = load_home_depot()  # only its train split is read here, as the protocol requires
        titles = {int(pid): text for pid, text in zip(data.catalogue.ids, data.catalogue.texts)}
        source: dict[str, object] = {"source": "home_depot:train"}
        pairs, items = graded_pairs(data.train, titles), data.catalogue.texts
        # negatives and the rank prior come from the list a worker with this encoder would re-rank
        encoder = load_encoder(str(model_registry.resolve(encoder_version, args.out)) if encoder_version else None,
                               threads=args.threads, cache_size=0)
        texts = sorted({p.text for p in pairs})
        candidates = hybrid_candidates(texts, items, item_vectors(encoder, data.catalogue),
                                       encoder.encode_users(texts, batch_size=128), max(config.negative_pool, 30))
    else:
        pairs, source, _ = load_pairs(args, logged)
        items = sorted({p.item for p in pairs})
    if not pairs:
        raise ConfigError("expected training pairs, got none")
    result = train_reranker(pairs, items, config, progress=not args.quiet, candidates=candidates)
    version = save_reranker(result, encoder_version, args.out, source)
    if args.set_current:
        model_registry.set_current(version, args.out)
    return {"model_version": version, "path": str(model_registry.resolve(version, args.out)),
            "kind": model_registry.manifest(version, args.out).get("kind"), "pairs": result.counts["train_pairs"],
            "best": result.best, "base_val_mrr": result.history[0].get("val_mrr"),
            "current": model_registry.current(args.out)}

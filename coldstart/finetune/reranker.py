"""Training the re-ranker (coldstart.encoder.reranker): LoRA adapters and a linear head on the frozen base,
binary cross-entropy on (text, item text, label) pairs, labels from 0 to 1.

Negatives matter most here. At serving time the re-ranker orders the top of a hybrid list, where
the wrong items look like the right ones, so each text also gets `hard_negatives` items that BM25
ranks high for it but nobody labelled for it (label 0). Validation holds out whole texts and
measures how well their labelled items rank among those look-alikes (MRR of the first positive);
training stops early when it stops improving, and the best weights are kept.
"""
from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from coldstart.encoder.reranker import MAX_PAIR_TOKENS, CrossEncoder
from coldstart.errors import ConfigError
from coldstart.finetune.adapters import add_lora
from coldstart.finetune.loop import EarlyStopping, optimise, validation_due, warmup_linear
from coldstart.finetune.pairs import Pair, split_by_text
from coldstart.text.lexical import SERVED, WORDS, Analyzer, LexicalIndex


@dataclass(frozen=True)
class RerankerConfig:
    """What to train and how; the defaults are the configuration measured in the README."""

    lora_r: int = 16
    lora_alpha: int = 32
    lora_targets: tuple[str, ...] = ("query", "key", "value", "dense")
    epochs: int = 1
    batch_size: int = 32
    lr: float = 5e-4  # on every pair (max_pairs 0) it stalls; 2e-4 with head_std 0.02 trains (README)
    head_std: float = 0.0  # 0: a zero head, which passes no gradient to the adapters until it moves
    labelled_per_text: int = 5  # labelled pairs kept per text, highest labels first
    hard_negatives: int = 3  # per text, from the lexical top `negative_pool` it has no label for
    negative_pool: int = 30
    max_pairs: int = 32000  # 0: all (62,870 for Home Depot's train split)
    val_fraction: float = 0.05
    eval_every: int = 400  # steps between validations (0: after each epoch)
    patience: int = 2
    max_length: int = MAX_PAIR_TOKENS
    seed: int = 13
    threads: int = 2

    def __post_init__(self) -> None:
        if self.lora_r < 1 or self.epochs < 1 or self.batch_size < 2:
            raise ConfigError(f"expected lora_r >= 1, epochs >= 1 and batch_size >= 2, got "
                              f"{self.lora_r}, {self.epochs}, {self.batch_size}")

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "lora_targets": list(self.lora_targets)}


@dataclass
class RerankerResult:
    model: CrossEncoder
    config: RerankerConfig
    history: list[dict[str, float]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    chosen_step: int = 0
    prior_recall: dict[str, float] = field(default_factory=dict)  # validation recall@10 per rank prior

    @property
    def best(self) -> dict[str, float]:
        return next((h for h in self.history if h["step"] == self.chosen_step), {})


Candidates = Mapping[str, Sequence[str]]  # text -> item texts a retrieval ranks for it, best first
RANK_PRIORS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0)


def lexical_candidates(texts: Sequence[str], items: Sequence[str], depth: int,
                       analyzer: Analyzer = WORDS) -> dict[str, list[str]]:
    """Each text's BM25 top `depth` among `items` (BM25 over the analyzer's terms)."""
    lexical = LexicalIndex(analyzer)
    lexical.upsert([str(i) for i in range(len(items))], list(items))
    return {text: [items[int(i)] for i in lexical.search(text, depth)[0]] for text in texts}


def hybrid_candidates(texts: Sequence[str], items: Sequence[str], item_vectors: np.ndarray,
                      text_vectors: np.ndarray, depth: int) -> dict[str, list[str]]:
    """Each text's top `depth` among `items` as a worker ranks them before re-ranking: BM25 over
    words and over trigrams, then dense, fused (coldstart.text.retrieval)."""
    from coldstart.text.retrieval import RetrievalConfig, fuse

    lexical = [lexical_candidates(texts, items, depth, analyzer) for analyzer in SERVED]
    fusion, out = RetrievalConfig(), {}
    for start in range(0, len(texts), 256):
        scores = text_vectors[start:start + 256] @ item_vectors.T
        top = np.argpartition(-scores, min(depth, scores.shape[1] - 1), axis=1)[:, :depth]
        for row, text in enumerate(texts[start:start + 256]):
            dense = top[row][np.argsort(-scores[row, top[row]], kind="stable")]
            out[text] = fuse([*(ranked[text] for ranked in lexical), [items[int(i)] for i in dense]], depth,
                             fusion.rrf_k, fusion.weights)
    return out


def with_hard_negatives(pairs: Sequence[Pair], candidates: Candidates, config: RerankerConfig,
                        rng: random.Random) -> list[Pair]:
    """Each text's `labelled_per_text` best-labelled pairs plus `hard_negatives` unlabelled items
    from the top `negative_pool` of its candidates (label 0)."""
    by_text: dict[str, list[Pair]] = defaultdict(list)
    for p in pairs:
        by_text[p.text].append(p)
    out = []
    for text in sorted(by_text):
        labelled = sorted(by_text[text], key=lambda p: (-p.label, rng.random()))[: config.labelled_per_text]
        known = {p.item for p in by_text[text]}
        pool = [item for item in candidates.get(text, ())[: config.negative_pool] if item not in known]
        out += labelled + [Pair(text, item, 0.0) for item in rng.sample(pool, min(config.hard_negatives, len(pool)))]
    return out


def choose_rank_prior(model: CrossEncoder, val: Sequence[Pair], candidates: Candidates, depth: int,
                      k: int = 10) -> dict[str, float]:
    """The RANK_PRIORS value that gives the validation texts the best recall@k when their
    candidates' top `depth` is re-ranked (ties: the smaller); sets it on `model`, returns the
    recall for each."""
    from coldstart.text.retrieval import by_score, score_heads

    hits: dict[str, set[str]] = defaultdict(set)
    for p in val:
        if p.label >= 0.99:
            hits[p.text].add(p.item)
    texts = [t for t in sorted(hits) if candidates.get(t)]
    if not texts:
        return {}
    scores = dict(zip(texts, score_heads(model, texts, [list(candidates[t][:depth]) for t in texts])))
    recall = {}
    for prior in RANK_PRIORS:
        found = [len(set(by_score(list(candidates[t]), scores[t], prior)[:k]) & hits[t]) / len(hits[t])
                 for t in texts]
        recall[f"{prior:g}"] = float(np.mean(found))
    model.rank_prior = float(max(RANK_PRIORS, key=lambda p: (recall[f"{p:g}"], -p)))
    return recall


def train_reranker(pairs: Sequence[Pair], items: Sequence[str], config: RerankerConfig = RerankerConfig(),
                   progress: bool = True, candidates: Candidates | None = None,
                   rerank_depth: int = 30) -> RerankerResult:
    """A re-ranker trained on `pairs` (labels 0..1) and hard negatives from each text's
    `candidates` (default: BM25 over `items`); its rank prior is then chosen on the validation
    texts for re-ranking their candidates' top `rerank_depth`."""
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)
    if candidates is None:
        candidates = lexical_candidates(sorted({p.text for p in pairs}), items,
                                        max(config.negative_pool, rerank_depth))
    train, labelled_val = split_by_text(list(pairs), config.val_fraction, config.seed)
    train = with_hard_negatives(train, candidates, config, rng)
    val = with_hard_negatives(labelled_val, candidates, config, rng)
    rng.shuffle(train)
    if config.max_pairs and len(train) > config.max_pairs:
        train = train[: config.max_pairs]
    if not any(p.label > 0.5 for p in train):
        raise ConfigError(f"expected positive pairs (label > 0.5) to train on, got none among {len(train)}")
    model = CrossEncoder.from_base("", config.head_std)
    model.max_length = config.max_length
    add_lora(model.transformer, config.lora_r, config.lora_alpha, config.lora_targets)
    params = [p for p in model.parameters() if p.requires_grad]
    result = RerankerResult(model, config, counts={
        "train_pairs": len(train), "train_texts": len({p.text for p in train}),
        "val_pairs": len(val), "val_texts": len({p.text for p in val})})
    _train(result, train, _Validator(val), params, progress)
    result.prior_recall = choose_rank_prior(model, labelled_val, candidates, rerank_depth)
    return result


class _Validator:
    """Mean reciprocal rank of each held-out text's first positive among its labelled pairs and
    hard negatives, and the mean BCE over them."""

    def __init__(self, val: Sequence[Pair]) -> None:
        self.val = list(val)

    def __call__(self, model: CrossEncoder) -> dict[str, float]:
        if not self.val:
            return {}
        scores = model.scores([p.text for p in self.val], [p.item for p in self.val])
        labels = np.array([p.label for p in self.val], dtype=np.float32)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(torch.from_numpy(scores), torch.from_numpy(labels))
        groups: dict[str, list[int]] = defaultdict(list)
        for i, p in enumerate(self.val):
            groups[p.text].append(i)
        rr = []
        for rows in groups.values():
            if not any(labels[r] > 0.5 for r in rows):
                continue
            order = sorted(rows, key=lambda r: (-scores[r], labels[r] > 0.5))  # ties: positives last
            rr.append(1.0 / next(k for k, r in enumerate(order, 1) if labels[r] > 0.5))
        return {"val_mrr": float(np.mean(rr)) if rr else 0.0, "val_loss": float(loss)}


def _train(result: RerankerResult, train: list[Pair], validate: _Validator, params: list[torch.nn.Parameter],
           progress: bool) -> None:
    from tqdm.auto import tqdm


    config, model = result.config, result.model
    per_epoch = math.ceil(len(train) / config.batch_size)
    total = per_epoch * config.epochs
    optimiser = torch.optim.AdamW(params, lr=config.lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, warmup_linear(total))
    result.history.append({"step": 0, **validate(model)})
    stopping, step = EarlyStopping(model, "val_mrr", config.patience), 0
    bar = tqdm(total=total, desc="finetune re-ranker", unit="step", disable=not progress)
    stop = False
    for _ in range(config.epochs):
        for start in range(0, len(train), config.batch_size):
            batch = train[start:start + config.batch_size]
            model.train()
            logits = model([p.text for p in batch], [p.item for p in batch])
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                logits, torch.tensor([p.label for p in batch], dtype=logits.dtype))
            optimise(loss, optimiser, schedule, bar)
            step += 1
            if not validation_due(step, total, per_epoch, config.eval_every):
                continue
            scores = validate(model)
            result.history.append({"step": step, "loss": float(loss.item()), **scores})
            bar.set_postfix(loss=f"{loss.item():.3f}", val_mrr=f"{scores.get('val_mrr', 0):.3f}")
            stop = stopping.validated(step, scores)
            if stop:
                break
        if stop:
            break
    bar.close()
    result.chosen_step = stopping.finish(step)
    model.eval()


def graded_pairs(train: Sequence[tuple[str, int, float]], titles: Mapping[int, str],
                 low: float = 1.0, high: float = 3.0) -> list[Pair]:
    """Judged rows as pairs with label (relevance − low) / (high − low): 3.0 → 1, 1.0 → 0.
    Only the train split may be passed here (the protocol)."""
    return [Pair(term.strip(), titles[pid], min(1.0, max(0.0, (rel - low) / (high - low))))
            for term, pid, rel in train]

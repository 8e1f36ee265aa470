"""The fine-tuning loop: LoRA and/or a head, contrastive or BCE, validation with early stopping, fixed seed."""
from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from coldstart.encoder.cached import CachedEncoder
from coldstart.encoder.encoder import Encoder, load_encoder
from coldstart.encoder.loader import load_model
from coldstart.encoder.modules import Normalize, Transformer, transformer_of
from coldstart.encoder.onnx_backend import is_onnx_version
from coldstart.errors import ConfigError
from coldstart.finetune import objectives as O
from coldstart.finetune.adapters import add_lora, freeze_base, identity_head, with_head
from coldstart.finetune.loop import EarlyStopping, optimise, validation_due, warmup_linear
from coldstart.finetune.pairs import Pair, split_by_text

LOSSES = ("contrastive", "bce")
TOWERS = ("both", "query")


@dataclass(frozen=True)
class FinetuneConfig:
    """What to train and how.

    towers="both" tunes one model for texts and items; "query" tunes only the text (user/query) side
    and keeps the base model's item vectors, so a catalogue never needs re-embedding and each step
    can rank against every training item. lora_r 0 with head=True trains a head on cached base vectors.
    """

    loss: str = "contrastive"
    towers: str = "both"
    lora_r: int = 16
    lora_alpha: int = 32
    lora_targets: tuple[str, ...] = ("query", "key", "value", "dense")
    lora_layers: int = 2  # adapt only the last N transformer layers (0: all)
    head: bool = False
    epochs: int = 1
    batch_size: int = 64
    lr: float = 3e-4
    scale: float = 20.0  # cosine -> logit multiplier (contrastive temperature 1/scale; BCE slope)
    hard_negatives: int = 1  # contrastive, both towers: labelled negatives of the same text per pair
    negatives: int = 3  # bce: random items per positive, labelled 0
    val_fraction: float = 0.1
    val_pool: int = 2000  # items a validation text is ranked against
    eval_every: int = 64  # steps between validations (0: after each epoch)
    patience: int = 2  # validations without improvement before stopping
    max_pairs: int = 0  # 0: all
    max_seq_length: int = 28  # tokens per text while training (inference keeps the model's own)
    seed: int = 13
    threads: int = 2

    def __post_init__(self) -> None:
        if self.loss not in LOSSES or self.towers not in TOWERS:
            raise ConfigError(f"expected loss in {LOSSES} and towers in {TOWERS}, got {self.loss!r}, {self.towers!r}")
        if self.lora_r <= 0 and not self.head:
            raise ConfigError("nothing to train: expected lora_r > 0 and/or head=True")
        if self.epochs < 1 or self.batch_size < 2:
            raise ConfigError(f"expected epochs >= 1 and batch_size >= 2, got {self.epochs}, {self.batch_size}")

    @property
    def kind(self) -> str:
        return "+".join(k for k, on in (("lora", self.lora_r > 0), ("head", self.head)) if on)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "lora_targets": list(self.lora_targets)}


@dataclass
class FinetuneResult:
    """The trained pipeline (LoRA not yet merged), the base it started from, and the validation history."""

    pipeline: nn.Sequential
    config: FinetuneConfig
    base: str
    base_version: str
    history: list[dict[str, float]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    chosen_step: int = 0

    @property
    def best(self) -> dict[str, float]:
        """The validation entry of the weights kept (the best after training; the last without validation)."""
        return next((h for h in self.history if h["step"] == self.chosen_step), {})


def finetune(pairs: Sequence[Pair], config: FinetuneConfig = FinetuneConfig(), base: str | None = None,
             progress: bool = True, base_vectors: Mapping[str, np.ndarray] | None = None) -> FinetuneResult:
    """Train LoRA adapters and/or a head on `pairs` (label > 0.5 is a positive) from the `base` model.

    `base` may be a fetched ONNX version: fp32 ones load into torch for LoRA (coldstart.encoder.onnx_torch);
    with lora_r 0, any one (int8 too) gives frozen features through ONNX Runtime and only the head trains.
    `base_vectors` (text -> the base model's unit vector, e.g. a catalogue's cached vectors) spares
    re-embedding those texts where the base's vectors are used (head-only, or the item side of towers="query")."""
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)
    pairs = list(pairs)
    if config.max_pairs and len(pairs) > config.max_pairs:
        pairs = rng.sample(pairs, config.max_pairs)
    train, val = split_by_text(pairs, config.val_fraction, config.seed)
    positives = [p for p in train if p.label > 0.5]
    if not positives:
        raise ConfigError(f"expected positive pairs (label > 0.5) to train on, got none among {len(pairs)} pairs")

    query_only = config.towers == "query"
    if config.lora_r <= 0 and is_onnx_version(base):  # frozen ONNX features (fp32 or int8): only the head is torch
        if query_only:
            raise ConfigError("a head on a fetched ONNX version is served as one ONNX graph for both sides: "
                              "expected towers='both' (--towers both), got 'query'")
        start: CachedEncoder = load_model(base, threads=config.threads, cache_size=0)
        pipeline = nn.Sequential(Normalize())
    else:
        start = load_encoder(base, threads=config.threads, cache_size=0)
        assert isinstance(start, Encoder)
        pipeline = start.pipeline
    items_needed = {p.item for p in pairs} if query_only or config.lora_r <= 0 else set()
    texts_needed = {p.text for p in pairs} if config.lora_r <= 0 else set()
    known = base_vectors or {}  # a catalogue's item vectors (and, without prefixes, the search terms')
    item_cached = _base_vectors(start.encode_items, start.dim, sorted(items_needed), known, progress)
    text_cached = _base_vectors(start.encode_users, start.dim, sorted(texts_needed),
                                known if start.query_prefix == start.passage_prefix else {}, progress)
    if config.lora_r > 0:
        add_lora(transformer_of(pipeline), config.lora_r, config.lora_alpha, config.lora_targets, config.lora_layers)
    if config.head:
        pipeline = with_head(pipeline, identity_head(start.dim))
    params = freeze_base(pipeline)
    tail = nn.Sequential(*list(pipeline)[-2:])  # head, normalise: what runs on cached base vectors
    if config.lora_r <= 0:
        texts = O.Tower(cached=text_cached, modules=tail)
        items = O.Tower(cached=item_cached) if query_only else O.Tower(cached=item_cached, modules=tail)
    else:
        texts = O.Tower(pipeline, prefix=start.query_prefix)
        items = O.Tower(cached=item_cached) if query_only else O.Tower(pipeline, prefix=start.passage_prefix)

    result = FinetuneResult(pipeline, config, base or "", start.version, counts={
        "pairs": len(pairs), "train_positives": len(positives), "train_negatives": len(train) - len(positives),
        "val_pairs": len(val), "val_texts": len({p.text for p in val})})
    _train(result, train, positives, O.Validator(texts, items, val, train, config.val_pool, rng), texts, items,
           params, rng, progress)
    return result


def _base_vectors(embed: Callable[..., np.ndarray], dim: int, texts: Sequence[str],
                  known: Mapping[str, np.ndarray], progress: bool) -> dict[str, torch.Tensor]:
    """The base model's vectors of `texts` (`embed`: its users' or items' side, with that side's prefix),
    those in `known` taken from it (a bias-free head on them equals the full pipeline's output, since only
    a unit vector's direction is kept)."""
    missing = [t for t in texts if t not in known]
    vectors = embed(missing, batch_size=128, show_progress=progress) if missing else np.zeros((0, dim))
    out = {t: torch.from_numpy(np.asarray(v, dtype=np.float32)) for t, v in zip(missing, vectors)}
    out.update({t: torch.as_tensor(np.asarray(known[t], dtype=np.float32)) for t in texts if t in known})
    return out


def _train(result: FinetuneResult, train: list[Pair], positives: list[Pair], validate: O.Validator,
           texts: O.Tower, items: O.Tower, params: list[nn.Parameter], rng: random.Random, progress: bool) -> None:
    config, pipeline = result.config, result.pipeline
    known, negatives_of = O.positives_by_text(train), O.negatives_by_text(train)
    pool_texts = sorted({p.item for p in train})
    bias = nn.Parameter(torch.tensor(-config.scale / 2))  # BCE only: the cosine at which p = 0.5, times scale
    if config.loss == "contrastive" and config.towers == "query":
        pool, index = items.many(pool_texts), {t: i for i, t in enumerate(pool_texts)}
        step_loss = lambda b: O.pool_loss(texts, pool, index, b, known, config.scale)  # noqa: E731
    elif config.loss == "contrastive":
        step_loss = lambda b: O.in_batch_loss(texts, items, b, known, config.scale)  # noqa: E731
    else:
        step_loss = lambda b: O.bce_loss(texts, items, b, known, config.scale, bias)  # noqa: E731
        params = params + [bias]

    def batches() -> list[O.Batch]:
        if config.loss == "contrastive":
            hard = config.hard_negatives if config.towers == "both" else 0
            return O.contrastive_batches(positives, negatives_of, config.batch_size, hard, rng)
        return O.bce_batches(train, positives, pool_texts, config.batch_size, config.negatives, rng)

    per_epoch = _batches_per_epoch(train, positives, config)
    total = per_epoch * config.epochs
    optimiser = torch.optim.AdamW(params, lr=config.lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, warmup_linear(total))
    transformer = transformer_of(pipeline) if isinstance(pipeline[0], Transformer) else None  # None: frozen ONNX
    saved_len = transformer.max_seq_length if transformer is not None else 0
    if transformer is not None:
        transformer.max_seq_length = config.max_seq_length
    try:
        pipeline.eval()
        result.history.append({"step": 0, **validate()})  # the base model, for comparison
        stopping, step = EarlyStopping(pipeline, "val_recall@10", config.patience), 0
        bar = _progress(total, progress)
        for _ in range(config.epochs):
            for batch in batches():
                pipeline.train()
                loss = step_loss(batch)
                optimise(loss, optimiser, schedule, bar)
                step += 1
                if not validation_due(step, total, per_epoch, config.eval_every):
                    continue
                pipeline.eval()
                scores = validate()
                result.history.append({"step": step, "epoch": round(step / per_epoch, 3),
                                       "loss": float(loss.item()), **scores})
                bar.set_postfix(loss=f"{loss.item():.3f}", val=f"{scores.get('val_recall@10', 0):.3f}")
                if stopping.validated(step, scores):
                    break
            else:
                continue
            break
        bar.close()
        result.chosen_step = stopping.finish(step)  # never validated: the last weights
    finally:
        if transformer is not None:
            transformer.max_seq_length = saved_len
        pipeline.eval()


def _batches_per_epoch(train: Sequence[Pair], positives: Sequence[Pair], config: FinetuneConfig) -> int:
    if config.loss == "contrastive":
        return math.ceil(len(positives) / config.batch_size)
    return math.ceil((len(train) + len(positives) * config.negatives) / config.batch_size)


def _progress(total: int, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="finetune", unit="step", disable=not enabled)

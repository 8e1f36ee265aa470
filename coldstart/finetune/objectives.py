"""What one training step computes: towers (texts -> vectors), batches, the losses, and validation."""
from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from coldstart.encoder.modules import transformer_of
from coldstart.finetune.pairs import Pair


class Tower:
    """Texts -> unit vectors: the live pipeline (after the side's `prefix`, a fetched model's instruction),
    or cached base vectors (embedded with it) through `modules` (head, normalise)."""

    def __init__(self, pipeline: nn.Sequential | None = None, cached: Mapping[str, torch.Tensor] | None = None,
                 modules: nn.Sequential | None = None, prefix: str = "") -> None:
        self.pipeline, self.cached, self.modules, self.prefix = pipeline, cached, modules, prefix

    def __call__(self, texts: Sequence[str]) -> torch.Tensor:
        distinct = list(dict.fromkeys(texts))
        if self.cached is not None:
            out = torch.stack([self.cached[t] for t in distinct])
            if self.modules is not None:
                out = self.modules({"sentence_embedding": out})["sentence_embedding"]
        else:
            assert self.pipeline is not None
            prefixed = [self.prefix + t for t in distinct] if self.prefix else distinct
            out = self.pipeline(transformer_of(self.pipeline).tokenize(prefixed))["sentence_embedding"]
        row = {t: i for i, t in enumerate(distinct)}
        return out[[row[t] for t in texts]]

    def many(self, texts: Sequence[str], size: int = 256) -> torch.Tensor:
        """Vectors of many texts without gradients, in chunks."""
        with torch.no_grad():
            return torch.cat([self(texts[s:s + size]) for s in range(0, len(texts), size)])


@dataclass
class Batch:
    texts: list[str]
    items: list[str]  # the texts' own items first, then any extra negatives
    labels: list[float]


def positives_by_text(pairs: Sequence[Pair]) -> dict[str, set[str]]:
    known: dict[str, set[str]] = defaultdict(set)
    for p in pairs:
        if p.label > 0.5:
            known[p.text].add(p.item)
    return known


def negatives_by_text(pairs: Sequence[Pair]) -> dict[str, list[str]]:
    negs: dict[str, list[str]] = defaultdict(list)
    for p in pairs:
        if p.label <= 0.5:
            negs[p.text].append(p.item)
    return negs


def contrastive_batches(positives: Sequence[Pair], negatives_of: Mapping[str, list[str]], size: int,
                        hard: int, rng: random.Random) -> list[Batch]:
    """Shuffled positives, each with up to `hard` labelled negatives of its text appended as extra items."""
    order = rng.sample(list(positives), len(positives))
    batches = []
    for start in range(0, len(order), size):
        chunk = order[start:start + size]
        extra = [n for p in chunk for n in rng.sample(negatives_of.get(p.text, []),
                                                      min(hard, len(negatives_of.get(p.text, []))))]
        batches.append(Batch([p.text for p in chunk], [p.item for p in chunk] + extra, [1.0] * len(chunk)))
    return batches


def bce_batches(train: Sequence[Pair], positives: Sequence[Pair], pool: Sequence[str], size: int,
                negatives: int, rng: random.Random) -> list[Batch]:
    """Every labelled pair plus `negatives` random pool items per positive (label 0), shuffled."""
    rows = [(p.text, p.item, float(p.label > 0.5)) for p in train]
    rows += [(p.text, rng.choice(pool), 0.0) for p in positives for _ in range(negatives)]
    rng.shuffle(rows)
    return [Batch([r[0] for r in rows[s:s + size]], [r[1] for r in rows[s:s + size]], [r[2] for r in rows[s:s + size]])
            for s in range(0, len(rows), size)]


def in_batch_loss(texts: Tower, items: Tower, batch: Batch, known: Mapping[str, set[str]],
                  scale: float) -> torch.Tensor:
    """MultipleNegativesRanking: each text against every item in the batch, other known positives masked."""
    logits = scale * texts(batch.texts) @ items(batch.items).T
    mask = torch.tensor([[j != i and item in known[text] for j, item in enumerate(batch.items)]
                         for i, text in enumerate(batch.texts)])
    return F.cross_entropy(logits.masked_fill(mask, float("-inf")), torch.arange(len(batch.texts)))


def pool_loss(texts: Tower, pool: torch.Tensor, index: Mapping[str, int], batch: Batch,
              known: Mapping[str, set[str]], scale: float) -> torch.Tensor:
    """Softmax over every item of a frozen pool (item vectors fixed): each text's item is the target,
    its other known positives are masked out."""
    logits = scale * texts(batch.texts) @ pool.T
    n = len(batch.texts)
    rows = [r for r, text in enumerate(batch.texts) for item in known[text] if item != batch.items[r]]
    cols = [index[item] for r, text in enumerate(batch.texts) for item in known[text] if item != batch.items[r]]
    if rows:
        logits = logits.index_put((torch.tensor(rows), torch.tensor(cols)), torch.tensor(float("-inf")))
    return F.cross_entropy(logits, torch.tensor([index[i] for i in batch.items[:n]]))


def bce_loss(texts: Tower, items: Tower, batch: Batch, known: Mapping[str, set[str]], scale: float,
             bias: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy on scale * cosine + a learnt bias; a sampled item that is a known positive counts as one."""
    cos = (texts(batch.texts) * items(batch.items)).sum(dim=1)
    labels = torch.tensor([1.0 if item in known[text] else lab
                           for text, item, lab in zip(batch.texts, batch.items, batch.labels)])
    return F.binary_cross_entropy_with_logits(scale * cos + bias, labels)


class Validator:
    """recall@10 of held-out texts' positives among their own items plus sampled training items."""

    def __init__(self, texts: Tower, items: Tower, val: Sequence[Pair], train: Sequence[Pair], pool_size: int,
                 rng: random.Random) -> None:
        self.text_tower, self.item_tower, self.known = texts, items, positives_by_text(val)
        val_items = sorted({p.item for p in val})
        others = sorted({p.item for p in train} - set(val_items))
        self.pool = val_items + rng.sample(others, max(0, min(len(others), pool_size - len(val_items))))
        self.texts = sorted(self.known)

    def __call__(self) -> dict[str, float]:
        if not self.texts:
            return {}
        q, items = self.text_tower.many(self.texts), self.item_tower.many(self.pool)
        top = torch.topk(q @ items.T, min(10, len(self.pool)), dim=1).indices.tolist()
        recalls = [len({self.pool[j] for j in row} & self.known[t]) / len(self.known[t])
                   for t, row in zip(self.texts, top)]
        return {"val_recall@10": sum(recalls) / len(recalls)}

"""The re-ranker: a cross-encoder that reads a query and an item's text together and scores the pair.

The encoder (coldstart.encoder.encoder) embeds each side alone, so it can search a whole catalogue; reading
both together lets attention match the query's words against the title's, so it orders a short
list better, at the price of one transformer pass per pair. coldstart.text.retrieval therefore
uses it only on the top of the hybrid list.

The model: the bundled all-MiniLM-L6-v2 with LoRA adapters (merged when loaded) and a linear head
on the mean-pooled tokens, trained with binary cross-entropy by coldstart.finetune.reranker. A model
version that has one keeps it in `reranker/`: `lora/` (peft's format) and `head.pt`.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from coldstart.encoder.modules import Transformer, build_pipeline, transformer_of
from coldstart.encoder.threads import torch_threads
from coldstart.errors import ModelError

RERANKER_DIR = "reranker"
NAME_SUFFIX = "-rr"  # a version with a re-ranker is named <encoder name>-rr-<hash>
MAX_PAIR_TOKENS = 48  # a query and a product title fit; longer item texts are cut


class CrossEncoder(nn.Module):
    """Scores (query, item text) pairs: higher is more relevant (a logit)."""

    def __init__(self, transformer: Transformer, head: nn.Linear, max_length: int = MAX_PAIR_TOKENS,
                 rank_prior: float = 0.0) -> None:
        super().__init__()
        self.transformer, self.head, self.max_length = transformer, head, max_length
        self.rank_prior = rank_prior  # see coldstart.text.retrieval.RetrievalConfig

    @classmethod
    def from_base(cls, base: str = "", head_std: float = 0.0) -> CrossEncoder:
        """An untrained re-ranker on the `base` model spec ("" = the bundled model). Its head's
        weights are drawn with `head_std` (0: all zero, so every pair scores alike); the bias is 0."""
        pipeline, _, _ = build_pipeline(base)
        head = nn.Linear(transformer_of(pipeline).dim, 1)
        if head_std > 0:
            nn.init.normal_(head.weight, std=head_std)
        else:
            nn.init.zeros_(head.weight)
        nn.init.zeros_(head.bias)
        return cls(transformer_of(pipeline), head)

    def forward(self, queries: Sequence[str], texts: Sequence[str]) -> torch.Tensor:
        """Logits of shape (n,), with gradients when training."""
        encoded = self.transformer.tokenizer(list(queries), list(texts), padding=True, truncation=True,
                                             max_length=self.max_length, return_tensors="pt")
        hidden = self.transformer.model(**encoded, return_dict=True).last_hidden_state
        mask = encoded["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
        return self.head(pooled).squeeze(-1)

    def scores(self, queries: Sequence[str], texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Scores of the pairs (queries[i], texts[i]) as float32, in batches, without gradients.

        Pairs are batched by length (as sentence-transformers does), so a batch pads little;
        a few pairs run on one torch thread, as the encoder does for its small batches."""
        if len(queries) != len(texts):
            raise ValueError(f"expected one text per query, got {len(queries)} and {len(texts)}")
        self.eval()
        out = np.empty(len(texts), dtype=np.float32)
        by_length = np.argsort([len(q) + len(t) for q, t in zip(queries, texts)], kind="stable")
        with torch.inference_mode(), torch_threads(1 if len(texts) <= 8 else 0):
            for start in range(0, len(texts), batch_size):
                rows = by_length[start:start + batch_size]
                out[rows] = self([queries[i] for i in rows], [texts[i] for i in rows]).float().numpy()
        return out

    def save(self, directory: Path) -> list[str]:
        """Write lora/ and head.pt (and reranker.json) into `directory`; return the names."""
        directory.mkdir(parents=True, exist_ok=True)
        model = self.transformer.model
        if not hasattr(model, "peft_config"):
            raise ModelError("expected a re-ranker with LoRA adapters to save, got plain weights")
        model.save_pretrained(str(directory / "lora"))
        (directory / "lora" / "README.md").unlink(missing_ok=True)  # peft's model-card template
        torch.save({k: v.detach().cpu() for k, v in self.head.state_dict().items()}, directory / "head.pt")
        settings = {"max_length": self.max_length, "rank_prior": self.rank_prior}
        (directory / "reranker.json").write_text(json.dumps(settings) + "\n")
        return ["lora", "head.pt", "reranker.json"]


def has_reranker(version_dir: str | Path | None) -> bool:
    return bool(version_dir) and (Path(version_dir) / RERANKER_DIR / "head.pt").is_file()  # type: ignore[arg-type]


def load_reranker(version_dir: str | Path, threads: int = 0) -> CrossEncoder:
    """The re-ranker saved in a model version's `reranker/` directory (base: the bundled model)."""
    from coldstart.encoder.modules import merged_lora

    folder = Path(version_dir) / RERANKER_DIR
    if not (folder / "head.pt").is_file():
        raise ModelError(f"no re-ranker in {version_dir}: expected {folder / 'head.pt'}")
    settings = json.loads((folder / "reranker.json").read_text()) if (folder / "reranker.json").is_file() else {}
    if threads:
        torch.set_num_threads(threads)
    pipeline, _, _ = build_pipeline(str(settings.get("base", "")))
    transformer = transformer_of(pipeline)
    transformer.model = merged_lora(transformer.model, folder / "lora")
    state = torch.load(folder / "head.pt", map_location="cpu", weights_only=True)
    head = nn.Linear(state["weight"].shape[1], 1)
    head.load_state_dict(state)
    reranker = CrossEncoder(transformer, head, int(settings.get("max_length", MAX_PAIR_TOKENS)),
                            float(settings.get("rank_prior", 0.0)))
    reranker.eval()
    return reranker


def reranker_digest(version_dir: str | Path) -> str:
    """sha256 (hex) over the re-ranker's files, so a version's id changes with its re-ranker."""
    digest = hashlib.sha256()
    folder = Path(version_dir) / RERANKER_DIR
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()

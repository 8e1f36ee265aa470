"""Offline evaluation on real data: protocols, metrics, baseline rankers, reports."""
from __future__ import annotations

from coldstart.evaluation.metrics import (
    binary_ndcg_at_k,
    catalogue_coverage,
    mrr_at_k,
    ndcg_at_k,
    recall_at_k,
)

__all__ = ["binary_ndcg_at_k", "catalogue_coverage", "mrr_at_k", "ndcg_at_k", "recall_at_k"]

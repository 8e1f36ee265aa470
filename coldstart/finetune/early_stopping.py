"""Early stopping shared by the encoder's and the re-ranker's training loops."""
from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn


class EarlyStopping:
    """Keeps a copy of the trainable weights at the best validation `metric` so far and says when
    `patience` validations in a row brought no gain. Without validation scores it keeps the last."""

    def __init__(self, model: nn.Module, metric: str, patience: int) -> None:
        self.model, self.metric, self.patience = model, metric, patience
        self.best, self.waited, self.chosen_step = -1.0, 0, 0
        self._state: dict[str, torch.Tensor] | None = None

    def validated(self, step: int, scores: Mapping[str, float]) -> bool:
        """Record one validation; True when training should stop."""
        if not scores or scores[self.metric] > self.best:
            self.best, self.waited, self.chosen_step = scores.get(self.metric, self.best), 0, step
            self._state = {name: p.detach().clone() for name, p in self.model.named_parameters() if p.requires_grad}
            return False
        self.waited += 1
        return self.waited >= self.patience

    def finish(self, last_step: int) -> int:
        """Put the best weights back (if any validation ran); return the step they are from."""
        if self._state is None:
            return last_step
        with torch.no_grad():
            for name, param in self.model.named_parameters():
                if name in self._state:
                    param.copy_(self._state[name])
        return self.chosen_step

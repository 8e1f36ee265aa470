"""What the encoder's and the re-ranker's training loops share: one optimiser step, when to
validate, the warm-up schedule, early stopping."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn


def optimise(loss: torch.Tensor, optimiser: torch.optim.Optimizer,
             schedule: torch.optim.lr_scheduler.LRScheduler, bar: Any) -> None:
    """One step on `loss`: gradients, the optimiser, the schedule, and the progress bar."""
    optimiser.zero_grad()
    loss.backward()
    optimiser.step()
    schedule.step()
    bar.update(1)
    bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)


def validation_due(step: int, total: int, per_epoch: int, eval_every: int) -> bool:
    """Validate every `eval_every` steps (0: once per epoch) and after the last step."""
    due = step % eval_every == 0 if eval_every else step % per_epoch == 0
    return due or step == total


def warmup_linear(total: int, warmup: float = 0.1) -> Callable[[int], float]:
    """The learning-rate factor per step: a linear warm-up over `warmup` of the steps, then decay."""
    steps = max(1, int(total * warmup))
    return lambda s: (s + 1) / steps if s < steps else max(0.0, (total - s) / max(1, total - steps))


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

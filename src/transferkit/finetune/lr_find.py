"""Learning-rate range test (Smith, 2017): raise the LR exponentially over a few steps of the
shared loop's ``train_step`` and watch the loss."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from .loop import TrainConfig, Trainer, TrainingDiverged
from .model import FineTuneModel
from .strategies import Strategy, make_strategy


@dataclasses.dataclass
class LRFindResult:
    lrs: list[float]
    losses: list[float]  # exponentially smoothed training loss
    suggestion: float  # LR at the steepest descent of the smoothed loss
    min_loss_lr: float

    def table(self, rows: int = 12) -> str:
        """About ``rows`` evenly spaced (lr, smoothed loss) pairs as a plain-text table."""
        idx = np.unique(np.linspace(0, len(self.lrs) - 1, min(rows, len(self.lrs))).astype(int))
        lines = [f"{'lr':>10}  loss"] + [f"{self.lrs[i]:>10.2e}  {self.losses[i]:.4f}"
                                          for i in idx]
        return "\n".join(lines)


def lr_find(model: FineTuneModel, strategy: Strategy | str, items: Sequence[Any],
            codes: Any, config: TrainConfig | None = None, start: float = 1e-7,
            end: float = 1.0, steps: int = 60) -> LRFindResult:
    """Sweep the LR of every trained parameter (backbone and head alike) from ``start`` to
    ``end`` over ``steps`` steps (cycling through the data); stop once the loss explodes.

    Works on a copy: ``model`` keeps its weights, flags and mode. The recorded LR is the
    strategy's ``lr`` (the top group's; lower groups of e.g. ``gradual`` run below it)."""
    cfg = dataclasses.replace(config or TrainConfig(), lr=1.0, head_lr=1.0, warmup=0.0,
                              epochs=1)
    model = copy.deepcopy(model)
    strategy = make_strategy(strategy).resolve(model, items, np.asarray(codes))  # auto
    trainer = Trainer(model, strategy, cfg)
    trainer.setup(items, np.asarray(codes))
    optimizer = trainer.optimizer.optimizer if hasattr(trainer.optimizer, "optimizer") \
        else trainer.optimizer
    ratio = (end / start) ** (1 / max(1, steps - 1))
    trainer.scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda i: start * ratio ** min(i, steps - 1))
    from .model import set_train_modes

    set_train_modes(trainer.prepared, cfg.bn)
    lrs: list[float] = []
    losses: list[float] = []
    avg, best = 0.0, float("inf")
    step, epoch = 0, 0
    while step < steps:
        trainer.sampler.set_epoch(epoch)
        if hasattr(trainer.loader, "set_epoch"):
            trainer.loader.set_epoch(epoch)
        for inputs, labels in trainer.loader:
            lr = max(trainer.scheduler.get_last_lr())
            try:
                loss = trainer.train_step(inputs, labels)
            except TrainingDiverged:  # the sweep has gone past any useful LR
                step = steps
                break
            avg = 0.8 * avg + 0.2 * loss
            smooth = avg / (1 - 0.8 ** (step + 1))
            lrs.append(lr)
            losses.append(smooth)
            best = min(best, smooth)
            step += 1
            if step >= steps or not np.isfinite(smooth) or smooth > 4 * best:
                step = steps
                break
        epoch += 1
    arr = np.array(losses)
    slopes = np.gradient(arr, np.log(np.array(lrs))) if len(arr) > 2 else np.zeros(len(arr))
    cut = int(np.argmin(arr)) + 1
    suggestion = lrs[int(np.argmin(slopes[:cut]))] if cut > 1 else lrs[0]
    return LRFindResult(lrs, losses, float(suggestion), float(lrs[int(np.argmin(arr))]))

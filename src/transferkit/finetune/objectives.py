"""What the loop minimises: an :class:`Objective` turns a batch into a loss.

* :class:`Supervised` — the task's loss on labelled batches (fine-tuning);
* :class:`DomainObjective` — the task loss on labelled source batches plus
  ``trade_off * loss(features_s, features_t, logits_s, logits_t)`` on unlabelled target
  batches drawn beside them (deep domain adaptation; ``loss``: a
  :class:`transferkit.adapt.deep.DomainLoss`).

An objective knows the loop only through the :class:`~transferkit.finetune.loop.Trainer`
it is handed: its prepared model, its loaders and its progress.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from ..errors import TransferkitError
from ..tasks import Classification, Task

#: the :class:`~transferkit.finetune.loop.Trainer` (not imported: the loop imports this module)
Trainer = Any


class Objective:
    """Base class. ``task`` says what is predicted (its loss, activation, validation)."""

    #: whether the objective needs one process (no DDP) and no checkpoints
    single_process: bool = False
    #: what to lower when the loss diverges (the CLI flags)
    divergence_fix: str = "lower the learning rate (--lr)"

    def __init__(self, task: Task | None = None):
        self.task = task if task is not None else Classification()

    def setup(self, trainer: Trainer) -> None:
        """Called once the trainer's model, optimizer and loaders exist."""

    def parameters(self) -> list[torch.nn.Parameter]:
        """Parameters of the objective's own (discriminators) and of its task (loss
        weights) that train with the model, at the head's learning rate."""
        return self.task.parameters()

    def train(self) -> None:
        """Put the objective's own modules in train mode (each epoch)."""

    def loss(self, trainer: Trainer, inputs: dict[str, torch.Tensor], targets: torch.Tensor
             ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(task loss, total loss)`` of a batch: the first is reported, the second is
        minimised (the strategy's regulariser is added by the loop)."""
        raise NotImplementedError


class Supervised(Objective):
    """The task's training loss on the model's outputs (and on the shared features, for a
    task that asks for them: :attr:`~transferkit.tasks.Task.needs_features`)."""

    def loss(self, trainer, inputs, targets):
        if self.task.needs_features:
            features, outputs = trainer.prepared(return_features=True, **inputs)
        else:
            features, outputs = None, trainer.prepared(**inputs)
        loss = self.task.training_loss(outputs, targets, features)
        return loss, loss


class DomainObjective(Objective):
    """Deep domain adaptation in the same loop: unlabelled ``target_items`` are drawn batch
    by batch beside the labelled source batches, and ``trade_off * loss(...)`` is added to
    the source task loss (``loss=None``: source only, the same loop without the term).
    Before each step the loss module's ``progress`` is set (0 -> 1 over training)."""

    single_process = True
    divergence_fix = "lower the learning rate (--lr) or the trade-off (--trade-off)"

    def __init__(self, loss: torch.nn.Module | None, target_items: Sequence[Any],
                 trade_off: float = 1.0, task: Task | None = None):
        super().__init__(task)
        self.domain_loss, self.target_items, self.trade_off = loss, target_items, trade_off

    def setup(self, trainer):
        if self.domain_loss is None:
            return
        if not len(self.target_items):
            raise TransferkitError("the target domain holds no samples",
                                   "give unlabelled target data")
        self.domain_loss.to(trainer.accelerator.device)  # it lives with the model
        self._loader = trainer.loader_for(self.target_items, None, train=True,
                                          seed_offset=7919)
        self._passes = 0
        self._iter = iter(self._loader)

    def parameters(self):
        own = [] if self.domain_loss is None else list(self.domain_loss.parameters())
        return own + self.task.parameters()

    def train(self):
        if self.domain_loss is not None:
            self.domain_loss.train()

    def _next_target(self, trainer: Trainer) -> dict[str, torch.Tensor]:
        """The next unlabelled target batch (the target loader cycles, reshuffled per pass)."""
        batch = next(self._iter, None)
        if batch is None:
            self._passes += 1
            self._loader.sampler.set_epoch(self._passes)
            self._iter = iter(self._loader)
            batch = next(self._iter)
        device = trainer.accelerator.device  # the source batches are moved by Accelerate
        return trainer.augmented({k: v.to(device) for k, v in batch[0].items()})

    def loss(self, trainer, inputs, targets):
        if self.domain_loss is None:
            loss = self.task.loss(trainer.prepared(**inputs), targets)
            return loss, loss
        # Source and target go through the model in one batch when their tensors have the
        # same shape (BatchNorm then sees both domains).
        target = self._next_target(trainer)
        n = next(iter(inputs.values())).shape[0]
        if all(inputs[k].shape[1:] == target[k].shape[1:] for k in inputs):
            joint = {k: torch.cat([inputs[k], target[k]]) for k in inputs}
            features, logits = trainer.prepared(return_features=True, **joint)
            f_s, f_t, z_s, z_t = features[:n], features[n:], logits[:n], logits[n:]
        else:  # e.g. text batches padded to different lengths
            f_s, z_s = trainer.prepared(return_features=True, **inputs)
            f_t, z_t = trainer.prepared(return_features=True, **target)
        self.domain_loss.progress = trainer.progress
        term = self.domain_loss(f_s.float(), f_t.float(), z_s.float(), z_t.float())
        loss = self.task.loss(z_s, targets)
        return loss, loss + self.trade_off * term

"""``l2sp``: fine-tune everything, pulled towards the pretrained weights (Li et al., 2018).

Loss term: ``alpha/2 * ||w - w0||^2`` over backbone weights (``w0`` = pretrained) plus
``beta/2 * ||head weights||^2``. Weight decay is off for this strategy (the term replaces it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from ...errors import TransferkitError
from ..model import FineTuneModel, unwrap
from . import register_strategy
from .base import Strategy, freeze

if TYPE_CHECKING:
    import optuna


@register_strategy("l2sp")
class L2SP(Strategy):
    default_lr = 5e-5

    def __init__(self, alpha: float = 0.01, beta: float = 0.01):
        if alpha < 0 or beta < 0:
            raise TransferkitError(f"l2sp needs alpha, beta >= 0 (got {alpha}, {beta})",
                                   "pass non-negative penalties")
        self.alpha = float(alpha)
        self.beta = float(beta)
        self._w0: dict[str, torch.Tensor] = {}

    def options(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "beta": self.beta}

    @classmethod
    def search_space(cls, trial: optuna.Trial, **context: Any) -> dict[str, Any]:
        """The pull to the pretrained weights ``alpha`` and the head's ``beta``, log-uniform
        over 1e-4 .. 1."""
        return {"alpha": trial.suggest_float(f"{cls.name}.alpha", 1e-4, 1.0, log=True),
                "beta": trial.suggest_float(f"{cls.name}.beta", 1e-4, 1.0, log=True)}

    def apply(self, model: FineTuneModel) -> nn.Module:
        freeze(model, False)
        # the starting point: copied once, before any step (and before a resume loads weights)
        self._w0 = {n: p.detach().clone() for n, p in model.backbone.named_parameters()}
        return model

    def param_groups(self, model: nn.Module, lr: float, head_lr: float) -> list[dict[str, Any]]:
        groups = super().param_groups(model, lr, head_lr)
        for g in groups:
            g["weight_decay"] = 0.0
        return groups

    def regularizer(self, model: nn.Module) -> torch.Tensor:
        inner = unwrap(model)
        sp = sum(((p - self._w0[n].to(p.device)) ** 2).sum()
                 for n, p in inner.backbone.named_parameters() if p.requires_grad)
        head = (inner.head.weight ** 2).sum()
        return 0.5 * self.alpha * sp + 0.5 * self.beta * head

"""``gradual``: ULMFiT/fastai-style gradual unfreezing with discriminative learning rates.

Epoch 0 trains the head only; each further epoch unfreezes one more layer group, from the
top (output side) down. Group ``i`` of ``n`` (0 = input side) gets ``lr * decay**(n-1-i)``:
earlier groups learn more slowly (Howard & Ruder, 2018, use decay = 1/2.6).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from torch import nn

from ...errors import TransferkitError
from ..model import FineTuneModel, unwrap
from . import register_strategy
from .base import Strategy, _split_decay, freeze

if TYPE_CHECKING:
    import optuna


@register_strategy("gradual")
class Gradual(Strategy):
    default_lr = 1e-4
    dynamic = True

    def __init__(self, decay: float = 1 / 2.6, per_epoch: int = 1):
        if not 0 < decay <= 1 or per_epoch < 1:
            raise TransferkitError(
                f"gradual needs 0 < decay <= 1 and per_epoch >= 1 (got {decay}, {per_epoch})",
                "e.g. decay=0.38, per_epoch=1")
        self.decay = float(decay)
        self.per_epoch = int(per_epoch)

    def options(self) -> dict[str, Any]:
        return {"decay": self.decay, "per_epoch": self.per_epoch}

    @classmethod
    def search_space(cls, trial: optuna.Trial, **context: Any) -> dict[str, Any]:
        """The discriminative rate ``decay`` (0.2 .. 1; ULMFiT's is 1/2.6)."""
        return {"decay": trial.suggest_float(f"{cls.name}.decay", 0.2, 1.0)}

    def apply(self, model: FineTuneModel) -> nn.Module:
        freeze(model.backbone)
        freeze(model.head, False)
        return model

    def param_groups(self, model: nn.Module, lr: float, head_lr: float) -> list[dict[str, Any]]:
        """Every backbone group is in the optimizer from the start (frozen ones get no
        gradient, so AdamW leaves them alone) with its discriminative rate."""
        inner = unwrap(model)
        groups = inner.layer_groups()
        n = len(groups)
        out: list[dict[str, Any]] = []
        for i, group in enumerate(groups):
            named = [(f"{group.name}.{j}", p) for j, p in enumerate(group.parameters())]
            out += _split_decay(named, lr * self.decay ** (n - 1 - i))
        out += _split_decay(list(inner.head.named_parameters()), head_lr)
        return out

    def on_epoch_start(self, model: nn.Module, epoch: int) -> None:
        groups = unwrap(model).layer_groups()
        n_open = min(len(groups), epoch * self.per_epoch)
        for i, group in enumerate(groups):
            for m in group.modules:
                freeze(m, i < len(groups) - n_open)

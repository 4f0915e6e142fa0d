"""``finetune``: every parameter trains (backbone at ``lr``, the new head at ``head_lr``)."""

from __future__ import annotations

from torch import nn

from ..model import FineTuneModel
from . import register_strategy
from .base import Strategy, freeze


@register_strategy("finetune")
class FullFineTune(Strategy):
    default_lr = 5e-5

    def apply(self, model: FineTuneModel) -> nn.Module:
        freeze(model, False)
        return model

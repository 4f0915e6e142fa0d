"""``linear-probe``: the backbone is frozen (and runs in eval mode); only the head trains."""

from __future__ import annotations

from torch import nn

from ..model import FineTuneModel
from . import register_strategy
from .base import Strategy, freeze


@register_strategy("linear-probe")
class LinearProbe(Strategy):
    default_lr = 1e-3

    def apply(self, model: FineTuneModel) -> nn.Module:
        freeze(model.backbone)
        freeze(model.head, False)
        return model

"""``bitfit``: only bias terms of the backbone train, plus the head (Ben Zaken et al., 2022).

BatchNorm layers keep their running statistics (their scale is frozen, see ``bn``)."""

from __future__ import annotations

from torch import nn

from ...errors import TransferkitError
from ..model import FineTuneModel
from . import register_strategy
from .base import Strategy, freeze


@register_strategy("bitfit")
class BitFit(Strategy):
    default_lr = 1e-3

    def apply(self, model: FineTuneModel) -> nn.Module:
        freeze(model.backbone)
        n = 0
        for name, p in model.backbone.named_parameters():
            if name.split(".")[-1] == "bias":
                p.requires_grad_(True)
                n += 1
        if n == 0:
            raise TransferkitError(
                f"backbone '{model.backbone.name}' has no bias terms for bitfit",
                "use strategy 'partial' or 'lora'",
            )
        freeze(model.head, False)
        return model

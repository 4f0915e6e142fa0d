"""MCC (Jin et al., ECCV 2020): minimum class confusion on target predictions.

No discriminator: it penalises how often the target predictions of a batch confuse two
classes (the off-diagonal mass of the entropy-weighted class-correlation matrix).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from .base import DomainLoss, check_positive, entropy, register_domain_loss

if TYPE_CHECKING:
    import optuna


def class_confusion(logits: torch.Tensor, temperature: float = 2.5) -> torch.Tensor:
    """MCC loss of target ``logits (B, C)``: mean off-diagonal row-normalised confusion."""
    p = torch.softmax(logits.float() / temperature, dim=1)
    w = 1.0 + torch.exp(-entropy(p.detach()))
    w = len(p) * w / w.sum()
    confusion = (p * w.unsqueeze(1)).T @ p  # (C, C)
    confusion = confusion / confusion.sum(dim=1, keepdim=True).clamp_min(1e-12)
    n_classes = p.shape[1]
    return (confusion.sum() - confusion.trace()) / n_classes


@register_domain_loss("mcc")
class MinimumClassConfusionLoss(DomainLoss):
    """``temperature``: softmax temperature applied to target logits (paper: 2.5)."""

    def __init__(self, feature_dim: int, n_classes: int, temperature: float = 2.5):
        super().__init__(feature_dim, n_classes)
        check_positive(self.name, temperature=temperature)
        self.temperature = float(temperature)

    def forward(self, features_s, features_t, logits_s, logits_t) -> torch.Tensor:
        return class_confusion(logits_t, self.temperature)

    def options(self) -> dict[str, Any]:
        return {"temperature": self.temperature}

    @classmethod
    def search_space(cls, trial: optuna.Trial) -> dict[str, Any]:
        """The probability ``temperature``, 1 .. 5 (the paper's default is 2.5)."""
        return {"temperature": trial.suggest_float(f"{cls.name}.temperature", 1.0, 5.0)}

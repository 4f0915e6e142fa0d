"""Deep CORAL (Sun & Saenko, ECCV-W 2016): match second-order feature statistics."""

from __future__ import annotations

import torch

from .base import DomainLoss, register_domain_loss


def coral_distance(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``||C_x - C_y||_F^2 / (4 D^2)`` for features ``x (n, D)``, ``y (m, D)``."""
    def cov(a: torch.Tensor) -> torch.Tensor:
        a = a - a.mean(dim=0, keepdim=True)
        return a.T @ a / max(len(a) - 1, 1)

    d = x.shape[1]
    return (cov(x) - cov(y)).pow(2).sum() / (4 * d * d)


@register_domain_loss("deep-coral")
class DeepCORALLoss(DomainLoss):
    """Deep CORAL: ``||C_s - C_t||_F^2 / (4 d^2)`` between the feature covariances of the
    source and target batches (Sun & Saenko, ECCV-W 2016); no options."""

    def forward(self, features_s, features_t, logits_s, logits_t) -> torch.Tensor:
        return coral_distance(features_s, features_t)

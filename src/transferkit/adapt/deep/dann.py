"""DANN (Ganin et al., JMLR 2016): a domain discriminator behind a gradient-reversal layer.

The discriminator learns to tell source from target features; the reversed gradient makes
the backbone produce features it cannot tell apart. The reversal coefficient warms up from 0
to ``high`` (``grl_coefficient``), so early, noisy discriminator gradients do no harm.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from .base import (
    DomainLoss,
    check_positive,
    grl_coefficient,
    mlp_discriminator,
    register_domain_loss,
    reverse_gradient,
)

if TYPE_CHECKING:
    import optuna


def domain_bce(d_s: torch.Tensor, d_t: torch.Tensor, w_s: torch.Tensor | None = None,
               w_t: torch.Tensor | None = None) -> torch.Tensor:
    """Binary cross-entropy of discriminator logits: source -> 1, target -> 0 (optionally
    weighted per sample), averaged over the two domains."""
    loss_s = F.binary_cross_entropy_with_logits(d_s.squeeze(1), torch.ones_like(d_s[:, 0]),
                                                weight=w_s)
    loss_t = F.binary_cross_entropy_with_logits(d_t.squeeze(1), torch.zeros_like(d_t[:, 0]),
                                                weight=w_t)
    return 0.5 * (loss_s + loss_t)


@register_domain_loss("dann")
class DomainAdversarialLoss(DomainLoss):
    """``hidden``: discriminator width; ``high``/``gamma``: the reversal schedule."""

    def __init__(self, feature_dim: int, n_classes: int, hidden: int = 1024,
                 high: float = 1.0, gamma: float = 10.0):
        super().__init__(feature_dim, n_classes)
        check_positive(self.name, hidden=hidden, high=high, gamma=gamma)
        self.hidden, self.high, self.gamma = int(hidden), float(high), float(gamma)
        self.discriminator = mlp_discriminator(feature_dim, self.hidden)

    def coefficient(self) -> float:
        """The gradient-reversal coefficient at the current :attr:`progress` ``p``:
        ``high * (2 / (1 + exp(-gamma * p)) - 1)``, rising from 0 to ``high``."""
        return grl_coefficient(self.progress, self.high, self.gamma)

    def forward(self, features_s, features_t, logits_s, logits_t) -> torch.Tensor:
        f = reverse_gradient(torch.cat([features_s, features_t]), self.coefficient())
        d = self.discriminator(f)
        return domain_bce(d[: len(features_s)], d[len(features_s):])

    def options(self) -> dict[str, Any]:
        return {"hidden": self.hidden, "high": self.high, "gamma": self.gamma}

    @classmethod
    def search_space(cls, trial: optuna.Trial) -> dict[str, Any]:
        """The discriminator's width (256 or 1024)."""
        return {"hidden": trial.suggest_categorical(f"{cls.name}.hidden", [256, 1024])}

"""DAN (Long et al., ICML 2015): multi-kernel MMD between source and target features."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from ...errors import TransferkitError
from .base import DomainLoss, check_positive, register_domain_loss


def multi_kernel_mmd(x: torch.Tensor, y: torch.Tensor,
                     multipliers: Sequence[float] = (0.125, 0.25, 0.5, 1.0, 2.0)
                     ) -> torch.Tensor:
    """Squared MMD between ``x (n, D)`` and ``y (m, D)`` under a sum of Gaussian kernels whose
    widths are ``multipliers`` times the mean pairwise squared distance of the batch.

    Minibatch estimate: (n + m)^2 kernel entries, never a dataset-sized matrix."""
    z = torch.cat([x, y])
    d2 = torch.cdist(z, z).pow(2)
    base = d2.detach().mean().clamp_min(1e-12)
    k = sum(torch.exp(-d2 / (base * m)) for m in multipliers) / len(multipliers)
    n = len(x)
    return k[:n, :n].mean() + k[n:, n:].mean() - 2 * k[:n, n:].mean()


@register_domain_loss("dan")
class MultipleKernelMMD(DomainLoss):
    """MK-MMD on the backbone features; ``multipliers``: the Gaussian widths (relative)."""

    def __init__(self, feature_dim: int, n_classes: int,
                 multipliers: Sequence[float] = (0.125, 0.25, 0.5, 1.0, 2.0)):
        super().__init__(feature_dim, n_classes)
        if not len(multipliers):
            raise TransferkitError("dan needs at least one kernel width multiplier",
                                   "pass e.g. multipliers=[0.5, 1, 2] or leave the default")
        check_positive(self.name, **{f"multiplier {m}": m for m in multipliers})
        self.multipliers = tuple(float(m) for m in multipliers)

    def forward(self, features_s, features_t, logits_s, logits_t) -> torch.Tensor:
        return multi_kernel_mmd(features_s, features_t, self.multipliers)

    def options(self) -> dict[str, Any]:
        return {"multipliers": list(self.multipliers)}

"""CDAN(+E) (Long et al., NeurIPS 2018): the discriminator sees features *and* predictions.

Its input is the multilinear map ``p ⊗ f`` (flattened outer product of the softmax and the
features), or a random projection of it when ``C * D`` exceeds ``max_dim``. With
``entropy=True`` (CDAN+E, the default) confident samples weigh more: ``w = 1 + exp(-H(p))``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from .base import (
    DomainLoss,
    check_positive,
    entropy,
    grl_coefficient,
    mlp_discriminator,
    register_domain_loss,
    reverse_gradient,
)
from .dann import domain_bce

if TYPE_CHECKING:
    import optuna


class RandomizedMultilinearMap(nn.Module):
    """``(f (N, D), p (N, C)) -> (f R_f) * (p R_p) / sqrt(out)`` with fixed random R's, drawn
    from ``seed`` or, when None, from torch's global generator (which the deep estimator
    seeds with its ``random_state``)."""

    def __init__(self, feature_dim: int, n_classes: int, out_dim: int, seed: int | None = None):
        super().__init__()
        gen = None if seed is None else torch.Generator().manual_seed(seed)
        self.register_buffer("rf", torch.randn(feature_dim, out_dim, generator=gen))
        self.register_buffer("rp", torch.randn(n_classes, out_dim, generator=gen))
        self.out_dim = out_dim

    def forward(self, f: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        return (f @ self.rf) * (p @ self.rp) / self.out_dim**0.5


@register_domain_loss("cdan")
class ConditionalDomainAdversarialLoss(DomainLoss):
    """``entropy``: CDAN+E weighting; ``max_dim``: above it the map is randomised to
    ``random_dim`` (the paper randomises above 4096; 8192 here keeps LeNet's 500 x 10 map
    exact, as TLlib's default, which never randomises); ``hidden``, ``high``, ``gamma``: as
    in DANN."""

    def __init__(self, feature_dim: int, n_classes: int, entropy: bool = True,
                 hidden: int = 1024, max_dim: int = 8192, random_dim: int = 1024,
                 high: float = 1.0, gamma: float = 10.0):
        super().__init__(feature_dim, n_classes)
        check_positive(self.name, hidden=hidden, max_dim=max_dim, random_dim=random_dim,
                       high=high, gamma=gamma)
        self.use_entropy, self.hidden, self.high, self.gamma = bool(entropy), int(hidden), \
            float(high), float(gamma)
        self.max_dim, self.random_dim = int(max_dim), int(random_dim)
        self.randomized = feature_dim * n_classes > self.max_dim
        self.map = (RandomizedMultilinearMap(feature_dim, n_classes, self.random_dim)
                    if self.randomized else None)
        in_dim = self.random_dim if self.randomized else feature_dim * n_classes
        self.discriminator = mlp_discriminator(in_dim, self.hidden)

    def _joint(self, f: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        if self.map is not None:
            return self.map(f, p)
        return torch.bmm(p.unsqueeze(2), f.unsqueeze(1)).flatten(1)  # (N, C*D)

    def forward(self, features_s, features_t, logits_s, logits_t) -> torch.Tensor:
        f = torch.cat([features_s, features_t])
        p = torch.softmax(torch.cat([logits_s, logits_t]).float(), dim=1).detach()
        coeff = grl_coefficient(self.progress, self.high, self.gamma)
        d = self.discriminator(reverse_gradient(self._joint(f, p.to(f.dtype)), coeff))
        n = len(features_s)
        w_s = w_t = None
        if self.use_entropy:
            w = 1.0 + torch.exp(-entropy(p))
            w_s, w_t = w[:n] / w[:n].sum() * n, w[n:] / w[n:].sum() * (len(w) - n)
        return domain_bce(d[:n], d[n:], w_s, w_t)

    def options(self) -> dict[str, Any]:
        return {"entropy": self.use_entropy, "hidden": self.hidden, "max_dim": self.max_dim,
                "random_dim": self.random_dim, "high": self.high, "gamma": self.gamma}

    @classmethod
    def search_space(cls, trial: optuna.Trial) -> dict[str, Any]:
        """CDAN or CDAN+E (``entropy``) and the discriminator's width (256 or 1024)."""
        return {"entropy": trial.suggest_categorical(f"{cls.name}.entropy", [True, False]),
                "hidden": trial.suggest_categorical(f"{cls.name}.hidden", [256, 1024])}

"""Shared helpers of the deep domain-adaptation tests: shifted feature batches and a tiny
image source/target pair (seconds on 2 CPU cores)."""

from __future__ import annotations

import numpy as np
import torch


def shifted_batches(n: int = 64, d: int = 8, shift: float = 2.0, seed: int = 0
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Source ``N(0, I)`` and target ``N(shift, 2I)`` feature batches ``(n, d)``."""
    gen = torch.Generator().manual_seed(seed)
    source = torch.randn(n, d, generator=gen)
    target = shift + 2.0 * torch.randn(n, d, generator=gen)
    return source, target


def train_features_against(loss_module: torch.nn.Module, steps: int = 60, lr: float = 0.05,
                           n_classes: int = 3) -> tuple[float, float]:
    """Let a learnable target batch minimise ``loss_module`` (its own parameters train too).
    Returns the mean-difference norm between the domains (before, after)."""
    torch.manual_seed(0)
    source, target = shifted_batches(d=loss_module.feature_dim)
    target = target.clone().requires_grad_(True)
    logits = torch.randn(len(source), n_classes)
    params = [target, *loss_module.parameters()]
    opt = torch.optim.Adam(params, lr=lr)
    before = float((source.mean(0) - target.detach().mean(0)).norm())
    for step in range(steps):
        loss_module.progress = step / steps
        loss = loss_module(source, target, logits, logits)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return before, float((source.mean(0) - target.detach().mean(0)).norm())


def digit_domains(n: int = 120, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                         np.ndarray]:
    """scikit-learn 8x8 digits (classes 0-2) as source; the same digits inverted and
    brighter as target. Returns ``(Xs uint8 (n,8,8), ys, Xt, yt)``."""
    from sklearn.datasets import load_digits

    digits = load_digits(n_class=3)
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(digits.target))
    s, t = idx[:n], idx[n:2 * n]
    images = (digits.images * (255 / 16)).astype(np.uint8)
    target = (255 - images[t] // 2).astype(np.uint8)
    return images[s], digits.target[s], target, digits.target[t]


def discriminator_learns(loss_module: torch.nn.Module, steps: int = 100) -> tuple[float, float]:
    """Train only the module's parameters on fixed shifted batches: (first, last) loss."""
    torch.manual_seed(0)
    source, target = shifted_batches(d=loss_module.feature_dim)
    logits = torch.randn(len(source), loss_module.n_classes)
    opt = torch.optim.Adam(loss_module.parameters(), lr=0.01)
    values = []
    for _ in range(steps):
        loss_module.progress = 1.0
        value = loss_module(source, target, logits, logits)
        opt.zero_grad()
        value.backward()
        opt.step()
        values.append(float(value.detach()))
    return values[0], values[-1]


def feature_gradients(loss_module: torch.nn.Module, progress: float = 0.5
                      ) -> tuple[torch.Tensor, float]:
    """Gradient of the loss w.r.t. the target features, and the reversal coefficient."""
    from transferkit.adapt.deep import grl_coefficient

    torch.manual_seed(0)
    source, target = shifted_batches(n=16, d=loss_module.feature_dim)
    target.requires_grad_(True)
    logits = torch.randn(16, loss_module.n_classes)
    loss_module.progress = progress
    loss_module(source, target, logits, logits).backward()
    return target.grad.clone(), grl_coefficient(progress, loss_module.high, loss_module.gamma)


def assert_gradient_reversed(loss_module: torch.nn.Module, method_module, monkeypatch) -> None:
    """With the reversal layer replaced by the identity the feature gradient must be the
    reversed one divided by ``-coefficient``."""
    reversed_grad, coeff = feature_gradients(loss_module)
    monkeypatch.setattr(method_module, "reverse_gradient", lambda x, c: x)
    plain_grad, _ = feature_gradients(loss_module)
    assert coeff > 0 and plain_grad.abs().sum() > 0
    torch.testing.assert_close(reversed_grad, -coeff * plain_grad, atol=1e-6, rtol=1e-4)

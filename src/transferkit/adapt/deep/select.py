"""Choosing the epoch of a deep domain-adaptation run without target labels.

Each epoch, :func:`epoch_selector` scores the model on held-out labelled *source* samples and
on (a sample of) the unlabelled target, with the same selectors as the shallow methods
(:mod:`transferkit.adapt.validation`): ``dev`` (default), ``iwv``, ``snd``, ``entropy``,
``source-accuracy`` (plain source validation, blind to the shift), or ``last`` (no
selection: the weights after the last epoch, i.e. a training length fixed in advance; the
held-out source accuracy is still reported). For ``dev``/``iwv`` the
risk is the importance-weighted cross-entropy on the held-out source samples (as in the DEV
paper), the weights ``p_t(x)/p_s(x)`` from an out-of-fold domain classifier on the epoch's
features (held-out source vs target). ``iwv`` rescales them to mean 1 on the held-out
samples (self-normalised); ``dev`` keeps the raw ratios (capped at ``WEIGHT_CAP``), whose mean
differs from 1 by the classifier's error, and corrects that with its control variate.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from torch import nn

from ...data.dataset import take
from ...errors import TransferkitError
from ...finetune.loop import predict_outputs
from ..base import density_ratio, domain_target_probability, odds_to_weights
from ..validation import DEFAULT_SELECTOR, dev_risk, entropy_score, iwv_risk, snd_score

MIN_TARGET = 10  # fewer target samples make the target-scoring selectors meaningless
WEIGHT_CAP = 10.0  # no held-out source sample counts for more than this many


def _raw_ratios(p_target: np.ndarray, n_source: int, n_target: int) -> np.ndarray:
    """Capped, not rescaled: rescaling to mean 1 would zero DEV's control variate."""
    return np.minimum(density_ratio(p_target, n_source, n_target), WEIGHT_CAP)


def _self_normalised(p_target: np.ndarray, n_source: int, n_target: int) -> np.ndarray:
    return odds_to_weights(p_target, n_source, n_target, WEIGHT_CAP)


#: held-out selectors: (risk of per-sample losses and weights, weights from p(target | x))
HOLDOUT = {"dev": (dev_risk, _raw_ratios), "iwv": (iwv_risk, _self_normalised)}
TARGET_ONLY = {"snd": snd_score, "entropy": entropy_score}
DEEP_SELECTORS = (*HOLDOUT, *TARGET_ONLY, "source-accuracy", "last")
__all__ = ["DEEP_SELECTORS", "DEFAULT_SELECTOR", "epoch_selector", "oracle_monitor"]


def _standardise(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    both = np.vstack([a, b])
    mu, sd = both.mean(0), both.std(0) + 1e-6
    return (a - mu) / sd, (b - mu) / sd


def epoch_selector(name: str, X_val: Any, codes_val: np.ndarray | None, X_target: Any,
                   max_target: int = 2000, seed: int = 0, batch_size: int = 64
                   ) -> Callable[[nn.Module], dict[str, float]]:
    """``module -> {"selection_score": s (higher is better), "source_val_accuracy": a}``.

    ``X_val``/``codes_val``: held-out labelled source samples (may be None for ``snd``,
    ``entropy`` and ``last``); ``X_target``: unlabelled target samples (``max_target``
    drawn, seeded)."""
    if name not in DEEP_SELECTORS:
        raise TransferkitError(f"unknown selector '{name}'",
                               f"use one of: {', '.join(DEEP_SELECTORS)}")
    has_source = X_val is not None and codes_val is not None and len(codes_val) >= 2
    needs_source = name in HOLDOUT or name == "source-accuracy"
    epochs_scored = 0
    if needs_source and not has_source:
        raise TransferkitError(f"selector '{name}' needs held-out labelled source samples",
                               "give more labelled source samples (validation_fraction > 0) "
                               "or pick selector 'entropy', 'snd' or 'last'")
    scores_target = name in HOLDOUT or name in TARGET_ONLY
    if scores_target:
        n_t = len(X_target)
        if n_t < MIN_TARGET:
            raise TransferkitError(
                f"selector '{name}' scores the unlabelled target, which holds only {n_t} "
                f"samples (at least {MIN_TARGET} needed)",
                "give more target samples, or pick selector 'source-accuracy' or 'last'")
        rng = np.random.default_rng(seed)
        X_t = take(X_target, np.sort(rng.choice(n_t, min(n_t, max_target), replace=False)))

    def score(module: nn.Module) -> dict[str, float]:
        nonlocal epochs_scored
        epochs_scored += 1
        out: dict[str, float] = {}
        if scores_target:
            f_t, p_t = predict_outputs(module, X_t, batch_size)
        if has_source:
            f_s, p_s = predict_outputs(module, X_val, batch_size)
            out["source_val_accuracy"] = float((p_s.argmax(1) == codes_val).mean())
        if name in HOLDOUT:
            # the per-sample cross-entropy, as in the DEV paper (smoother than 0/1 errors)
            losses = -np.log(np.clip(p_s[np.arange(len(codes_val)), codes_val], 1e-12, None))
            zs, zt = _standardise(f_s.astype(np.float64), f_t.astype(np.float64))
            p_target_given_s, _ = domain_target_probability(zs, zt, random_state=seed)
            risk, weighting = HOLDOUT[name]
            out["selection_score"] = -risk(losses, weighting(p_target_given_s, len(zs), len(zt)))
        elif name in TARGET_ONLY:
            out["selection_score"] = TARGET_ONLY[name](p_t)
        elif name == "last":  # every epoch beats the previous one: the last is kept
            out["selection_score"] = float(epochs_scored)
        else:
            out["selection_score"] = out["source_val_accuracy"]
        return out

    return score


def oracle_monitor(X_test: Any, codes_test: np.ndarray, batch_size: int = 64
                   ) -> Callable[[nn.Module], dict[str, float]]:
    """Labelled target test accuracy per epoch: reported, never used to select."""
    def monitor(module: nn.Module) -> dict[str, float]:
        _, proba = predict_outputs(module, X_test, batch_size, features=False)
        return {"oracle_test_accuracy": float((proba.argmax(1) == codes_test).mean())}

    return monitor

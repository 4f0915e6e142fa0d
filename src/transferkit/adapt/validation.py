"""Label-free model selection: pick hyperparameters without any target label.

Selectors (higher score = better model):

* ``dev`` (default): deep embedded validation (You et al., ICML 2019) -- the importance-weighted
  error on held-out *source* samples with a control variate that cancels most of the variance
  of the weights. Weights ``p_t(x)/p_s(x)`` come from an out-of-fold domain classifier.
* ``iwv``: importance-weighted validation (Sugiyama et al., JMLR 2007), the same without the
  control variate.
* ``snd``: soft neighbourhood density of the target predictions (Saito et al., ICCV 2021);
  needs ``predict_proba``.
* ``entropy``: minus the mean entropy of the target predictions; needs ``predict_proba``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.model_selection import ParameterGrid, train_test_split
from sklearn.utils.validation import check_is_fitted

from transferkit.adapt.base import (
    AdaptWarning,
    BaseAdapter,
    check_domains,
    domain_target_probability,
    odds_to_weights,
)
from transferkit.errors import TransferkitError, check
from transferkit.progress import steps


def iwv_risk(losses: np.ndarray, weights: np.ndarray) -> float:
    """Importance-weighted mean of per-sample ``losses (n,)`` with ``weights (n,)``."""
    return float(np.mean(weights * losses))


def dev_risk(losses: np.ndarray, weights: np.ndarray) -> float:
    """DEV risk: weighted loss plus the control variate ``eta * (mean(w) - 1)``."""
    weighted = weights * losses
    var = float(np.var(weights, ddof=1)) if weights.size > 1 else 0.0
    # weights equal up to rounding carry no control variate: dividing by a variance of
    # rounding noise would make eta (and the risk) arbitrary
    if not var > 1e-12 * float(np.mean(weights)) ** 2:
        return float(weighted.mean() / weights.mean())  # the limit: the plain mean loss
    eta = -float(np.cov(weighted, weights)[0, 1]) / var
    return float(weighted.mean() + eta * weights.mean() - eta)


def entropy_score(proba: np.ndarray) -> float:
    """Minus the mean prediction entropy of ``proba (n, n_classes)``."""
    p = np.clip(proba, 1e-12, 1.0)
    return float(np.mean(np.sum(p * np.log(p), axis=1)))


def snd_score(proba: np.ndarray, temperature: float = 0.05, max_samples: int = 2000,
              random_state: int | None = 0) -> float:
    """Soft neighbourhood density of target predictions ``proba (n, n_classes)``."""
    rng = np.random.default_rng(random_state)
    if proba.shape[0] > max_samples:
        proba = proba[rng.choice(proba.shape[0], size=max_samples, replace=False)]
    unit = proba / np.maximum(np.linalg.norm(proba, axis=1, keepdims=True), 1e-12)
    sim = unit @ unit.T / temperature
    np.fill_diagonal(sim, -np.inf)
    sim -= sim.max(axis=1, keepdims=True)
    soft = np.exp(sim)
    soft /= soft.sum(axis=1, keepdims=True)
    return float(-np.mean(np.sum(soft * np.log(np.clip(soft, 1e-12, 1.0)), axis=1)))


@dataclass
class SelectionData:
    """What a selector may look at: held-out source samples, their weights, the target."""

    Xs_val: np.ndarray | None
    ys_val: np.ndarray | None
    w_val: np.ndarray | None
    Xt: np.ndarray


@dataclass
class Selector:
    """A label-free score; ``holdout`` selectors need held-out source samples and weights."""

    score: Callable[[Any, SelectionData], float]
    holdout: bool


def _source_errors(model: Any, data: SelectionData) -> np.ndarray:
    return (model.predict(data.Xs_val, domain="source") != data.ys_val).astype(np.float64)


def _target_proba(model: Any, data: SelectionData) -> np.ndarray:
    if not hasattr(model, "predict_proba"):
        raise TransferkitError(
            f"{type(model).__name__} gives no class probabilities, which this selector needs",
            "use selector='dev' or an estimator with predict_proba",
        )
    return model.predict_proba(data.Xt)


SELECTORS: dict[str, Selector] = {
    "dev": Selector(lambda m, d: -dev_risk(_source_errors(m, d), d.w_val), holdout=True),
    "iwv": Selector(lambda m, d: -iwv_risk(_source_errors(m, d), d.w_val), holdout=True),
    "snd": Selector(lambda m, d: snd_score(_target_proba(m, d)), holdout=False),
    "entropy": Selector(lambda m, d: entropy_score(_target_proba(m, d)), holdout=False),
}
DEFAULT_SELECTOR = "dev"


class LabelFreeSearch(BaseEstimator):
    """Grid search over an adapter's hyperparameters scored without target labels.

    ``fit(Xs, ys, Xt)`` fits one clone per point of ``param_grid`` and keeps the best by
    ``selector``; ``results_`` lists every candidate's score and ``best_estimator_`` is refit
    on all source data. With a ``holdout`` selector (``dev``, ``iwv``) the candidates are
    trained on ``1 - holdout`` of the source and scored on the rest.
    """

    def __init__(self, adapter: BaseAdapter, param_grid: dict[str, list[Any]] | list[dict],
                 selector: str = DEFAULT_SELECTOR, holdout: float = 0.3,
                 domain_classifier: Any = None, refit: bool = True,
                 random_state: int | None = 0) -> None:
        self.adapter = adapter
        self.param_grid = param_grid
        self.selector = selector
        self.holdout = holdout
        self.domain_classifier = domain_classifier
        self.refit = refit
        self.random_state = random_state

    def fit(self, Xs: Any, ys: Any, Xt: Any, *extra: Any, yt: Any = None) -> LabelFreeSearch:
        """Select on labelled source ``Xs (ns, d), ys (ns,)`` and unlabelled ``Xt (nt, d)``."""
        check(not extra and yt is None, "LabelFreeSearch selects without target labels",
              "call fit(Xs, ys, Xt)")
        check(self.selector in SELECTORS, f"unknown selector {self.selector!r}",
              f"use one of {', '.join(SELECTORS)}")
        name = type(self.adapter).__name__
        check(not getattr(self.adapter, "uses_target_labels", False),
              f"{name} trains on labelled target samples, so LabelFreeSearch (which never "
              "sees target labels) cannot fit it",
              "choose its parameters by cross-validation on those samples instead (e.g. "
              "RegularTransfer(alpha='auto'))")
        Xs, ys, Xt = check_domains(Xs, ys, Xt)
        grid = list(ParameterGrid(self.param_grid))
        known = self.adapter.get_params()
        unknown = sorted({k for params in grid for k in params if k not in known})
        check(not unknown, f"{type(self.adapter).__name__} has no parameter(s) "
              f"{', '.join(unknown)}", f"use some of: {', '.join(sorted(known))}")
        selector = SELECTORS[self.selector]
        if selector.holdout:
            check(0 < self.holdout < 1, f"holdout must be in (0, 1), got {self.holdout}",
                  "use e.g. holdout=0.3")
            p_s, _ = domain_target_probability(Xs, Xt, self.domain_classifier,
                                               random_state=self.random_state)
            counts = np.unique(ys, return_counts=True)[1]
            check(counts.min() >= 2, f"a source class has only {counts.min()} sample, too few "
                  f"to hold some out for selector '{self.selector}'",
                  "give every class at least 2 samples, or use selector 'snd' or 'entropy'")
            try:
                idx_fit, idx_val = train_test_split(
                    np.arange(Xs.shape[0]), test_size=self.holdout, stratify=ys,
                    random_state=self.random_state)
            except ValueError as exc:
                raise TransferkitError(f"cannot hold out {self.holdout:.0%} of the source "
                                       f"with every class in both parts ({exc})",
                                       "give more source samples or change holdout") from exc
            # normalised over the whole source so the held-out mean is free to differ from 1:
            # that difference is what DEV's control variate corrects
            weights = odds_to_weights(p_s, Xs.shape[0], Xt.shape[0])
            data = SelectionData(Xs[idx_val], ys[idx_val], weights[idx_val], Xt)
            Xs_fit, ys_fit = Xs[idx_fit], ys[idx_fit]
        else:
            data = SelectionData(None, None, None, Xt)
            Xs_fit, ys_fit = Xs, ys
        self.results_ = []
        with warnings.catch_warnings():
            # check_domains above has warned about these data once; every candidate fit
            # would repeat it
            warnings.simplefilter("ignore", AdaptWarning)
            for params in steps(grid, f"LabelFreeSearch ({self.selector})", unit="candidate"):
                model = clone(self.adapter).set_params(**params).fit(Xs_fit, ys_fit, Xt)
                self.results_.append({"params": params, "score": selector.score(model, data)})
            scores = [r["score"] for r in self.results_]
            self.best_index_ = int(np.argmax(scores))
            self.best_params_ = self.results_[self.best_index_]["params"]
            self.best_score_ = scores[self.best_index_]
            if self.refit:
                self.best_estimator_ = clone(self.adapter).set_params(**self.best_params_)
                self.best_estimator_.fit(Xs, ys, Xt)
        return self

    def _best(self) -> BaseAdapter:
        check_is_fitted(self, "best_index_")
        check(self.refit, "LabelFreeSearch(refit=False) keeps no model to predict with",
              "use refit=True, or read best_params_ and fit that adapter")
        return self.best_estimator_

    def predict(self, X: Any, domain: str = "target") -> np.ndarray:
        """Predictions ``(n,)`` of the refit best adapter."""
        return self._best().predict(X, domain=domain)

    def predict_proba(self, X: Any, domain: str = "target") -> np.ndarray:
        """Class probabilities ``(n, n_classes)`` of the refit best adapter."""
        return self._best().predict_proba(X, domain=domain)

    def transform(self, X: Any, domain: str = "target") -> np.ndarray:
        """The refit best adapter's representation of ``X``."""
        return self._best().transform(X, domain=domain)

    def score(self, X: Any, y: Any) -> float:
        """Accuracy of the refit best adapter on labelled ``X (n, d), y (n,)``."""
        return self._best().score(X, y)

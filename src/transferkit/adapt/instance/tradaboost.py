"""TrAdaBoost (Dai, Yang, Xue & Yu, ICML 2007): boosting with a few labelled target samples."""

from __future__ import annotations

from typing import Any

import numpy as np

from transferkit.adapt.base import (
    InstanceAdapter,
    fit_weighted,
    register,
    require_sample_weight,
)
from transferkit.errors import check
from transferkit.progress import steps


class WeightedVote:
    """Weighted majority vote of fitted classifiers; ``predict_proba`` gives the vote shares."""

    def __init__(self, estimators: list[Any], weights: np.ndarray, classes: np.ndarray) -> None:
        self.estimators = estimators
        self.weights = weights
        self.classes_ = classes

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        votes = np.zeros((X.shape[0], self.classes_.size))
        for est, w in zip(self.estimators, self.weights, strict=True):
            votes[np.arange(X.shape[0]), np.searchsorted(self.classes_, est.predict(X))] += w
        return votes / votes.sum(1, keepdims=True)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


@register("tradaboost")
class TrAdaBoost(InstanceAdapter):
    """Boosting over labelled source + a few labelled target samples: ``fit(Xs, ys, Xt, yt=yt)``.

    Each round trains the estimator on all samples with the current weights, measures the
    weighted error on the *target* part only, down-weights misclassified source samples by
    ``beta = 1 / (1 + sqrt(2 ln ns / N))`` and up-weights misclassified target samples by
    ``beta_t^-1``. As in the paper the final hypothesis votes with the second half of the
    rounds, each weighted by ``ln(1 / beta_t)`` (for two classes this is the paper's rule).
    """

    uses_target_labels = True

    def __init__(self, estimator: Any = None, n_estimators: int = 20) -> None:
        self.estimator = estimator
        self.n_estimators = n_estimators

    def _fit(self, Xs: np.ndarray, ys: np.ndarray, Xt: np.ndarray, yt: Any) -> None:
        N = int(self.n_estimators)
        check(N >= 2, f"n_estimators must be >= 2, got {N}", "use e.g. n_estimators=20")
        require_sample_weight(self._make_estimator(), "TrAdaBoost")
        ns = Xs.shape[0]
        X, y = np.vstack([Xs, Xt]), np.r_[ys, yt]
        w = np.ones(X.shape[0])
        beta = 1.0 / (1.0 + np.sqrt(2.0 * np.log(ns) / N))
        learners, betas = [], []
        for _ in steps(range(N), "TrAdaBoost rounds"):
            p = w / w.sum()
            learner = fit_weighted(self._make_estimator(), X, y, p * X.shape[0])
            miss = learner.predict(X) != y
            err = float(np.clip(p[ns:][miss[ns:]].sum() / p[ns:].sum(), 1e-10, 0.499))
            beta_t = err / (1.0 - err)
            w[:ns] *= beta ** miss[:ns]
            w[ns:] *= beta_t ** (-miss[ns:].astype(float))
            learners.append(learner)
            betas.append(beta_t)
        half = int(np.ceil(N / 2)) - 1
        self.betas_ = np.asarray(betas)
        self.estimators_ = learners[half:]
        self.weights_ = w[:ns] / w[:ns].mean()
        self.target_weights_ = w[ns:] / w[:ns].mean()
        self.estimator_ = WeightedVote(self.estimators_, np.log(1.0 / self.betas_[half:]),
                                       self.classes_)

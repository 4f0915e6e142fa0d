"""Regularised transfer (Chelba & Acero, EMNLP 2004): a target logistic regression whose
weights are pulled towards the source model's -- a Gaussian prior centred on them."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, log_softmax, softmax
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import StratifiedKFold

from transferkit.adapt.base import BaseAdapter, register
from transferkit.errors import check, check_int, is_finite_number


def _probabilities(Z: np.ndarray) -> np.ndarray:
    """Logits ``(n, k)`` -> class probabilities ``(n, n_classes)``; ``k == 1`` is binary."""
    if Z.shape[1] == 1:
        p = expit(Z[:, 0])
        return np.c_[1.0 - p, p]
    return softmax(Z, axis=1)


class LinearModel:
    """A fitted linear classifier ``(W (k, d), b (k,))`` over ``classes`` (``k = 1``: binary,
    as scikit-learn's ``coef_``)."""

    def __init__(self, coef: np.ndarray, intercept: np.ndarray, classes: np.ndarray) -> None:
        self.coef_ = coef
        self.intercept_ = intercept
        self.classes_ = classes

    def _logits(self, X: np.ndarray) -> np.ndarray:
        return X @ self.coef_.T + self.intercept_

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        Z = self._logits(X)
        return Z[:, 0] if Z.shape[1] == 1 else Z

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return _probabilities(self._logits(X))

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


def fit_towards(
    X: np.ndarray, codes: np.ndarray, coef0: np.ndarray, intercept0: np.ndarray, alpha: float,
    fit_intercept: bool = True,
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Minimise ``sum_i CE(x_i, y_i) + alpha/2 * (||W - W0||^2 + ||b - b0||^2)`` over
    ``(W (k, d), b (k,))``; returns ``(W, b, converged)``.

    ``codes (n,)`` index the classes; ``k == 1`` is binary (logistic loss on class 1), else
    softmax cross-entropy. The intercept is pulled towards the source's too, so a class that
    no target sample shows keeps the source model's view of it. ``alpha > 0`` makes the
    problem strictly convex (one solution, reached from the start ``(W0, b0)``).
    ``fit_intercept=False`` keeps ``b = b0``.
    """
    k, d = coef0.shape
    Y = (codes == 1).astype(np.float64)[:, None] if k == 1 else np.eye(k)[codes]
    theta0 = np.r_[coef0.ravel(), intercept0]

    def loss_grad(theta: np.ndarray) -> tuple[float, np.ndarray]:
        W, b = theta[: k * d].reshape(k, d), theta[k * d:]
        Z = X @ W.T + b
        if k == 1:  # log(1 + e^z) - y z, stably
            loss = float(np.sum(np.logaddexp(0.0, Z) - Y * Z))
            R = expit(Z) - Y
        else:
            loss = float(-np.sum(Y * log_softmax(Z, axis=1)))
            R = softmax(Z, axis=1) - Y
        diff = theta - theta0
        loss += 0.5 * alpha * float(diff @ diff)
        grad = np.r_[(R.T @ X).ravel(), R.sum(0)] + alpha * diff
        if not fit_intercept:
            grad[k * d:] = 0.0
        return loss, grad

    result = minimize(loss_grad, theta0, jac=True, method="L-BFGS-B",
                      options={"maxiter": 2000})
    return result.x[: k * d].reshape(k, d), result.x[k * d:], bool(result.success)


#: the candidates of ``alpha="auto"``
ALPHAS = tuple(10.0**e for e in range(-6, 4))


def choose_alpha(
    X: np.ndarray, codes: np.ndarray, coef0: np.ndarray, intercept0: np.ndarray, cv: int,
    fit_intercept: bool = True,
) -> tuple[float, dict[float, float]]:
    """The ``alpha`` of :data:`ALPHAS` with the lowest held-out log-loss in a stratified
    ``cv``-fold split of the labelled target samples ``X (n, d)``, ``codes (n,)``; returns it
    and every candidate's mean log-loss (ties go to the larger alpha: closer to the source)."""
    counts = np.bincount(codes)
    check((counts > 0).sum() >= 2, "alpha='auto' needs labelled target samples of at least 2 "
          "classes (held-out samples of one class cannot tell how well classes are told apart)",
          "label samples of more classes, or pass a number, e.g. alpha=1.0")
    n_splits = int(min(cv, counts[counts > 0].min()))
    check(n_splits >= 2, f"alpha='auto' needs at least 2 labelled target samples of each class "
          f"given, got {counts[counts > 0].min()}",
          "label more target samples, or pass a number, e.g. alpha=1.0")
    folds = list(StratifiedKFold(n_splits, shuffle=True, random_state=0).split(X, codes))
    losses = {}
    for alpha in ALPHAS:
        nll = []
        for train, held in folds:
            W, b, _ = fit_towards(X[train], codes[train], coef0, intercept0, alpha,
                                  fit_intercept)
            p = _probabilities(X[held] @ W.T + b)[np.arange(held.size), codes[held]]
            nll.append(-np.mean(np.log(np.clip(p, 1e-12, None))))
        losses[alpha] = float(np.mean(nll))
    best = min(losses.values())
    return max(a for a, v in losses.items() if v <= best + 1e-12), losses


@register("regular-transfer")
class RegularTransfer(BaseAdapter):
    """Logistic regression on a few labelled target samples, regularised towards the source
    model: ``fit(Xs, ys, Xt, yt=yt)``.

    The source model ``estimator`` (default ``LogisticRegression``; anything fitted with
    ``coef_`` and ``intercept_``) is fitted on the source; then the target model minimises
    the target cross-entropy ``+ alpha/2 * ||(W, b) - (W_source, b_source)||^2``. Large
    ``alpha`` keeps the source model, a small one follows the target samples (on few,
    separable samples: far from the source, with large weights). ``alpha="auto"`` (default)
    picks it from :data:`ALPHAS` by ``cv``-fold cross-validation on the labelled target
    samples (``alpha_``, ``cv_losses_``). ``source_estimator_`` is the source model;
    ``estimator_`` (a :class:`LinearModel`) the adapted one.
    """

    uses_target_labels = True
    _fitted_estimator_type = LinearModel  # predict_proba exists whatever the source model

    def __init__(self, estimator: Any = None, alpha: float | str = "auto", cv: int = 5) -> None:
        self.estimator = estimator
        self.alpha = alpha
        self.cv = cv

    def _fit(self, Xs: np.ndarray, ys: np.ndarray, Xt: np.ndarray, yt: Any) -> None:
        alpha = self.alpha
        auto = isinstance(alpha, str) and alpha == "auto"
        check(auto or (is_finite_number(alpha) and alpha > 0),
              f"alpha must be 'auto' or a finite number > 0, got {alpha!r}",
              "use alpha='auto' (cross-validated on the labelled target samples) or e.g. "
              "alpha=1.0 (larger: closer to the source model)")
        check_int("cv", self.cv, 2, 5)
        source = self._make_estimator().fit(Xs, ys)
        coef = np.asarray(getattr(source, "coef_", None), dtype=np.float64)
        check(coef.ndim == 2 and coef.shape[1] == Xs.shape[1]
              and coef.shape[0] == (1 if self.classes_.size == 2 else self.classes_.size)
              and np.array_equal(getattr(source, "classes_", None), self.classes_),
              f"{type(source).__name__} has no linear coef_ (n_classes, n_features) to start "
              "from", "use a linear classifier such as LogisticRegression as the estimator")
        intercept = np.broadcast_to(np.asarray(source.intercept_, dtype=np.float64),
                                    (coef.shape[0],)).copy()
        fit_intercept = bool(getattr(source, "fit_intercept", True))  # as the source model
        codes = np.searchsorted(self.classes_, yt)
        self.cv_losses_ = {}
        if auto:
            alpha, self.cv_losses_ = choose_alpha(Xt, codes, coef, intercept, int(self.cv),
                                                  fit_intercept)
        self.alpha_ = float(alpha)
        W, b, converged = fit_towards(Xt, codes, coef, intercept, self.alpha_, fit_intercept)
        if not converged:
            warnings.warn(f"RegularTransfer's optimiser did not converge (alpha={alpha:g}); "
                          "standardise the features or use a larger alpha",
                          ConvergenceWarning, stacklevel=3)
        self.source_estimator_ = source
        self.estimator_ = LinearModel(W, b, self.classes_)

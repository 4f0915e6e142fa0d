"""Multi-task parameter sharing between domains (Evgeniou & Pontil, KDD 2004), as the feature
augmentation of Daume III (ACL 2007): the weights are ``w_shared + w_domain``."""

from __future__ import annotations

from typing import Any

import numpy as np

from transferkit.adapt.base import DOMAINS, BaseAdapter, register
from transferkit.errors import check, is_finite_number


@register("multitask")
class MultiTask(BaseAdapter):
    """One classifier for both domains with shared and domain-specific weights:
    ``fit(Xs, ys, Xt, yt=yt)`` with a few labelled target samples.

    A sample ``x`` of domain ``d`` becomes ``[shared * x, x if d is source, x if d is target]``
    (zeros elsewhere) and ``estimator`` (default ``LogisticRegression``) is fitted on both
    domains. For a linear model with an L2 penalty this learns ``w_d = shared * w_0 + v_d``:
    ``shared`` sets how much the domains share (larger: more), the penalty keeps each domain's
    own part ``v_d`` small unless its data need it. ``transform(X, domain)`` gives the
    augmented features ``(n, 3d)``; ``predict(X, domain="target")``.
    """

    uses_target_labels = True

    def __init__(self, estimator: Any = None, shared: float = 1.0) -> None:
        self.estimator = estimator
        self.shared = shared

    def _fit(self, Xs: np.ndarray, ys: np.ndarray, Xt: np.ndarray, yt: Any) -> None:
        shared = self.shared
        check(is_finite_number(shared) and shared > 0,
              f"shared must be a finite number > 0, got {shared!r}",
              "use e.g. shared=1.0 (larger: the domains share more of their weights)")
        self.shared_ = float(shared)
        X = np.vstack([self._augment(Xs, "source"), self._augment(Xt, "target")])
        self.estimator_ = self._make_estimator().fit(X, np.r_[ys, yt])

    def _augment(self, X: np.ndarray, domain: str) -> np.ndarray:
        """``X (n, d)`` of ``domain`` -> ``(n, 3d)``: shared copy, source part, target part."""
        zero = np.zeros_like(X)
        own = (X, zero) if domain == DOMAINS[0] else (zero, X)
        return np.hstack([self.shared_ * X, *own])

    def _predict_input(self, X: np.ndarray, domain: str) -> np.ndarray:
        return self._augment(X, domain)

    def transform(self, X: Any, domain: str = "target") -> np.ndarray:
        """Augmented features ``(n, 3d)`` of samples ``X (n, d)`` from ``domain``."""
        return self._augment(self._check_X(X, domain), domain)

"""CORAL: correlation alignment (Sun, Feng & Saenko, AAAI 2016)."""

from __future__ import annotations

from typing import Any

import numpy as np

from transferkit.adapt.base import FeatureAdapter, constant_columns, register
from transferkit.adapt.kernels import symmetric_eig
from transferkit.errors import TransferkitError, check


def symmetric_power(C: np.ndarray, power: float) -> np.ndarray:
    """``C ** power`` for a symmetric positive definite ``C (d, d)``."""
    s, V = symmetric_eig(C)
    return (V * np.clip(s, 1e-12, None) ** power) @ V.T


def regularised_covariance(X: np.ndarray, eps: float, name: str) -> np.ndarray:
    """``cov(X) + eps * I`` (d, d); with ``eps=0`` the covariance must be full rank."""
    d = X.shape[1]
    C = np.cov(X, rowvar=False).reshape(d, d) + eps * np.eye(d)
    if eps <= 0:
        dead = constant_columns(X)
        if dead.size:
            raise TransferkitError(
                f"CORAL(eps=0): column {dead[0]} of the {name} is constant, so its covariance "
                "is singular and cannot be whitened",
                "use eps>0 (the paper uses eps=1) or drop constant columns",
            )
        check(symmetric_eig(C)[0][0] > 1e-10 * max(np.trace(C), 1e-300),
              f"CORAL(eps=0): the {name} covariance is singular ({X.shape[0]} samples, {d} "
              "features)", "use eps>0 (the paper uses eps=1)")
    return C


@register("coral")
class CORAL(FeatureAdapter):
    """Whiten the source covariance and re-colour it with the target's.

    ``A = (Cs + eps I)^-1/2 (Ct + eps I)^1/2`` (d, d); source samples map to ``Xs @ A``, target
    samples are left as they are (as in the paper). ``eps=1`` is the paper's regulariser.
    """

    def __init__(self, estimator: Any = None, eps: float = 1.0) -> None:
        self.estimator = estimator
        self.eps = eps

    def _fit_map(self, Xs: np.ndarray, ys: np.ndarray, Xt: np.ndarray) -> np.ndarray:
        check(self.eps >= 0, f"eps must be >= 0, got {self.eps}", "use eps=1.0 as in the paper")
        Cs = regularised_covariance(Xs, self.eps, "source")
        Ct = regularised_covariance(Xt, self.eps, "target")
        self.coral_matrix_ = symmetric_power(Cs, -0.5) @ symmetric_power(Ct, 0.5)
        return Xs @ self.coral_matrix_

    def _map(self, X: np.ndarray, domain: str) -> np.ndarray:
        return X @ self.coral_matrix_ if domain == "source" else X

"""SA: subspace alignment (Fernando, Habrard, Sebban & Tuytelaars, ICCV 2013)."""

from __future__ import annotations

from typing import Any

import numpy as np

from transferkit.adapt.base import FeatureAdapter, register
from transferkit.adapt.kernels import one_blas_thread
from transferkit.errors import check, check_int


def principal_axes(X: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``(d,)`` and top-``k`` principal axes ``(d, k)`` of ``X (n, d)``."""
    mean = X.mean(0)
    with one_blas_thread():
        _, _, Vt = np.linalg.svd(X - mean, full_matrices=False)
    return mean, Vt[:k].T


@register("sa")
class SA(FeatureAdapter):
    """Align the source PCA basis ``Ps`` onto the target basis ``Pt`` with ``M = Ps^T Pt``.

    Source samples map to ``(x - mean_s) Ps M``, target samples to ``(x - mean_t) Pt``; both
    ``(n, n_components)``.
    """

    def __init__(self, estimator: Any = None, n_components: int = 50) -> None:
        self.estimator = estimator
        self.n_components = n_components

    def _fit_map(self, Xs: np.ndarray, ys: np.ndarray, Xt: np.ndarray) -> np.ndarray:
        check_int("n_components", self.n_components, 1, 20)
        k = int(self.n_components)
        limit = min(Xs.shape[0] - 1, Xt.shape[0] - 1, Xs.shape[1])  # centred: n - 1 axes
        check(1 <= k <= limit,
              f"SA n_components={k} but at most {limit} are possible (samples per domain - 1 "
              "and features)", f"use n_components <= {limit}")
        self.source_mean_, Ps = principal_axes(Xs, k)
        self.target_mean_, Pt = principal_axes(Xt, k)
        self.source_basis_ = Ps @ (Ps.T @ Pt)
        self.target_basis_ = Pt
        return self._map(Xs, "source")

    def _map(self, X: np.ndarray, domain: str) -> np.ndarray:
        if domain == "source":
            return (X - self.source_mean_) @ self.source_basis_
        return (X - self.target_mean_) @ self.target_basis_

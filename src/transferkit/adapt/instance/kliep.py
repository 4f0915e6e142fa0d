"""KLIEP: Kullback-Leibler importance estimation (Sugiyama et al., NIPS 2007 / AISM 2008)."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.model_selection import KFold

from transferkit.adapt.base import InstanceAdapter, register
from transferkit.adapt.kernels import kernel_matrix, median_gamma, pooled_subsample
from transferkit.errors import TransferkitError, check, check_int


def fit_kliep_alpha(K_t: np.ndarray, k_s: np.ndarray, max_iter: int = 2000,
                    tol: float = 1e-7) -> np.ndarray:
    """Coefficients ``alpha (b,)`` maximising ``mean_j log (K_t alpha)_j``.

    ``K_t (nt, b)``: kernel between target samples and the ``b`` centres; ``k_s (b,)``: mean
    kernel between source samples and the centres. Constraints: ``alpha >= 0`` and
    ``k_s . alpha = 1`` (the weights average 1 over the source). Projected gradient ascent with
    a step that grows on success and halves on failure.
    """

    def project(a: np.ndarray) -> np.ndarray:
        a = a + (1.0 - k_s @ a) * k_s / (k_s @ k_s)
        a = np.maximum(a, 0.0)
        return a / max(k_s @ a, 1e-300)

    def objective(a: np.ndarray) -> float:
        return float(np.mean(np.log(np.maximum(K_t @ a, 1e-300))))

    alpha = project(np.ones(K_t.shape[1]))
    value, step = objective(alpha), 1.0
    for _ in range(max_iter):
        grad = K_t.T @ (1.0 / np.maximum(K_t @ alpha, 1e-300)) / K_t.shape[0]
        candidate = project(alpha + step * grad / max(np.linalg.norm(grad), 1e-300))
        new_value = objective(candidate)
        if new_value > value:
            gain = new_value - value
            alpha, value, step = candidate, new_value, step * 1.5
            if gain <= tol * max(1.0, abs(value)):
                break
        else:
            step *= 0.5
            if step < 1e-10:
                break
    return alpha


@register("kliep")
class KLIEP(InstanceAdapter):
    """Importance weights ``w(x) = sum_l alpha_l exp(-gamma ||x - c_l||^2)``, centres on target.

    ``gamma='lcv'`` (default) picks the bandwidth by likelihood cross-validation on the target
    (``cv`` folds) among ``gamma_grid`` multiples of the median heuristic; a float fixes it.
    Cost ``O((ns + nt) * n_centers)``, so it scales linearly.
    """

    def __init__(self, estimator: Any = None, gamma: float | str = "lcv",
                 gamma_grid: tuple[float, ...] = (0.1, 0.3, 1.0, 3.0, 10.0),
                 n_centers: int = 100, cv: int = 5, max_iter: int = 2000,
                 random_state: int | None = 0) -> None:
        self.estimator = estimator
        self.gamma = gamma
        self.gamma_grid = gamma_grid
        self.n_centers = n_centers
        self.cv = cv
        self.max_iter = max_iter
        self.random_state = random_state

    def _alpha(self, Xs: np.ndarray, Xt: np.ndarray, centres: np.ndarray,
               gamma: float) -> np.ndarray:
        k_s = kernel_matrix(Xs, centres, "rbf", gamma).mean(0)
        check(bool(np.isfinite(k_s).all()) and float(k_s @ k_s) > 1e-200,
              f"at gamma={gamma:.3g} the kernel between every source sample and every target "
              "centre is 0 (the bandwidth is too narrow for how far apart the domains are)",
              "use a smaller gamma, or gamma='lcv'")
        return fit_kliep_alpha(kernel_matrix(Xt, centres, "rbf", gamma), k_s, self.max_iter)

    def _centres(self, Xt: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        b = min(int(self.n_centers), Xt.shape[0])
        return Xt[rng.choice(Xt.shape[0], size=b, replace=False)]

    def _lcv_score(self, Xs: np.ndarray, Xt: np.ndarray, gamma: float) -> float:
        folds = KFold(n_splits=int(self.cv), shuffle=True, random_state=self.random_state)
        rng = np.random.default_rng(self.random_state)
        scores = []
        for train, held in folds.split(Xt):
            centres = self._centres(Xt[train], rng)
            try:
                alpha = self._alpha(Xs, Xt[train], centres, gamma)
            except TransferkitError:  # this bandwidth cannot weight the source at all
                return -np.inf
            w = kernel_matrix(Xt[held], centres, "rbf", gamma) @ alpha
            scores.append(np.mean(np.log(np.maximum(w, 1e-300))))
        return float(np.mean(scores))

    def _fit_weights(self, Xs: np.ndarray, ys: np.ndarray, Xt: np.ndarray) -> np.ndarray:
        check_int("n_centers", self.n_centers, 1, 100)
        check_int("cv", self.cv, 2, 5)
        check_int("max_iter", self.max_iter, 1, 2000)
        if isinstance(self.gamma, str):
            check(self.gamma == "lcv", f"gamma must be a float or 'lcv', got {self.gamma!r}",
                  "use gamma='lcv' (default) or a positive number")
            check(Xt.shape[0] >= 2 * int(self.cv),
                  f"likelihood cross-validation needs >= {2 * int(self.cv)} target samples",
                  "pass a fixed gamma=... or lower cv")
            base = median_gamma(pooled_subsample(Xs, Xt, 1000, self.random_state),
                                random_state=self.random_state)
            grid = [base * g for g in self.gamma_grid]
            self.lcv_scores_ = [self._lcv_score(Xs, Xt, g) for g in grid]
            self.gamma_ = float(grid[int(np.argmax(self.lcv_scores_))])
        else:
            check(float(self.gamma) > 0, f"gamma must be > 0, got {self.gamma}",
                  "pass a positive gamma or 'lcv'")
            self.gamma_ = float(self.gamma)
        rng = np.random.default_rng(self.random_state)
        self.centers_ = self._centres(Xt, rng)
        self.alpha_ = self._alpha(Xs, Xt, self.centers_, self.gamma_)
        return kernel_matrix(Xs, self.centers_, "rbf", self.gamma_) @ self.alpha_

    def importance(self, X: Any) -> np.ndarray:
        """Estimated density ratio ``p_t(x)/p_s(x)`` at ``X (n, d)``; shape ``(n,)``."""
        X = self._check_X(X)
        return kernel_matrix(X, self.centers_, "rbf", self.gamma_) @ self.alpha_

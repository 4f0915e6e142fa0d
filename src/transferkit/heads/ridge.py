"""Ridge regression on standardised features: the frozen-path head of regression, its L2
strength ``alpha`` chosen on validation by RMSE."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from . import register_head
from .base import CHUNK_ROWS, Head, standardise_rows
from .logistic import _moments

if TYPE_CHECKING:
    import optuna


@register_head("ridge")
class RidgeHead(Head):
    """``((X - mean) / scale) @ w + b`` minimising ``||y - Zw - b||^2 + alpha ||w||^2``
    (the intercept is not penalised).

    ``alpha``: fixed, or (None) the value of :attr:`ALPHA_GRID` with the lowest validation
    RMSE. Dense features: one eigendecomposition of the Gram matrix (``Z^T Z``, or ``Z Z^T``
    when there are fewer samples than features) solves every alpha of the grid exactly.
    Sparse features (TF-IDF) are scaled, not centred, and solved by scikit-learn's
    ``Ridge`` per alpha.

    ``fit(X (N, D), y (N,) or (N, 1), n_classes=1, X_val, y_val)``;
    :meth:`decision_function` gives the values ``(N, 1)`` in ``y``'s units."""

    task = "regression"
    ALPHA_GRID = (0.01, 0.1, 1.0, 10.0, 100.0, 1e3, 1e4, 1e5)
    selection_rule = f"the ridge alpha of {list(ALPHA_GRID)} with the lowest validation RMSE"

    def __init__(self, alpha: float | None = None):
        self.alpha = alpha

    def fit(self, X, y, n_classes=1, X_val=None, y_val=None, seed=0) -> RidgeHead:
        y = np.asarray(y, dtype=np.float64).reshape(len(y))
        self.sparse_ = hasattr(X, "tocsr")
        self.mean_, self.scale_ = _moments(X)
        if self.alpha is not None:
            grid = (float(self.alpha),)
        elif X_val is not None and y_val is not None and len(y_val):
            grid = self.ALPHA_GRID
        else:
            grid = (1.0,)  # fixed in advance when no validation data is available
        solve = self._sparse_solver(X, y) if self.sparse_ else self._dense_solver(X, y)
        Zv = self._standardise(X_val) if len(grid) > 1 else None
        best = None
        for alpha in grid:
            coef, intercept = solve(alpha)
            if Zv is None:
                best = (None, alpha, coef, intercept)
                break
            pred = np.asarray(Zv @ coef).reshape(-1) + intercept
            rmse = float(np.sqrt(np.mean((pred - np.asarray(y_val, dtype=np.float64)
                                          .reshape(-1)) ** 2)))
            if best is None or rmse < best[0]:
                best = (rmse, alpha, coef, intercept)
        self.val_rmse_, self.alpha_, self.coef_, self.intercept_ = best
        return self

    def _dense_solver(self, X, y):
        """alpha -> (coef (D,), intercept) from one eigendecomposition."""
        Z = standardise_rows(X, self.mean_, self.scale_, np.float32)
        y_mean = float(y.mean())
        yc = y - y_mean
        n, d = Z.shape
        if d <= n:  # primal: (Z^T Z + alpha I) w = Z^T y, Gram summed over row chunks
            gram = np.zeros((d, d))
            zty = np.zeros(d)
            for start in range(0, n, CHUNK_ROWS):
                chunk = Z[start:start + CHUNK_ROWS].astype(np.float64)
                gram += chunk.T @ chunk
                zty += chunk.T @ yc[start:start + CHUNK_ROWS]
            lam, V = np.linalg.eigh(gram)
            proj = V.T @ zty
            return lambda alpha: (V @ (proj / (np.clip(lam, 0, None) + alpha)), y_mean)
        Z64 = Z.astype(np.float64)  # dual: w = Z^T (Z Z^T + alpha I)^-1 y, N < D
        lam, U = np.linalg.eigh(Z64 @ Z64.T)
        proj = U.T @ yc
        return lambda alpha: (Z64.T @ (U @ (proj / (np.clip(lam, 0, None) + alpha))), y_mean)

    def _sparse_solver(self, X, y):
        from sklearn.linear_model import Ridge

        Z = self._standardise(X)

        def solve(alpha: float) -> tuple[np.ndarray, float]:
            model = Ridge(alpha=alpha, fit_intercept=True).fit(Z, y)
            return np.asarray(model.coef_, dtype=np.float64), float(model.intercept_)

        return solve

    def _standardise(self, X):
        if self.sparse_:
            return X.multiply(1.0 / self.scale_).tocsr()
        return standardise_rows(X, self.mean_, self.scale_, np.float64)

    def decision_function(self, X) -> np.ndarray:
        """Predicted values ``(N, 1)``, in the units of the fitted targets."""
        return (np.asarray(self._standardise(X) @ self.coef_).reshape(-1)
                + self.intercept_)[:, None]

    def predict_proba(self, X) -> np.ndarray:
        """The predicted values ``(N, 1)`` (a regression head has no probabilities; the
        name keeps the head contract)."""
        return self.decision_function(X)

    def chosen_params(self) -> dict[str, Any]:
        return {"alpha": self.alpha_}

    @classmethod
    def search_space(cls, trial: optuna.Trial) -> dict[str, Any]:
        """The L2 strength ``alpha``, log-uniform over :attr:`ALPHA_GRID`'s span."""
        return {"alpha": trial.suggest_float(f"{cls.name}.alpha", 1e-2, 1e5, log=True)}

    def state(self) -> dict[str, torch.Tensor]:
        return {"coef": torch.from_numpy(np.asarray(self.coef_, dtype=np.float64)),
                "intercept": torch.tensor([self.intercept_], dtype=torch.float64),
                "mean": torch.from_numpy(np.asarray(self.mean_, dtype=np.float64)),
                "scale": torch.from_numpy(np.asarray(self.scale_, dtype=np.float64))}

    def config(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "alpha_chosen": self.alpha_, "sparse": self.sparse_}

    @classmethod
    def from_state(cls, config, state) -> RidgeHead:
        head = cls(alpha=config.get("alpha"))
        head.coef_ = state["coef"].numpy()
        head.intercept_ = float(state["intercept"][0])
        head.mean_ = state["mean"].numpy()
        head.scale_ = state["scale"].numpy()
        head.alpha_ = config.get("alpha_chosen")
        head.sparse_ = bool(config.get("sparse", False))
        return head

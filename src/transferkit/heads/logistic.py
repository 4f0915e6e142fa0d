"""Multinomial logistic regression on standardised features (L2, C picked on validation)."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from . import register_head
from .base import Head, column_moments, single_thread, softmax, standardise_rows, val_score

if TYPE_CHECKING:
    import optuna


class LinearHead(Head):
    """What the logistic heads share: a linear model ``(W, b)`` on standardised features
    (``mean_``, ``scale_``; sparse input is scaled, not centred), its inverse L2 strength
    ``C`` fixed or (None) chosen from :attr:`C_GRID` on validation, and how it is saved.

    Parameters
    ----------
    C : float or None
        Inverse L2 strength; None: chosen on validation.
    max_iter : int
        L-BFGS iterations per fit.
    """

    C_GRID = (0.01, 0.1, 1.0, 10.0)

    def __init__(self, C: float | None = None, max_iter: int = 300):
        self.C = C
        self.max_iter = max_iter

    def chosen_params(self) -> dict[str, Any]:
        return {"C": self.C_}

    @classmethod
    def search_space(cls, trial: optuna.Trial) -> dict[str, Any]:
        """The inverse L2 strength ``C``, log-uniform over 1e-3 .. 100 (:attr:`C_GRID`'s
        span and one decade either side)."""
        return {"C": trial.suggest_float(f"{cls.name}.C", 1e-3, 100.0, log=True)}

    def state(self) -> dict[str, torch.Tensor]:
        return {"coef": torch.from_numpy(self.coef_),
                "intercept": torch.from_numpy(self.intercept_),
                "mean": torch.from_numpy(np.asarray(self.mean_, dtype=np.float64)),
                "scale": torch.from_numpy(np.asarray(self.scale_, dtype=np.float64))}

    def config(self) -> dict[str, Any]:
        return {"C": self.C, "C_chosen": self.C_, "max_iter": self.max_iter,
                "sparse": self.sparse_}

    @classmethod
    def from_state(cls, config, state) -> LinearHead:
        head = cls(C=config.get("C"), max_iter=config.get("max_iter", 300))
        head.coef_ = state["coef"].numpy()
        head.intercept_ = state["intercept"].numpy()
        head.mean_ = state["mean"].numpy()
        head.scale_ = state["scale"].numpy()
        head.C_ = config.get("C_chosen")
        head.sparse_ = bool(config.get("sparse", False))
        return head


@register_head("logistic")
class LogisticHead(LinearHead):
    """``softmax(((X - mean) / scale) @ W.T + b)``. Sparse input is scaled, not centred."""

    def fit(self, X, y, n_classes, X_val=None, y_val=None, seed=0) -> LogisticHead:
        self.sparse_ = hasattr(X, "tocsr")
        self.mean_, self.scale_ = _moments(X)
        Z = _as_tensor(self._standardise_fit(X))
        yt = torch.as_tensor(y, dtype=torch.long)
        grid = c_grid(self.C, self.C_GRID, y_val if X_val is not None else None)
        Zv = _as_tensor(self._standardise_fit(X_val)) if len(grid) > 1 else None

        def score(W: torch.Tensor) -> float:
            with torch.no_grad():
                proba = torch.softmax(_logits(Zv, W), dim=1).double().numpy()
            return val_score(proba, y_val)

        self.C_, W = regularisation_path(
            grid, lambda W, C: _fit_softmax(Z, yt, W, C, self.max_iter),
            torch.zeros(n_classes, Z.shape[1] + 1, dtype=Z.dtype), score if Zv is not None
            else None)
        W = W.double().numpy()
        self.coef_, self.intercept_ = W[:, :-1], W[:, -1]
        self.n_classes_ = n_classes
        return self

    def _standardise_fit(self, X):
        """The training copy of standardised features: float32 (what L-BFGS runs on), made
        in row chunks -- the values of ``_standardise`` cast to float32, without its float64
        copy of ``X`` (issue 16: memory of the frozen path)."""
        if self.sparse_:
            return self._standardise(X)
        return standardise_rows(X, self.mean_, self.scale_, np.float32)

    def _standardise(self, X):
        if self.sparse_:
            return X.multiply(1.0 / self.scale_).tocsr()
        return (np.asarray(X, dtype=np.float64) - self.mean_) / self.scale_

    def predict_proba(self, X) -> np.ndarray:
        return softmax(np.asarray(self._standardise(X) @ self.coef_.T) + self.intercept_)

    @classmethod
    def from_state(cls, config, state) -> LogisticHead:
        head = super().from_state(config, state)
        head.n_classes_ = head.coef_.shape[0]
        return head


def c_grid(C: float | None, grid: tuple[float, ...], y_val: Any) -> tuple[float, ...]:
    """The inverse regularisation strengths to try: ``C`` when it is fixed, ``grid`` when
    there are validation targets ``y_val`` to choose with, else ``(1.0,)`` (fixed in
    advance)."""
    if C is not None:
        return (C,)
    return grid if y_val is not None and len(y_val) else (1.0,)


def regularisation_path(grid: tuple[float, ...], fit: Any, W: torch.Tensor,
                        score: Any = None) -> tuple[float, torch.Tensor]:
    """Fit along ``grid`` (strongest regularisation first, each fit warm-started from the
    last) and keep the weights that ``score`` (validation, higher is better) ranks best.

    Parameters
    ----------
    grid : tuple of float
        Inverse regularisation strengths, in order.
    fit : callable
        ``fit(W, C) -> W``: the weights fitted with strength ``C`` from the start ``W``.
    W : torch.Tensor
        The starting weights (zeros).
    score : callable or None
        ``score(W) -> float``; None: the first strength is kept without scoring.

    Returns
    -------
    tuple
        ``(C, W)``: the chosen strength and its weights.
    """
    best = None
    for C in grid:
        W = fit(W.clone(), C)
        if score is None:
            return C, W
        value = score(W)
        if best is None or value > best[0]:
            best = (value, C, W)
    return best[1], best[2]


def _moments(X) -> tuple[np.ndarray, np.ndarray]:
    if hasattr(X, "tocsr"):
        from sklearn.preprocessing import MaxAbsScaler

        scale = MaxAbsScaler().fit(X).scale_
        return np.zeros(X.shape[1]), np.where(scale > 0, scale, 1.0)
    mean, std = column_moments(X)  # no float64 copy of X; the same values
    return mean, np.where(std > 1e-12, std, 1.0)


def _as_tensor(Z) -> torch.Tensor:
    """Dense float32 tensor, or a sparse CSR tensor for sparse input (N, D)."""
    if hasattr(Z, "tocsr"):
        Z = Z.tocsr().astype(np.float32)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "sparse CSR support is in beta"
            return torch.sparse_csr_tensor(
                torch.from_numpy(Z.indptr.astype(np.int64)),
                torch.from_numpy(Z.indices.astype(np.int64)),
                torch.from_numpy(Z.data),
                size=Z.shape,
            )
    return torch.as_tensor(np.asarray(Z, dtype=np.float32))


def _logits(Z: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
    return Z @ W[:, :-1].T + W[:, -1]


def _fit_softmax(Z: torch.Tensor, y: torch.Tensor, W: torch.Tensor, C: float, max_iter: int):
    """Minimise mean cross-entropy + ||coef||^2 / (2 C n) (scikit-learn's objective / n)
    with full-batch L-BFGS. W: (K, D + 1), last column the intercept."""
    W.requires_grad_(True)
    opt = torch.optim.LBFGS(
        [W], lr=1.0, max_iter=max_iter, history_size=20, tolerance_grad=1e-6,
        tolerance_change=1e-7, line_search_fn="strong_wolfe",
    )
    reg = 1.0 / (2.0 * C * len(y))

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = nn.functional.cross_entropy(_logits(Z, W), y) + reg * W[:, :-1].pow(2).sum()
        loss.backward()
        return loss

    with single_thread():
        opt.step(closure)
    return W.detach()

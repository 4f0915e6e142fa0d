"""One-vs-rest logistic regression for multi-label targets: one binary logistic model per
label on standardised features, one L2 strength ``C`` for all labels chosen on validation by
mAP (macro average precision; log loss breaks ties)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..tasks import mean_average_precision
from . import register_head
from .base import single_thread, standardise_rows
from .logistic import LinearHead, _as_tensor, _moments, c_grid, regularisation_path


@register_head("ovr-logistic")
class OneVsRestLogisticHead(LinearHead):
    """``sigmoid(((X - mean) / scale) @ W.T + b)``, one row of ``W`` per label.

    Each label's model minimises its mean binary cross-entropy + ``||w||^2 / (2 C n)``
    (scikit-learn's ``LogisticRegression`` objective divided by ``n``); the labels are
    independent, so they are fitted together by one full-batch L-BFGS on the sum of their
    objectives. ``C``: fixed, or (None) the value of :attr:`C_GRID` with the best validation
    mAP. Sparse input is scaled, not centred.

    ``fit(X (N, D), Y (N, L) 0/1, n_classes=L, X_val, Y_val)``; :meth:`decision_function`
    gives the logits ``(N, L)``, :meth:`predict_proba` their sigmoid."""

    task = "multilabel"
    selection_rule = ("one L2 strength C for all labels, the value of "
                      f"{list(LinearHead.C_GRID)} with the best validation mAP (then log loss)")

    def fit(self, X, y, n_classes, X_val=None, y_val=None, seed=0) -> OneVsRestLogisticHead:
        self.sparse_ = hasattr(X, "tocsr")
        self.mean_, self.scale_ = _moments(X)  # sparse: scale only
        Z = _as_tensor(self._standardise(X, np.float32))
        Y = torch.as_tensor(np.asarray(y, dtype=np.float32))
        grid = c_grid(self.C, self.C_GRID, y_val if X_val is not None else None)
        Zv = _as_tensor(self._standardise(X_val, np.float32)) if len(grid) > 1 else None

        def score(W: torch.Tensor) -> float:
            with torch.no_grad():
                p = torch.sigmoid(Zv @ W[:, :-1].T + W[:, -1]).double().numpy()
            return _val_score(np.asarray(y_val), p)

        self.C_, W = regularisation_path(
            grid, lambda W, C: _fit_sigmoid(Z, Y, W, C, self.max_iter),
            torch.zeros(n_classes, Z.shape[1] + 1, dtype=Z.dtype), score if Zv is not None
            else None)
        W = W.double().numpy()
        self.coef_, self.intercept_ = W[:, :-1], W[:, -1]
        return self

    def _standardise(self, X, dtype=np.float64):
        if self.sparse_:
            return X.multiply(1.0 / self.scale_).tocsr()
        return standardise_rows(X, self.mean_, self.scale_, dtype)

    def decision_function(self, X) -> np.ndarray:
        """Logits ``(N, L)``."""
        return np.asarray(self._standardise(X) @ self.coef_.T) + self.intercept_

    def predict_proba(self, X) -> np.ndarray:
        """Per-label probabilities ``(N, L)`` (independent sigmoids, rows need not sum to
        one)."""
        return 1.0 / (1.0 + np.exp(-self.decision_function(X)))


def _val_score(Y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """(mAP, -log loss) on validation: higher is better."""
    q = np.clip(p, 1e-12, 1 - 1e-12)
    nll = float(-(Y * np.log(q) + (1 - Y) * np.log(1 - q)).mean())
    score = mean_average_precision(Y, p)
    return (-np.inf if np.isnan(score) else score), -nll


def _fit_sigmoid(Z: torch.Tensor, Y: torch.Tensor, W: torch.Tensor, C: float, max_iter: int
                 ) -> torch.Tensor:
    """Minimise, summed over the labels, mean BCE + ||coef_l||^2 / (2 C n) with full-batch
    L-BFGS. W: (L, D + 1), last column the intercepts."""
    W.requires_grad_(True)
    opt = torch.optim.LBFGS([W], lr=1.0, max_iter=max_iter, history_size=20,
                            tolerance_grad=1e-6, tolerance_change=1e-7,
                            line_search_fn="strong_wolfe")
    n = len(Y)
    reg = 1.0 / (2.0 * C * n)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        logits = Z @ W[:, :-1].T + W[:, -1]
        loss = (nn.functional.binary_cross_entropy_with_logits(logits, Y, reduction="sum") / n
                + reg * W[:, :-1].pow(2).sum())
        loss.backward()
        return loss

    with single_thread():
        opt.step(closure)
    return W.detach()

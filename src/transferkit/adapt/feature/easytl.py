"""EasyTL: easy transfer learning by intra-domain programming (Wang et al., ICME 2019).

Two steps, no hyperparameter: CORAL aligns the source to the target (intra-domain alignment),
then every target sample is assigned to a source class centre by a linear program over the
whole target batch ("intra-domain programming"):

    min_M  sum_ic D_ic M_ic   s.t.  sum_c M_ic = 1 (each sample),  sum_i M_ic >= 1 (each class),
           0 <= M <= 1,

``D (n, n_classes)`` the Euclidean distances to the class centres. The constraint matrix is
that of a transportation problem, so the optimum is integral: without the class constraint it
is nearest-centre assignment, which is returned directly when it already covers every class.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import sparse
from scipy.optimize import linprog
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from transferkit.adapt.base import as_features, as_labels, register
from transferkit.adapt.feature.coral import CORAL
from transferkit.adapt.kernels import squared_distances
from transferkit.errors import TransferkitError, check


def cover_every_class(D: np.ndarray) -> np.ndarray:
    """Column index ``(n,)`` per row of costs ``D (n, C)``: the cheapest assignment in which
    every column gets at least one row (the relaxation is integral); plain ``argmin`` when
    ``n < C`` or when the row-wise minimum already covers every column."""
    n, C = D.shape
    best = D.argmin(1)
    if n < C or np.unique(best).size == C:
        return best
    rows = np.repeat(np.arange(n), C)
    ones = np.ones(n * C)
    each_row = sparse.csr_array((ones, (rows, np.arange(n * C))), shape=(n, n * C))
    each_col = sparse.csr_array((-ones, (np.tile(np.arange(C), n), np.arange(n * C))),
                                shape=(C, n * C))
    res = linprog(D.ravel(), A_ub=each_col, b_ub=-np.ones(C), A_eq=each_row, b_eq=np.ones(n),
                  bounds=(0, 1), method="highs")
    if res.status != 0:  # not expected: the problem is feasible whenever n >= C
        raise TransferkitError(
            f"intra-domain programming failed: {res.message}",
            "report this; meanwhile use EasyTL(IntraDomainProgramming(cover_classes=False))")
    return res.x.reshape(n, C).argmax(1)


class IntraDomainProgramming(ClassifierMixin, BaseEstimator):
    """Nearest class centre with EasyTL's batch constraint (every class gets >= 1 sample).

    ``fit(X (n, d), y (n,))`` stores the class means; ``predict(X)`` assigns the batch ``X``
    jointly (transductive, as in the paper); ``cover_classes=False`` gives plain nearest-centre.
    ``predict_proba`` is the softmax of minus the distances ``(n, n_classes)``.
    """

    def __init__(self, cover_classes: bool = True) -> None:
        self.cover_classes = cover_classes

    def fit(self, X: Any, y: Any) -> IntraDomainProgramming:
        """Compute the class centres.

        Parameters
        ----------
        X : array-like, shape (n, d)
            Training features.
        y : array-like, shape (n,)
            Their labels (at least two classes).

        Returns
        -------
        IntraDomainProgramming
            ``self``, with ``classes_ (K,)`` and ``centers_ (K, d)``.

        Raises
        ------
        TransferkitError
            For a single class, NaN/inf features or a label count that does not match.
        """
        X = as_features(X, "X")
        y = as_labels(y, X.shape[0], "y")
        self.classes_, codes = np.unique(y, return_inverse=True)
        check(self.classes_.size >= 2, "y has a single class", "give at least two classes")
        counts = np.bincount(codes)
        self.centers_ = np.zeros((self.classes_.size, X.shape[1]))
        np.add.at(self.centers_, codes, X)
        self.centers_ /= counts[:, None]
        self.n_features_in_ = X.shape[1]
        return self

    def _distances(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "centers_")
        X = as_features(X, "X")
        check(X.shape[1] == self.n_features_in_,
              f"X has {X.shape[1]} features but the centres have {self.n_features_in_}",
              "pass data with the same columns as at fit time")
        return np.sqrt(squared_distances(X, self.centers_))

    def predict(self, X: Any) -> np.ndarray:
        """Assign the batch ``X (n, d)`` jointly: the nearest class centre, under the
        constraint that every class gets at least one sample when ``cover_classes``
        (a linear program over the batch; transductive).

        Returns
        -------
        ndarray, shape (n,)
            Predicted labels (values of ``classes_``).
        """
        D = self._distances(X)
        return self.classes_[cover_every_class(D) if self.cover_classes else D.argmin(1)]

    def predict_proba(self, X: Any) -> np.ndarray:
        """Softmax of minus the distances of ``X (n, d)`` to the class centres.

        Returns
        -------
        ndarray, shape (n, K)
            Rows sum to 1; columns follow ``classes_``.
        """
        logits = -self._distances(X)
        logits -= logits.max(1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(1, keepdims=True)


@register("easytl")
class EasyTL(CORAL):
    """CORAL alignment (``eps=1``) + :class:`IntraDomainProgramming`; no hyperparameter to tune.

    ``align=False`` skips the alignment (the paper's EasyTL(c)). ``estimator`` may replace the
    programming step by any classifier (then it is CORAL with another default).
    """

    def __init__(self, estimator: Any = None, eps: float = 1.0, align: bool = True) -> None:
        super().__init__(estimator=estimator, eps=eps)
        self.align = align

    def _default_estimator(self) -> Any:
        return IntraDomainProgramming()

    def _fit_map(self, Xs: np.ndarray, ys: np.ndarray, Xt: np.ndarray) -> np.ndarray:
        if self.align:
            return super()._fit_map(Xs, ys, Xt)
        self.coral_matrix_ = None
        return Xs

    def _map(self, X: np.ndarray, domain: str) -> np.ndarray:
        return X if self.coral_matrix_ is None else super()._map(X, domain)

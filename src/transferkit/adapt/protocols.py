"""Evaluation protocols of published papers, so their tables can be reproduced exactly.

These are not adaptation methods; they pin down the classifier details that a paper's
numbers depend on (which SVM, how its ``C`` was chosen).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.svm import SVC

from transferkit.adapt.feature.coral import CORAL

#: the C grid of the CORAL authors' evaluation code
CORAL_C_GRID = (0.001, 0.01, 0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0)


def linear_svm_source_cv(kernel: str = "linear", random_state: int | None = 0) -> Any:
    """Linear (or precomputed-kernel) SVM whose ``C`` is picked by 2-fold CV on source labels."""
    folds = StratifiedKFold(n_splits=2, shuffle=True, random_state=random_state)
    return GridSearchCV(SVC(kernel=kernel), {"C": list(CORAL_C_GRID)}, cv=folds)


def coral_paper_protocol(Xs: np.ndarray, ys: np.ndarray, Xt: np.ndarray, eps: float = 1.0,
                         random_state: int | None = 0) -> np.ndarray:
    """Target predictions ``(nt,)`` exactly as the CORAL paper's evaluation code makes them.

    That code trains a libsvm SVM on the similarity ``Xs A Xs^T`` and tests on ``Xt A^T Xs^T``
    (``A`` the CORAL matrix), ``C`` by 2-fold CV on the source. Note the training kernel is not
    the Gram matrix of the CORAL-mapped source ``(Xs A)(Xs A)^T``; :class:`CORAL` with
    :func:`linear_svm_source_cv` as estimator is the consistent version.
    """
    A = CORAL(eps=eps).fit(Xs, ys, Xt).coral_matrix_
    svm = linear_svm_source_cv("precomputed", random_state)
    svm.fit(Xs @ A @ Xs.T, ys)
    return svm.predict(Xt @ A.T @ Xs.T)

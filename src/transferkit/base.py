"""What every estimator shares: label encoding, fit-argument checks, the frozen-backbone
cache and :class:`HeadClassifier` (featurise, fit a head, choose a threshold, refit).

It sits below the estimator modules (``estimator``, ``finetune.estimator``, ``adapt.deep``),
so none of them imports another for these pieces.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import train_test_split

from .backbones import Backbone, load_backbone
from .data.dataset import as_inputs, labels_as, take
from .errors import TransferkitError
from .heads import make_head
from .metrics import THRESHOLD_METRICS, choose_threshold, decide

_LOADED: dict[str, Backbone] = {}


def shared_backbone(name: str | Backbone) -> Backbone:
    """Load a frozen backbone once per process (estimators are cloned, e.g. per CV fold)."""
    if isinstance(name, Backbone):
        return name
    if name not in _LOADED:
        _LOADED[name] = load_backbone(name)
    return _LOADED[name]


def check_fit_args(X_val: Any, y_val: Any, threshold_metric: str | None) -> None:
    """One-line errors for ``fit`` arguments that would fail late: a validation set given
    half, an unknown threshold metric."""
    if (X_val is None) != (y_val is None):
        raise TransferkitError("X_val and y_val go together (one was given without the other)",
                               "pass both, or neither to hold out validation_fraction")
    if threshold_metric and threshold_metric not in THRESHOLD_METRICS:
        raise TransferkitError(f"unknown threshold_metric '{threshold_metric}'",
                               f"use one of: {', '.join(THRESHOLD_METRICS)} (or None)")


def encode_labels(
    X: Any, y: Any, y_val: Any = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Check labels and encode them: (classes_, codes (N,), validation codes or None)."""
    y = np.asarray(y)
    n = X.shape[0] if hasattr(X, "shape") else len(X)  # sparse matrices have no len()
    if n != len(y):
        raise TransferkitError(f"{n} inputs but {len(y)} labels", "pass one label per input")
    classes = np.unique(y)
    if len(classes) < 2:
        raise TransferkitError(
            f"the training labels hold one class only ({classes[0]!r})",
            "a classifier needs at least two classes",
        )
    val_codes = None
    if y_val is not None:
        y_val = np.asarray(y_val)
        unknown = set(np.unique(y_val)) - set(classes)
        if unknown:
            raise TransferkitError(
                f"validation labels {sorted(unknown)} are not among the training classes",
                "every validation class must appear in training",
            )
        val_codes = np.searchsorted(classes, y_val)
    return classes, np.searchsorted(classes, y), val_codes


def _stack(a: Any, b: Any) -> Any:
    if hasattr(a, "tocsr"):
        import scipy.sparse as sp

        return sp.vstack([a, b]).tocsr()
    return np.concatenate([a, b])


class HeadClassifier(ClassifierMixin, BaseEstimator):
    """Shared fit/predict: featurise, fit the head (validation-selected), pick a threshold,
    then (``refit``) retrain with the chosen settings on train + validation."""

    head: Any
    head_params: dict | None
    validation_fraction: float
    threshold_metric: str | None
    refit: bool
    random_state: int

    def _features(self, X: Any, fitting: bool) -> Any:
        raise NotImplementedError

    def fit(self, X: Any, y: Any, X_val: Any = None, y_val: Any = None) -> HeadClassifier:
        """Fit on ``X``/``y``. Hyperparameters, early stopping and the binary threshold use
        ``X_val``/``y_val`` if given, else a stratified ``validation_fraction`` of ``X``."""
        check_fit_args(X_val, y_val, self.threshold_metric)
        X, X_val = as_inputs(X), as_inputs(X_val)
        self.classes_, codes, c_val_given = encode_labels(X, y, y_val)
        train_idx, val_idx = self._validation_indices(codes, X_val is not None)
        F = self._features(X, fitting=True) if X_val is None else None
        if X_val is not None:
            F_train = self._features(X, fitting=True)
            F_val = self._features(X_val, fitting=False)
            c_train, c_val = codes, c_val_given
        else:
            F_train, c_train = take(F, train_idx), codes[train_idx]
            F_val, c_val = (take(F, val_idx), codes[val_idx]) if len(val_idx) else (None, None)
        params = dict(self.head_params or {})
        self.head_ = make_head(self.head, **params)
        self.head_.fit(F_train, c_train, len(self.classes_), F_val, c_val, seed=self.random_state)
        self.threshold_ = None
        if len(self.classes_) == 2 and self.threshold_metric and c_val is not None:
            p_val = self.head_.predict_proba(F_val)[:, 1]
            self.threshold_ = choose_threshold(c_val, p_val, self.threshold_metric)
        self.n_validation_ = 0 if c_val is None else int(len(c_val))
        if self.refit and c_val is not None:
            # What validation chose is now fixed; train once more on train + validation.
            self.head_ = make_head(self.head, **{**params, **self.head_.chosen_params()})
            self.head_.fit(_stack(F_train, F_val), np.concatenate([c_train, c_val]),
                           len(self.classes_), seed=self.random_state)
        return self

    def _validation_indices(self, codes: np.ndarray, external: bool) -> tuple[np.ndarray, ...]:
        idx = np.arange(len(codes))
        counts = np.bincount(codes)
        n_val = int(round(self.validation_fraction * len(codes)))
        if external or self.validation_fraction <= 0 or counts.min() < 2 or n_val < len(counts):
            return idx, idx[:0]  # too few samples to hold any out: fixed hyperparameters
        tr, va = train_test_split(
            idx, test_size=n_val, stratify=codes, random_state=self.random_state
        )
        return np.sort(tr), np.sort(va)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities (N, n_classes), columns in ``classes_`` order."""
        self._check_fitted()
        return self.head_.predict_proba(self._features(as_inputs(X), fitting=False))

    def predict(self, X: Any) -> np.ndarray:
        proba = self.predict_proba(X)
        return self.classes_[decide(proba, self.threshold_)]

    def _check_fitted(self) -> None:
        if not hasattr(self, "head_"):
            raise TransferkitError(
                f"this {type(self).__name__} is not fitted yet", "call fit(X, y) first"
            )


def label_codes(classes: np.ndarray, y: Any) -> np.ndarray:
    """Class indices ``(n,)`` of labels ``y (n,)`` among sorted ``classes (C,)`` (labels
    matched by value, else by text: see :func:`transferkit.data.dataset.labels_as`)."""
    return np.searchsorted(classes, labels_as(classes, np.asarray(y)))

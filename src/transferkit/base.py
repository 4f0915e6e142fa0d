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
from sklearn.utils import Tags, assert_all_finite
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import column_or_1d

from .backbones import Backbone, load_backbone
from .data.dataset import as_inputs, labels_as, take
from .errors import NotFitted, TransferkitError
from .heads import head_for_task, make_head
from .metrics import choose_threshold, decide, threshold_scorer
from .tasks import Classification, MultiLabel, Regression, Task, make_task

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
    if threshold_metric:
        threshold_scorer(threshold_metric)  # unknown or a bad cost ratio -> one line


def check_labels(y: Any, name: str = "y") -> np.ndarray:
    """``y`` as a 1-D array of class labels, else one line: no labels, more than one column,
    NaN, continuous values (scikit-learn's ``check_classification_targets``).

    Parameters
    ----------
    y : array-like (n,) or (n, 1)
        Class labels (ints or strings); a column vector is raveled with a
        ``DataConversionWarning``, as scikit-learn does.
    name : str
        What the labels are called in the error ("y", "y_val").

    Returns
    -------
    numpy.ndarray
        The labels, shape (n,).
    """
    if y is None:
        raise TransferkitError(f"this classifier requires {name} to be passed, but the target "
                               f"{name} is None", "pass one class label per input")
    try:
        y = column_or_1d(y, warn=True)
        if y.dtype.kind in "fc":
            assert_all_finite(y, input_name=name)
        check_classification_targets(y)
    except ValueError as exc:
        raise TransferkitError(str(exc).strip().splitlines()[0].rstrip(".:"),
                               f"pass {name} as one discrete class label (int or str) per input"
                               ) from exc
    return y


def encode_labels(
    X: Any, y: Any, y_val: Any = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Check labels (see :func:`check_labels`) and encode them.

    Parameters
    ----------
    X : inputs
        The training inputs (only their number is read).
    y : array-like (n,)
        Their labels.
    y_val : array-like or None
        Validation labels: each must be a training class.

    Returns
    -------
    tuple
        ``(classes_ (C,), codes (n,), validation codes or None)``.
    """
    y = check_labels(y)
    n = X.shape[0] if hasattr(X, "shape") else len(X)  # sparse matrices have no len()
    if n != len(y):
        raise TransferkitError(f"{n} inputs but {len(y)} labels", "pass one label per input")
    if n == 0:
        raise TransferkitError("no training samples (0 inputs)", "pass inputs and their labels")
    classes = np.unique(y)
    if len(classes) < 2:
        raise TransferkitError(
            f"the training labels hold one class only ({classes[0]!r})",
            "a classifier needs at least two classes",
        )
    val_codes = None
    if y_val is not None:
        y_val = check_labels(y_val, "y_val")
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
    then (``refit``) retrain with the chosen settings on train + validation.

    A subclass with a ``task`` parameter other than ``"classification"`` fits that task's
    targets the same way (:meth:`_fit_task`): ``multilabel`` (a one-vs-rest head, per-label
    thresholds chosen on validation) or ``regression`` (a ridge head on standardised
    targets, its alpha chosen on validation).

    Its inputs are what a pretrained backbone takes -- texts (list of str) or images (paths,
    PIL images, uint8 arrays (N, H, W[, C])) -- and its tags say so: scikit-learn's checks
    on 2-D numeric arrays do not apply (a subclass on numeric columns changes the tags)."""

    head: Any
    head_params: dict | None
    validation_fraction: float
    threshold_metric: str | None
    refit: bool
    random_state: int

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False  # no numeric columns: texts or images
        tags.input_tags.three_d_array = True  # image arrays (N, H, W[, C])
        tags.input_tags.string = True  # texts, image paths
        return tags

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "head_")

    def _check_inputs(self, X: Any, reset: bool) -> Any:
        """``X`` in the form ``_features`` takes (pandas inputs converted; a sparse matrix
        refused: a backbone reads texts or images). ``reset``: at fit, where a subclass
        records what it learns about the inputs (e.g. ``n_features_in_``)."""
        X = as_inputs(X)
        if hasattr(X, "tocsr"):
            raise TransferkitError(
                f"{type(self).__name__} does not take sparse input (its backbone reads texts "
                "or images)", "pass the texts or images; FromScratchClassifier takes sparse "
                "feature columns")
        return X

    def _features(self, X: Any, fitting: bool) -> Any:
        raise NotImplementedError

    def fit(self, X: Any, y: Any, X_val: Any = None, y_val: Any = None) -> HeadClassifier:
        """Fit on ``X``/``y``. Hyperparameters, early stopping and the binary threshold use
        ``X_val``/``y_val`` if given, else a stratified ``validation_fraction`` of ``X``.

        Parameters
        ----------
        X : inputs
            Training inputs (see the class docstring for the forms taken).
        y : array-like (n,)
            Their class labels.
        X_val, y_val : inputs and labels, or None
            A validation set for model selection (both or neither).

        Returns
        -------
        HeadClassifier
            ``self``, fitted.
        """
        task = make_task(getattr(self, "task", "classification"),
                         **(getattr(self, "task_params", None) or {}))
        if not isinstance(task, Classification):
            return self._fit_task(task, X, y, X_val, y_val)
        self.__dict__.pop("task_", None)  # from an earlier fit on another task
        check_fit_args(X_val, y_val, self.threshold_metric)
        X = self._check_inputs(X, reset=True)
        X_val = None if X_val is None else self._check_inputs(X_val, reset=False)
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
            del F  # the splits are copies: hold the features once
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
            F_all = _stack(F_train, F_val)
            del F_train, F_val  # held once, as F_all
            self.head_ = make_head(self.head, **{**params, **self.head_.chosen_params()})
            self.head_.fit(F_all, np.concatenate([c_train, c_val]),
                           len(self.classes_), seed=self.random_state)
        return self

    def _fit_task(self, task: Task, X: Any, y: Any, X_val: Any, y_val: Any) -> HeadClassifier:
        """Fit a multi-label or regression ``task`` on features: the task encodes the targets
        (regression: standardised), the head for the task (``head_for_task``) chooses its
        hyperparameters on validation (``X_val``/``y_val``, else a seeded random
        ``validation_fraction``), multi-label thresholds are chosen on validation by
        ``task.choose_thresholds``, then (``refit``) the head is retrained with what
        validation chose on train + validation."""
        if not isinstance(task, MultiLabel | Regression):
            raise TransferkitError(f"the frozen-feature path fits classification, multilabel "
                                   f"or regression, not {task.name}",
                                   "train a multi-task model through the loop "
                                   "(transferkit.finetune.FineTuneClassifier)")
        if isinstance(task, MultiLabel) and self.threshold_metric not in (None, "f1"):
            raise TransferkitError(
                f"multi-label thresholds maximise each label's F1 on validation; "
                f"threshold_metric={self.threshold_metric!r} is a binary criterion",
                "use threshold_metric='f1' (per-label thresholds) or None (0.5 for all)")
        check_fit_args(X_val, y_val, None)
        head_name = head_for_task(self.head, task.name)  # a wrong head: one line, no work
        if y is None:
            raise TransferkitError(f"{type(self).__name__} requires y to be passed, but the "
                                   "target y is None", "pass one target per input")
        if isinstance(task, Regression):  # numbers: any array-like, a column (n, 1) too
            y = column_or_1d(np.asarray(y), warn=True)
            y_val = None if y_val is None else column_or_1d(np.asarray(y_val), warn=True)
        X = self._check_inputs(X, reset=True)
        X_val = None if X_val is None else self._check_inputs(X_val, reset=False)
        n = X.shape[0] if hasattr(X, "shape") else len(X)
        if n == 0:
            raise TransferkitError("no training samples (0 inputs)",
                                   "pass inputs and their targets")
        if y is None or n != len(y):
            raise TransferkitError(f"{n} inputs but {0 if y is None else len(y)} targets",
                                   "pass one target per input")
        task.fit(y)
        targets = task.encode(y)
        t_val = None if y_val is None else task.encode(y_val, "the validation targets")
        if X_val is not None:
            F_train, t_train = self._features(X, fitting=True), targets
            F_val = self._features(X_val, fitting=False)
        else:
            train_idx, val_idx = self._random_split(len(targets))
            F = self._features(X, fitting=True)
            F_train, t_train = take(F, train_idx), targets[train_idx]
            F_val, t_val = ((take(F, val_idx), targets[val_idx]) if len(val_idx)
                            else (None, None))
            del F  # the splits are copies: hold the features once
        params = dict(self.head_params or {})
        self.head_ = make_head(head_name, **params)
        self.head_.fit(F_train, t_train, task.out_features, F_val, t_val,
                       seed=self.random_state)
        self.task_ = task
        if isinstance(task, MultiLabel):
            self.classes_ = task.classes_
        else:
            self.__dict__.pop("classes_", None)
        self.threshold_ = None
        if isinstance(task, MultiLabel) and self.threshold_metric and t_val is not None:
            self.threshold_ = task.choose_thresholds(
                t_val, self._activate(self.head_.decision_function(F_val))).tolist()
        self.n_validation_ = 0 if t_val is None else int(len(t_val))
        self.chosen_ = self.head_.chosen_params()  # what validation chose (e.g. alpha, C)
        if self.refit and t_val is not None:
            F_all = _stack(F_train, F_val)
            del F_train, F_val
            self.head_ = make_head(head_name, **{**params, **self.chosen_})
            self.head_.fit(F_all, np.concatenate([t_train, t_val]), task.out_features,
                           seed=self.random_state)
        return self

    def _activate(self, outputs: np.ndarray) -> np.ndarray:
        """A task head's raw outputs ``(N, K)`` -> the task's predictions (per-label
        probabilities, or values in the targets' units)."""
        import torch

        return self.task_.activate(torch.as_tensor(outputs)).numpy()

    def _random_split(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Seeded ``validation_fraction`` split of ``n`` samples (no classes to stratify)."""
        idx = np.arange(n)
        n_val = int(round(self.validation_fraction * n))
        if n_val < 2 or n - n_val < 2:
            return idx, idx[:0]
        va = np.random.default_rng(self.random_state).permutation(n)[:n_val]
        return np.setdiff1d(idx, va), np.sort(va)

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

    def _outputs(self, X: Any) -> np.ndarray:
        """The task's activated predictions ``(N, K)``: class or per-label probabilities, or
        values ``(N, 1)`` in the targets' units."""
        self._check_fitted()
        X = self._check_inputs(X, reset=False)
        features = self._features(X, fitting=False)
        if getattr(self, "task_", None) is not None:  # multilabel, regression
            return self._activate(self.head_.decision_function(features))
        return self.head_.predict_proba(features)

    @available_if(lambda self: gives_probabilities(self))
    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities (per-label probabilities for ``task="multilabel"``; a
        regressor has none).

        Parameters
        ----------
        X : inputs
            In a form ``fit`` took.

        Returns
        -------
        numpy.ndarray
            Shape (N, n_classes), columns in ``classes_`` order.
        """
        return self._outputs(X)

    def predict(self, X: Any) -> np.ndarray:
        """Predicted classes: the most probable one, or for two classes probability above
        the threshold chosen on validation (``threshold_``).

        Parameters
        ----------
        X : inputs
            In a form ``fit`` took.

        Returns
        -------
        numpy.ndarray
            Shape (N,), values from ``classes_``; for ``task="multilabel"`` a 0/1 array
            (N, L) in ``classes_`` order (per-label validation thresholds, else 0.5); for
            ``task="regression"`` the values (N,).
        """
        self._check_fitted()
        task = getattr(self, "task_", None)
        if isinstance(task, MultiLabel):
            thresholds = 0.5 if self.threshold_ is None else np.asarray(self.threshold_)
            return (self.predict_proba(X) >= thresholds).astype(int)
        if isinstance(task, Regression):  # a regressor has no predict_proba
            return self._outputs(X)[:, 0]
        proba = self.predict_proba(X)
        return self.classes_[decide(proba, self.threshold_)]

    def _check_fitted(self) -> None:
        """:class:`~transferkit.errors.NotFitted` (scikit-learn's ``NotFittedError``)
        unless ``fit`` has run."""
        if not self.__sklearn_is_fitted__():
            raise NotFitted(
                f"this {type(self).__name__} is not fitted yet", "call fit(X, y) first"
            )


def gives_probabilities(model: Any) -> bool:
    """Whether ``model`` predicts probabilities (a classifier, or per-label for multi-label),
    not values (a regressor, which has no ``predict_proba``, as scikit-learn expects)."""
    return getattr(model, "task", "classification") != "regression"


def predictions(model: Any, X: Any) -> np.ndarray:
    """What ``model`` predicts for ``X`` as a 2-D array: ``predict_proba(X)`` ``(N, K)``
    where it has one, else its values ``predict(X)`` as ``(N, 1)``.

    Parameters
    ----------
    model : fitted estimator
        A transferkit classifier, multi-label model or regressor.
    X : inputs
        In a form the model's ``fit`` took.

    Returns
    -------
    numpy.ndarray
        ``(N, K)`` probabilities, or ``(N, 1)`` values.
    """
    if hasattr(model, "predict_proba"):
        return model.predict_proba(X)
    return np.asarray(model.predict(X), dtype=float).reshape(-1, 1)


def label_codes(classes: np.ndarray, y: Any) -> np.ndarray:
    """Class indices ``(n,)`` of labels ``y (n,)`` among sorted ``classes (C,)`` (labels
    matched by value, else by text: see :func:`transferkit.data.dataset.labels_as`)."""
    return np.searchsorted(classes, labels_as(classes, np.asarray(y)))

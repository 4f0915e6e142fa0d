"""Shared pieces of the shallow domain-adaptation methods.

Every method is a scikit-learn style estimator fitted with ``fit(Xs, ys, Xt)`` where

* ``Xs``: source features, shape ``(n_source, n_features)``;
* ``ys``: source labels, shape ``(n_source,)``;
* ``Xt``: *unlabelled* target features, shape ``(n_target, n_features)``.

Target labels are never accepted positionally: only methods that really use a few labelled
target samples (TrAdaBoost, RegularTransfer, MultiTask) take them, as the keyword ``yt=``.
Anything else raises a :class:`~transferkit.errors.TransferkitError` so that a label leak
cannot pass silently.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.model_selection._search import BaseSearchCV
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted, has_fit_parameter

from transferkit.errors import TransferkitError, check
from transferkit.registry import Registry

if TYPE_CHECKING:  # optuna is imported only by the tune command
    import optuna

DOMAINS = ("source", "target")

#: name -> adapter class (the project-wide :class:`~transferkit.registry.Registry`).
ADAPTERS: Registry[type[BaseAdapter]] = Registry("adapter")


class AdaptWarning(UserWarning):
    """Something in the input is suspicious but the method can still run."""


def register(name: str) -> Callable[[type[BaseAdapter]], type[BaseAdapter]]:
    """Class decorator: make an adapter reachable as ``ADAPTERS[name]`` (names are unique)."""

    def wrap(cls: type[BaseAdapter]) -> type[BaseAdapter]:
        key = name.lower()
        if key in ADAPTERS and ADAPTERS[key] is not cls:
            raise TransferkitError(
                f"adapter name '{key}' is already registered to {ADAPTERS[key].__name__}",
                "pick another name for the new adapter",
            )
        cls.name = key  # set explicitly: a subclass (JDA < TCA) must not inherit the parent's
        return ADAPTERS.register(key)(cls)

    return wrap


def get_adapter(name: str) -> type[BaseAdapter]:
    """Adapter class registered under ``name`` (case-insensitive)."""
    return ADAPTERS.get(str(name).lower())


# --------------------------------------------------------------------------- input checks


def as_features(X: Any, name: str) -> np.ndarray:
    """``X`` as a finite float64 array of shape ``(n_samples, n_features)``."""
    try:
        arr = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TransferkitError(
            f"{name} is not a numeric array ({exc})",
            "pass a dense 2-D numeric array of shape (n_samples, n_features)",
        ) from exc
    check(
        arr.ndim == 2,
        f"{name} must be 2-D (n_samples, n_features) but has shape {arr.shape}",
        "reshape it, e.g. X.reshape(-1, 1) for a single feature",
    )
    check(arr.shape[0] > 0 and arr.shape[1] > 0, f"{name} is empty (shape {arr.shape})",
          "pass at least one sample with at least one feature")
    finite = np.isfinite(arr)
    if not finite.all():
        row = int(np.nonzero(~finite.all(axis=1))[0][0])
        raise TransferkitError(
            f"{name} contains {int((~finite).sum())} NaN/inf values (first in row {row})",
            "impute or drop those values before adapting",
        )
    return arr


def as_labels(y: Any, n_samples: int, name: str) -> np.ndarray:
    """``y`` as a 1-D label array of length ``n_samples`` (a ``(n, 1)`` column is accepted)."""
    arr = np.asarray(y)
    if arr.ndim == 2 and 1 in arr.shape:
        arr = arr.ravel()
    check(arr.ndim == 1, f"{name} must be 1-D (n_samples,) but has shape {arr.shape}",
          "pass one label per sample")
    check(
        arr.shape[0] == n_samples,
        f"{name} has {arr.shape[0]} labels for {n_samples} samples",
        "pass exactly one label per row of the features",
    )
    if arr.dtype.kind == "f":
        check(bool(np.isfinite(arr).all()), f"{name} contains NaN/inf labels",
              "drop the unlabelled rows")
    if arr.dtype == object:  # e.g. None among the labels, or str mixed with int
        check(not any(v is None for v in arr), f"{name} contains None labels",
              "drop the unlabelled rows")
        kinds = sorted({"str" if isinstance(v, str) else "number"
                        if isinstance(v, numbers.Number) else type(v).__name__ for v in arr})
        check(len(kinds) == 1, f"{name} mixes label types ({', '.join(kinds)})",
              "use one type for all labels (e.g. all str)")
    return arr


def constant_columns(X: np.ndarray) -> np.ndarray:
    """Indices of the columns of ``X`` (n, d) whose values are all equal."""
    return np.nonzero(np.ptp(X, axis=0) == 0)[0]


def check_domains(
    Xs: Any, ys: Any, Xt: Any, *, min_classes: int = 2
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate one source/target pair; returns ``(Xs (ns, d), ys (ns,), Xt (nt, d))``."""
    Xs = as_features(Xs, "Xs (source features)")
    Xt = as_features(Xt, "Xt (target features)")
    ys = as_labels(ys, Xs.shape[0], "ys (source labels)")
    check(
        Xs.shape[1] == Xt.shape[1],
        f"source has {Xs.shape[1]} features but target has {Xt.shape[1]}",
        "extract both domains with the same feature extractor so the columns match",
    )
    check(
        min(Xs.shape[0], Xt.shape[0]) >= 2,
        f"source has {Xs.shape[0]} and target {Xt.shape[0]} samples; each domain needs at "
        "least 2",
        "give more samples (statistics of one sample are undefined)",
    )
    n_classes = np.unique(ys).size
    check(
        n_classes >= min_classes,
        f"ys has {n_classes} class(es) but at least {min_classes} are needed",
        "give source samples of at least two classes",
    )
    lo_s, hi_s, lo_t, hi_t = Xs.min(0), Xs.max(0), Xt.min(0), Xt.max(0)
    dead = np.nonzero((lo_s == hi_s) & (lo_t == hi_t) & (hi_s == hi_t))[0]
    check(dead.size < Xs.shape[1], f"all {Xs.shape[1]} feature columns are constant (one value "
          "in both domains): there is nothing to learn from", "check the feature extraction")
    check(np.any(lo_s != hi_s), f"all {Xs.shape[1]} feature columns are constant in the source "
          "(Xs): no classifier can learn its labels from them",
          "check the source's feature extraction")
    if dead.size:
        warnings.warn(
            f"{dead.size} feature column(s) are constant in both domains (first: {dead[0]}); "
            "they carry no information -- drop them",
            AdaptWarning,
            stacklevel=3,
        )
    return Xs, ys, Xt


def _weight_receiver(estimator: Any) -> tuple[Any, str]:
    """The estimator that fits on the weights, and ``estimator.fit``'s keyword for them:
    a Pipeline routes them to its last step, a search (GridSearchCV, ...) to its model."""
    if isinstance(estimator, Pipeline):
        name, last = estimator.steps[-1]
        inner, key = _weight_receiver(last)
        return inner, f"{name}__{key}"
    if isinstance(estimator, BaseSearchCV):  # fit(X, y, **kw) passes kw to its model's fit
        return _weight_receiver(estimator.estimator)
    return estimator, "sample_weight"


def accepts_sample_weight(estimator: Any) -> bool:
    """Whether ``estimator.fit`` can take per-sample weights (see :func:`fit_weighted`)."""
    return has_fit_parameter(_weight_receiver(estimator)[0], "sample_weight")


def fit_weighted(estimator: Any, X: np.ndarray, y: np.ndarray, weights: np.ndarray) -> Any:
    """``estimator.fit(X, y)`` with ``weights (n,)`` as ``sample_weight`` (also through a
    Pipeline's last step or a GridSearchCV's model)."""
    return estimator.fit(X, y, **{_weight_receiver(estimator)[1]: weights})


def require_sample_weight(estimator: Any, method: str) -> None:
    """One-line error unless ``estimator.fit`` can receive ``method``'s instance weights."""
    check(
        accepts_sample_weight(estimator),
        f"{type(_weight_receiver(estimator)[0]).__name__}.fit does not accept sample_weight, "
        f"so {method}'s instance weights cannot reach it",
        "use an estimator whose fit takes sample_weight (LogisticRegression, LinearSVC, SVC, "
        "DecisionTreeClassifier, ...)",
    )


def domain_target_probability(
    Xs: np.ndarray,
    Xt: np.ndarray,
    classifier: Any = None,
    *,
    cv: int = 5,
    random_state: int | None = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold ``p(target | x)`` from a source-vs-target domain classifier.

    Returns ``(p_source (ns,), p_target (nt,))``: the probability that each sample is a target
    sample, predicted by a model that did not see it during training.
    """
    clf = LogisticRegression(C=1.0, max_iter=1000) if classifier is None else clone(classifier)
    check(hasattr(clf, "predict_proba"),
          f"domain classifier {type(clf).__name__} has no predict_proba",
          "use a probabilistic classifier such as LogisticRegression")
    X = np.vstack([Xs, Xt])
    d = np.r_[np.zeros(len(Xs), dtype=int), np.ones(len(Xt), dtype=int)]
    n_splits = int(min(cv, len(Xs), len(Xt)))
    check(n_splits >= 2, "too few samples for a cross-validated domain classifier",
          "give at least 2 source and 2 target samples")
    folds = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=random_state)
    proba = cross_val_predict(clf, X, d, cv=folds, method="predict_proba")[:, 1]
    return proba[: len(Xs)], proba[len(Xs):]


def cap_weights(w: np.ndarray, cap: float | None) -> np.ndarray:
    """Weights ``(n,)`` rescaled to mean 1 with no weight above ``cap``.

    Finds the scale ``s`` with ``mean(min(s * w, cap)) = 1`` (water-filling), so a few huge
    ratios cannot take all the mass: at least ``n / cap`` samples keep a real say.
    """
    w = np.asarray(w, dtype=np.float64) / np.mean(w)
    if cap is None or w.max() <= cap:
        return w
    check(cap > 1, f"the weight cap must be > 1 (weights average 1), got {cap}",
          "use clip=10 or None")
    lo, hi = 0.0, np.log(cap / max(w.min(), 1e-300))
    for _ in range(100):  # mean(min(e^t w, cap)) increases in t; bisect t = log s
        mid = 0.5 * (lo + hi)
        if np.minimum(np.exp(mid) * w, cap).mean() < 1.0:
            lo = mid
        else:
            hi = mid
    return np.minimum(np.exp(hi) * w, cap)


def density_ratio(p_target: np.ndarray, n_source: int, n_target: int) -> np.ndarray:
    """Density ratio ``p_t(x)/p_s(x) = p(t|x)/p(s|x) * ns/nt`` ``(n,)``, not rescaled: its
    mean over the source is 1 only in expectation (what DEV's control variate corrects)."""
    p = np.clip(p_target, 1e-6, 1 - 1e-6)
    return p / (1 - p) * (n_source / n_target)


def odds_to_weights(
    p_target: np.ndarray, n_source: int, n_target: int, clip: float | None = 10.0
) -> np.ndarray:
    """:func:`density_ratio` as weights ``(n,)``: rescaled to mean 1, none above ``clip``."""
    return cap_weights(density_ratio(p_target, n_source, n_target), clip)


# --------------------------------------------------------------------------- base classes


def _estimator_has(attr: str) -> Callable[[Any], bool]:
    def probe(self: BaseAdapter) -> bool:
        est = getattr(self, "estimator_", None)
        if est is None:  # before fit: what fit will build
            est = getattr(type(self), "_fitted_estimator_type", None) or self._make_estimator()
        return hasattr(est, attr)

    return probe


class BaseAdapter(ClassifierMixin, BaseEstimator):
    """Common ``fit / predict / predict_proba / score`` plumbing.

    Subclasses implement ``_fit(Xs, ys, Xt, yt)`` which must set ``estimator_`` and return
    nothing, plus ``_predict_input(X, domain)`` which maps raw features to what
    ``estimator_`` expects.
    """

    name: str = ""  # registry key, set by @register
    #: only True for methods that use labelled target samples (``fit(..., yt=...)``).
    uses_target_labels: bool = False

    def _default_estimator(self) -> Any:
        return LogisticRegression(max_iter=1000)

    def _make_estimator(self) -> Any:
        est = getattr(self, "estimator", None)
        return self._default_estimator() if est is None else clone(est)

    def source_only_estimator(self) -> Any:
        """The unfitted classifier this adapter trains, to fit on the source alone: the
        no-adaptation baseline of the same pipeline."""
        return self._make_estimator()

    @classmethod
    def search_space(cls, trial: optuna.Trial) -> dict[str, Any]:
        """The method's parameters to try in one tuning trial, named
        ``"<method>.<parameter>"``; ``{}`` here: shallow methods are not searched by
        ``transferkit tune`` yet (they choose their own on the label-free score, see
        :mod:`transferkit.adapt.validation`).

        Parameters
        ----------
        trial : optuna.Trial

        Returns
        -------
        dict
            Constructor keyword arguments.
        """
        return {}

    # -- fitting ------------------------------------------------------------------------
    def fit(self, Xs: Any, ys: Any, Xt: Any, *extra: Any, yt: Any = None) -> BaseAdapter:
        """Fit on labelled source ``Xs (ns, d), ys (ns,)`` and unlabelled target ``Xt (nt, d)``."""
        name = type(self).__name__
        if extra:
            raise TransferkitError(
                f"{name}.fit got {len(extra)} extra positional argument(s); target labels are "
                "never taken positionally",
                "call fit(Xs, ys, Xt); only the few-labelled-target methods (TrAdaBoost, "
                "RegularTransfer, MultiTask) take target labels, as fit(Xs, ys, Xt, yt=yt)",
            )
        if yt is not None and not self.uses_target_labels:
            raise TransferkitError(
                f"{name} is unsupervised on the target and must not see target labels (yt)",
                "drop yt=..., or use TrAdaBoost, RegularTransfer or MultiTask for a few "
                "labelled target samples",
            )
        Xs, ys, Xt = check_domains(Xs, ys, Xt)
        self.classes_ = np.unique(ys)
        if self.uses_target_labels:
            check(yt is not None, f"{name} needs labels for the target samples",
                  "call fit(Xs, ys, Xt, yt=yt) with a few labelled target samples")
            yt = as_labels(yt, Xt.shape[0], "yt (target labels)")
            new = np.setdiff1d(yt, self.classes_).tolist()
            check(not new, f"yt has class(es) {', '.join(map(str, new[:5]))} that never occur "
                  "in ys", "label target samples with source classes only")
        self.n_features_in_ = Xs.shape[1]
        self._fit(Xs, ys, Xt, yt)
        return self

    def _fit(self, Xs: np.ndarray, ys: np.ndarray, Xt: np.ndarray, yt: Any) -> None:
        raise NotImplementedError

    # -- prediction ---------------------------------------------------------------------
    def _check_X(self, X: Any, domain: str = "target") -> np.ndarray:
        check_is_fitted(self, "estimator_")
        check(domain in DOMAINS, f"domain must be 'source' or 'target', got {domain!r}",
              "pass domain='target' (default) or domain='source'")
        X = as_features(X, "X")
        check(
            X.shape[1] == self.n_features_in_,
            f"X has {X.shape[1]} features but {type(self).__name__} was fitted with "
            f"{self.n_features_in_}",
            "pass data with the same columns as at fit time",
        )
        return X

    def _predict_input(self, X: np.ndarray, domain: str) -> np.ndarray:
        return X

    def predict(self, X: Any, domain: str = "target") -> np.ndarray:
        """Labels ``(n,)`` for samples ``X (n, d)`` of ``domain`` (default: target)."""
        X = self._check_X(X, domain)
        return self.estimator_.predict(self._predict_input(X, domain))

    @available_if(_estimator_has("predict_proba"))
    def predict_proba(self, X: Any, domain: str = "target") -> np.ndarray:
        """Class probabilities ``(n, n_classes)``; only when the estimator has them."""
        X = self._check_X(X, domain)
        return self.estimator_.predict_proba(self._predict_input(X, domain))

    @available_if(_estimator_has("decision_function"))
    def decision_function(self, X: Any, domain: str = "target") -> np.ndarray:
        """Class scores ``(n, n_classes)`` (``(n,)`` for two classes, as scikit-learn); only
        when the estimator has them."""
        X = self._check_X(X, domain)
        return self.estimator_.decision_function(self._predict_input(X, domain))


class FeatureAdapter(BaseAdapter):
    """Learns a map of the features under which source and target look alike.

    ``transform(X, domain)`` applies it; the classifier ``estimator_`` is trained on the mapped
    source data. Default classifier: 1-nearest-neighbour, as in the papers' tables.
    """

    def _default_estimator(self) -> Any:
        return KNeighborsClassifier(n_neighbors=1)

    def _fit(self, Xs: np.ndarray, ys: np.ndarray, Xt: np.ndarray, yt: Any) -> None:
        Zs = self._fit_map(Xs, ys, Xt)
        self.estimator_ = self._make_estimator().fit(Zs, ys)

    def _fit_map(self, Xs: np.ndarray, ys: np.ndarray, Xt: np.ndarray) -> np.ndarray:
        """Learn the map; return the mapped source samples ``(ns, k)``."""
        raise NotImplementedError

    def _map(self, X: np.ndarray, domain: str) -> np.ndarray:
        raise NotImplementedError

    def _predict_input(self, X: np.ndarray, domain: str) -> np.ndarray:
        return self._map(X, domain)

    def transform(self, X: Any, domain: str = "target") -> np.ndarray:
        """Map samples ``X (n, d)`` of ``domain`` into the adapted space ``(n, k)``."""
        return self._map(self._check_X(X, domain), domain)


def warn_lost_classes(weights: np.ndarray, ys: np.ndarray, method: str,
                      floor: float = 0.01) -> None:
    """An :class:`AdaptWarning` when ``weights (ns,)`` leave some classes of ``ys (ns,)``
    less than ``floor`` of the share of the total weight their sample count gives them."""
    classes, counts = np.unique(ys, return_counts=True)
    mass = np.array([weights[ys == c].sum() for c in classes]) / max(weights.sum(), 1e-300)
    lost = classes[mass < floor * counts / counts.sum()]
    if lost.size:
        ess = weights.sum() ** 2 / max((weights ** 2).sum(), 1e-300)
        warnings.warn(
            f"{method}'s weights leave source class(es) {', '.join(map(str, lost.tolist()[:5]))}"
            f" almost no weight (effective sample size {ess:.0f} of {ys.size}), so the "
            "classifier will rarely predict them -- the domains may barely overlap: compare "
            "with no adaptation, or change the method's kernel width or bounds",
            AdaptWarning, stacklevel=4)


class InstanceAdapter(BaseAdapter):
    """Re-weights source samples so they resemble the target; ``weights_`` has shape (ns,).

    The weights reach the classifier through ``fit(X, y, sample_weight=weights_)``. Default
    classifier: logistic regression.
    """

    def _fit(self, Xs: np.ndarray, ys: np.ndarray, Xt: np.ndarray, yt: Any) -> None:
        estimator = self._make_estimator()
        require_sample_weight(estimator, type(self).__name__)  # fail before the weights' cost
        self.weights_ = np.asarray(self._fit_weights(Xs, ys, Xt), dtype=np.float64)
        warn_lost_classes(self.weights_, ys, type(self).__name__)
        self.estimator_ = fit_weighted(estimator, Xs, ys, self.weights_)

    def _fit_weights(self, Xs: np.ndarray, ys: np.ndarray, Xt: np.ndarray) -> np.ndarray:
        """Non-negative weights ``(ns,)`` of the source samples."""
        raise NotImplementedError

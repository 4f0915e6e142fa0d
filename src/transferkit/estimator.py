"""scikit-learn-compatible estimators: transfer (frozen backbone + head) and from-scratch.

>>> clf = TransferClassifier(backbone="minilm").fit(texts, y)      # doctest: +SKIP
>>> clf.predict(["free prize, call now"])                            # doctest: +SKIP
"""

from __future__ import annotations

import inspect
import numbers
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.utils import Tags
from sklearn.utils.validation import validate_data

from ._io import load_tensors
from .backbones import Backbone, check_modality
from .base import HeadClassifier, shared_backbone
from .baselines import RAW_FEATURIZERS
from .data.dataset import as_inputs, infer_modality
from .errors import TransferkitError
from .features import extract_features
from .finetune import FineTuneClassifier, FineTuneRegressor
from .finetune.callbacks import Callback
from .heads import HEADS
from .runformat import load_run, register_run_kind, run_config, write_run
from .settings import estimator_init
from .tasks import Classification, Regression, task_from_dict

HEAD = "head.safetensors"


class TransferClassifier(HeadClassifier):
    """Frozen pretrained backbone + a new head on its (cached) features.

    Parameters: ``backbone`` (registry name, see ``transferkit backbones``), ``head``
    ("logistic" or "mlp"), ``head_params`` (dict), ``validation_fraction`` (held out of the
    training data for model selection when no validation set is passed), ``threshold_metric``
    (binary: metric the decision threshold maximises on validation; None = 0.5),
    ``refit`` (retrain on train + validation with what validation chose, like scikit-learn's
    ``GridSearchCV``), ``batch_size``, ``engine`` ("auto", "onnx", "torch"), ``cache``
    (feature cache on disk), ``random_state``.

    ``strategy`` other than "linear-probe" (the default, this cached-feature path) trains the
    backbone too: the fit is delegated to :class:`transferkit.finetune.FineTuneClassifier`
    with ``strategy_params``, ``epochs``, ``lr`` and any further loop settings in
    ``finetune_params`` (see the README, "Fine-tuning the backbone").

    ``task``: ``"classification"`` (one label per sample), ``"multilabel"`` (label
    collections or a 0/1 array (N, L); head "logistic" is then one logistic model per label,
    ``ovr-logistic``, and ``threshold_metric="f1"`` chooses one threshold per label on
    validation) or ``"regression"`` (see :class:`TransferRegressor`); ``task_params`` its
    options (e.g. ``{"loss": "huber"}`` for fine-tuned regression).
    """

    def __init__(
        self,
        backbone: str = "efficientnet_lite0",
        head: str = "logistic",
        head_params: dict | None = None,
        validation_fraction: float = 0.2,
        threshold_metric: str | None = "f1",
        refit: bool = True,
        batch_size: int | None = None,
        engine: str = "auto",
        cache: bool = True,
        random_state: int = 0,
        strategy: str = "linear-probe",
        strategy_params: dict | None = None,
        epochs: int = 3,
        lr: float | None = None,
        finetune_params: dict | None = None,
        task: str = "classification",
        task_params: dict | None = None,
    ):
        self.backbone = backbone
        self.head = head
        self.head_params = head_params
        self.validation_fraction = validation_fraction
        self.threshold_metric = threshold_metric
        self.refit = refit
        self.batch_size = batch_size
        self.engine = engine
        self.cache = cache
        self.random_state = random_state
        self.strategy = strategy
        self.strategy_params = strategy_params
        self.epochs = epochs
        self.lr = lr
        self.finetune_params = finetune_params
        self.task = task
        self.task_params = task_params

    def fit(self, X: Any, y: Any, X_val: Any = None, y_val: Any = None,
            callbacks: Sequence[Callback] = ()) -> TransferClassifier:
        """Fit on ``X``/``y`` (targets as ``task`` takes them); model selection on
        ``X_val``/``y_val`` or a ``validation_fraction`` of ``X``.

        ``callbacks``: further callbacks of the fine-tuning loop (a ``strategy`` other than
        ``linear-probe``; the cached frozen path has no epochs and calls none).

        Returns
        -------
        TransferClassifier
            ``self``, fitted.
        """
        if self.strategy == "linear-probe":
            for stale in ("finetuned_", "backbone_"):  # from an earlier fit or set_params
                self.__dict__.pop(stale, None)
            return super().fit(X, y, X_val, y_val)
        regression = self.task == "regression"
        ft = (FineTuneRegressor if regression else FineTuneClassifier)(
            backbone=self.backbone, strategy=self.strategy, strategy_params=self.strategy_params,
            epochs=self.epochs, lr=self.lr, validation_fraction=self.validation_fraction,
            threshold_metric=self.threshold_metric, random_state=self.random_state,
            **({"batch_size": self.batch_size} if self.batch_size else {}),
            **({"task": self.task, "task_params": self.task_params}
               if self.task != "classification" else {}),
            **(self.finetune_params or {}))
        self.finetuned_ = ft.fit(X, y, X_val, y_val, callbacks=callbacks)
        for attr in ("classes_", "threshold_", "head_", "backbone_", "n_validation_", "task_"):
            if attr == "task_" and isinstance(ft.task_, Classification):
                self.__dict__.pop("task_", None)
            elif hasattr(ft, attr):
                setattr(self, attr, getattr(ft, attr))
        return self

    def _outputs(self, X: Any) -> np.ndarray:
        if hasattr(self, "finetuned_"):
            return self.finetuned_.predict_proba(X)
        return super()._outputs(X)

    def _features(self, X: Any, fitting: bool) -> np.ndarray:
        if not hasattr(self, "backbone_"):
            self.backbone_ = shared_backbone(self.backbone)
        check_modality(self.backbone_, infer_modality(X))
        return extract_features(
            self.backbone_, X, batch_size=self.batch_size, engine=self.engine, cache=self.cache
        )

    def save(self, path: str | os.PathLike, **extra: Any) -> None:
        """Write a run dir (config.json, head.safetensors, ``extra`` JSON files) atomically."""
        self._check_fitted()
        if hasattr(self, "finetuned_"):
            return self.finetuned_.save(path, **extra)
        fields = {"backbone": {**self.backbone_.describe(),
                               "fingerprint": self.backbone_.fingerprint()},
                  "head": {"name": self.head_.name, "config": self.head_.config()}}
        if hasattr(self, "classes_"):  # a regression has none
            fields["classes"] = self.classes_.tolist()
        fields["threshold"] = self.threshold_
        if getattr(self, "task_", None) is not None:  # multilabel, regression
            fields["task"] = self.task_.to_dict()
            fields["chosen"] = self.chosen_
        write_run(path, run_config(self, "transfer", fields), {HEAD: self.head_.state()}, extra)

    @classmethod
    def load(cls, path: str | os.PathLike) -> TransferClassifier:
        """The fitted model saved in the run dir ``path`` (any kind: see ``load_run``)."""
        return load_run(path)

    def transfer_backbone(self) -> Backbone:
        """The backbone this model's features come from (what ``file:<run dir>`` loads)."""
        self._check_fitted()
        if hasattr(self, "finetuned_"):
            return self.finetuned_.transfer_backbone()
        return self.backbone_


def _defaults(cls: type) -> dict[str, Any]:
    """``cls.__init__``'s parameters and their defaults, in order."""
    return {name: p.default for name, p in inspect.signature(cls.__init__).parameters.items()
            if name != "self"}


class TransferRegressor(RegressorMixin, TransferClassifier):
    """Frozen pretrained backbone + a ridge head on its (cached, standardised) features,
    for a number per sample.

    The targets are standardised as :class:`~transferkit.tasks.Regression` does (training
    mean and standard deviation); ``head="ridge"`` chooses its alpha on validation (the
    grid of :class:`~transferkit.heads.ridge.RidgeHead`, by RMSE) and, with ``refit``, is
    retrained with that alpha on train + validation (``chosen_`` records it). Other
    parameters as in :class:`TransferClassifier`; a ``strategy`` other than
    ``linear-probe`` fine-tunes through :class:`~transferkit.finetune.FineTuneRegressor`.
    ``predict(X)`` -> values ``(N,)`` (a regressor has no ``predict_proba``); ``score`` is
    R².
    """

    __init__ = estimator_init({**_defaults(TransferClassifier), "head": "ridge",
                               "threshold_metric": None, "task": "regression"})


class FromScratchClassifier(HeadClassifier):
    """The baseline: the same head on raw inputs (pixels, TF-IDF, numeric columns).

    Numeric inputs -- 2-D arrays, sparse matrices, lists of rows, numeric DataFrames -- are
    validated as scikit-learn does (``validate_data``: ``n_features_in_``, and
    ``feature_names_in_`` for a DataFrame with string column names), and the model passes
    scikit-learn's ``check_estimator`` on them. Texts (list of str) and images (paths, PIL
    images, uint8 arrays (N, H, W[, C])) are taken as well.

    Parameters
    ----------
    head : str or head instance
        "logistic" or "mlp" (or a head object, copied).
    head_params : dict or None
        Options of the head.
    validation_fraction : float
        Held out of the training data for model selection when no validation set is passed.
    threshold_metric : str or None
        Binary: the metric the decision threshold maximises on validation; None = 0.5.
    refit : bool
        Retrain on train + validation with what validation chose.
    random_state : int
        Seed of the validation split and the head.
    task : str
        ``"classification"``, ``"multilabel"`` (one logistic model per label, per-label
        thresholds chosen on validation) or ``"regression"`` (see
        :class:`FromScratchRegressor`): the baseline beside a
        :class:`TransferClassifier` of the same task.
    task_params : dict or None
        Options of the task.
    """

    def __init__(
        self,
        head: str = "logistic",
        head_params: dict | None = None,
        validation_fraction: float = 0.2,
        threshold_metric: str | None = "f1",
        refit: bool = True,
        random_state: int = 0,
        task: str = "classification",
        task_params: dict | None = None,
    ):
        self.head = head
        self.head_params = head_params
        self.validation_fraction = validation_fraction
        self.threshold_metric = threshold_metric
        self.refit = refit
        self.random_state = random_state
        self.task = task
        self.task_params = task_params

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = True  # numeric columns
        tags.input_tags.sparse = True  # sparse columns stay sparse
        # Texts are lists of str; a 2-D array of objects is numbers and converted as such
        # (scikit-learn's `string` tag would mean: 2-D object arrays are taken unconverted).
        tags.input_tags.string = False
        return tags

    def _check_inputs(self, X: Any, reset: bool) -> Any:
        frame, X = X, as_inputs(X)
        if hasattr(X, "__array__") and not isinstance(X, np.ndarray | list | tuple) \
                and not hasattr(X, "tocsr"):
            X = np.asarray(X)  # other array-likes (objects with __array__)
        modality = "tabular" if _is_numeric(X) else infer_modality(X)
        if reset:
            self.modality_ = modality
        elif modality != self.modality_:
            raise TransferkitError(
                f"this model was trained on {self.modality_} inputs, got {modality}",
                f"pass {self.modality_} inputs",
            )
        if modality == "tabular":
            return self._check_columns(frame if hasattr(frame, "columns") else X, reset)
        if reset:  # no columns: nothing left from an earlier fit on numeric columns
            for stale in ("n_features_in_", "feature_names_in_"):
                self.__dict__.pop(stale, None)
        return X

    def _check_columns(self, X: Any, reset: bool) -> Any:
        """Numeric inputs through scikit-learn's ``validate_data`` (2-D, numbers, at least
        one sample and one column, the columns of fit), its errors as one line each. NaN and
        infinity are the featurizer's to report."""
        shape = getattr(X, "shape", ())
        if not reset and len(shape) == 2 and shape[1] != self.n_features_in_:
            raise TransferkitError(
                f"X has {shape[1]} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input",
                f"pass the same feature columns as in fit (the inputs have {shape[1]} columns "
                f"but the model was fitted on {self.n_features_in_})")
        try:
            return validate_data(self, X, reset=reset, accept_sparse="csr", dtype=np.float64,
                                 ensure_all_finite=False)
        except ValueError as exc:
            raise TransferkitError(*_column_problem(str(exc))) from exc

    def _features(self, X: Any, fitting: bool) -> Any:
        if fitting:
            self.featurizer_ = RAW_FEATURIZERS[self.modality_]().fit(X)
        return self.featurizer_.transform(X)

    @property
    def description(self) -> str:
        """What the head was trained on, e.g. "TF-IDF word 1-2 grams + logistic head"."""
        return f"{self.featurizer_.description} + {self.head_.name} head"


class FromScratchRegressor(RegressorMixin, FromScratchClassifier):
    """The regression baseline: a ridge head on raw inputs (pixels, TF-IDF, numeric
    columns), alpha chosen on validation, standardised targets -- :class:`TransferRegressor`
    without the backbone. Parameters as in :class:`FromScratchClassifier`."""

    __init__ = estimator_init({**_defaults(FromScratchClassifier), "head": "ridge",
                               "threshold_metric": None, "task": "regression"})


def _column_problem(message: str) -> tuple[str, str]:
    """scikit-learn's message on numeric inputs as one line: (problem, fix)."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    problem = lines[0]
    if "Reshape your data" in message:
        fix = ("Reshape your data: X.reshape(-1, 1) if it has a single feature, "
               "X.reshape(1, -1) if it is a single sample")
    elif "0 sample(s)" in problem:
        fix = "pass at least one sample"
    elif "0 feature(s)" in problem:
        fix = "pass at least one feature column"
    elif "feature names" in problem:  # the names that differ follow on the next lines
        problem = " ".join(lines)
        fix = "pass the columns of fit, with the same names in the same order"
    else:
        fix = "pass a 2-D array of numbers (samples x feature columns), texts or images"
    return problem.rstrip(".:"), fix


def _is_numeric(X: Any) -> bool:
    """Whether raw inputs are numeric columns (or meant to be: a 1-D array of numbers, which
    validation then refuses with a reshape hint) rather than texts or images."""
    if hasattr(X, "tocsr"):
        return True
    if isinstance(X, np.ndarray):
        if X.dtype.kind in "biufc":
            return X.ndim not in (3, 4)  # 3-D and 4-D: images
        return X.dtype == object and X.ndim == 2  # numbers held as objects
    if isinstance(X, list | tuple) and len(X):
        first = X[0]
        return isinstance(first, numbers.Number | list | tuple)  # a list of rows
    return False


@register_run_kind("transfer", HEAD)
def load_transfer_run(path: Path, config: dict[str, Any]) -> TransferClassifier:
    """Rebuild the fitted frozen-backbone :class:`TransferClassifier` (or
    :class:`TransferRegressor`) of a run dir."""
    params = config.get("params", {})
    task = task_from_dict(config["task"]) if "task" in config else None
    cls = TransferRegressor if isinstance(task, Regression) else TransferClassifier
    clf = cls(**{k: v for k, v in params.items() if k in cls().get_params()})
    clf.backbone_ = shared_backbone(config["backbone"]["name"])
    if clf.backbone_.fingerprint() != config["backbone"]["fingerprint"]:
        raise TransferkitError(
            f"backbone '{clf.backbone_.name}' here differs from the one {path} was trained with "
            "(other weights or preprocessing)",
            "install the package versions listed in its config.json",
        )
    head_cls = HEADS[config["head"]["name"]]
    clf.head_ = head_cls.from_state(config["head"]["config"], load_tensors(path / HEAD))
    if "classes" in config:
        clf.classes_ = np.asarray(config["classes"])
    clf.threshold_ = config.get("threshold")
    if task is not None:
        clf.task_, clf.chosen_ = task, config.get("chosen", {})
    return clf

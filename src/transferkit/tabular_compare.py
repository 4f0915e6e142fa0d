"""The experiment behind ``transferkit fit`` on a table with the tabular backbone.

The MLP over a column schema (:class:`~transferkit.backbones.tabular.TabularMLP`) trains
through the one loop; beside it, on the same seeded splits and scored on the same test rows:

* ``--backbone tabular_mlp`` (no source model): the MLP, its column schema fitted on each
  seed's non-test rows, from its seeded random initialisation; and gradient boosting;
* ``--backbone file:SRC_RUN`` (a saved tabular run): transfer (the source MLP, its schema
  and weights, fine-tuned on the target labels), the same architecture from a random
  initialisation (the from-scratch baseline), and gradient boosting.

Gradient boosting (:class:`TabularGradientBoosting`: scikit-learn's
``HistGradientBoostingClassifier``/``Regressor`` with its defaults) is what a tabular
practitioner would pick instead of a neural network, so it is shown: it trains on the
target's labelled rows alone, its binary threshold chosen on the same validation rows by the
same criterion as the MLP's.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.metrics import f1_score

from .backbones import load_backbone
from .backbones.tabular import ColumnSchema, TabularMLP
from .base import encode_labels, label_codes
from .data.dataset import Dataset, take
from .data.split import per_class_subsample, stratified_split
from .errors import TransferkitError
from .experiment import SCRATCH_LR, TASK_METRICS, Comparison, _scratch_tuning, seeded_split
from .metrics import SHOWN, choose_threshold, classification_metrics, mean_sd
from .runformat import CONFIG

#: the tabular backbone's registry name
TABULAR_BACKBONE = TabularMLP.name
#: loop settings of the tabular MLP where the user gives none: 30 epochs (the best one on
#: validation is kept), batch 64, lr 1e-3 (what a random initialisation needs). On the
#: credit-default benchmark's validation rows (benchmarks/credit_default.py) batch 16 scored
#: alike or slightly better on a few hundred rows, but costs 4x the steps on large tables.
TABULAR_EPOCHS = 30
TABULAR_BATCH_SIZE = 64
TABULAR_LR = 1e-3
#: the metrics a binary table's comparison shows (``f1_positive``: F1 of the positive class
#: at the chosen threshold, the figure a default-prediction user reads)
BINARY_COLUMNS = ("accuracy", "balanced_accuracy", "f1_macro", "f1_positive", "roc_auc")
#: HistGradientBoosting's native categorical splits take at most this many categories
HGB_MAX_CATEGORIES = 255


def is_tabular_backbone(name: str | None) -> bool:
    """Whether ``--backbone name`` is the tabular MLP: ``tabular_mlp``, or ``file:`` of a run
    dir or checkpoint holding one (read from its config, nothing loaded).

    Parameters
    ----------
    name : str or None
        A backbone name as the CLI takes it.

    Returns
    -------
    bool
    """
    if name == TABULAR_BACKBONE:
        return True
    if not name or not name.startswith("file:"):
        return False
    path = Path(name[len("file:"):])
    try:
        if (path / CONFIG).is_file():
            config = json.loads((path / CONFIG).read_text())
            return config.get("backbone", {}).get("modality") == "tabular"
        if path.is_file() and path.suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(path), framework="pt") as fh:
                meta = fh.metadata() or {}
            return meta.get("transferkit_backbone") == TABULAR_BACKBONE
    except (OSError, ValueError, AttributeError):
        return False  # the backbone loader reports the problem
    return False


def table_rows(data: Dataset, schema: ColumnSchema, what: str = "the source model") -> np.ndarray:
    """``data``'s rows (a table loaded with ``mixed=True``) in ``schema``'s column order, as
    :class:`TabularMLP` takes them; columns matched by name, extra ones ignored.

    Parameters
    ----------
    data : Dataset
        ``X`` an array ``(N, D)`` whose columns ``feature_names`` names.
    schema : ColumnSchema
        The columns the model reads.
    what : str
        Who needs the columns, for the error.

    Returns
    -------
    numpy.ndarray
        ``(N, n_schema_columns)``: float64 when every schema column holds numbers, else object.
    """
    names = data.feature_names or [str(i) for i in range(np.shape(data.X)[1])]
    schema.check_columns(names, data.name, f"that {what} was trained on")
    return schema.rows(pd.DataFrame(np.asarray(data.X, dtype=object), columns=names))


class TabularGradientBoosting(BaseEstimator):
    """scikit-learn's ``HistGradientBoostingClassifier`` (or ``Regressor``) on table rows.

    Its own :class:`ColumnSchema` is fitted on the training rows: numeric columns go in as
    they are (NaN = missing, which the trees route natively), categorical columns by their
    codes, as native categorical splits (columns of more than 255 categories as ordinal
    codes); a category unseen in training is missing. For binary classification the
    decision threshold on p(positive) maximises ``threshold_metric`` on the validation rows.

    Parameters
    ----------
    columns : list of str
        Names of the rows' columns, in order.
    categorical : list of str or None
        The categorical columns (None: inferred as :meth:`ColumnSchema.fit` does).
    task : str
        ``"classification"`` or ``"regression"``.
    threshold_metric : str or None
        Binary: the threshold criterion (see :func:`transferkit.metrics.threshold_scorer`);
        None = 0.5.
    params : dict or None
        Options of the scikit-learn estimator (its defaults otherwise).
    random_state : int
        Seed of the estimator.
    """

    def __init__(self, columns: list[str] | None = None, categorical: list[str] | None = None,
                 task: str = "classification", threshold_metric: str | None = "f1",
                 params: dict | None = None, random_state: int = 0):
        self.columns = columns
        self.categorical = categorical
        self.task = task
        self.threshold_metric = threshold_metric
        self.params = params
        self.random_state = random_state

    def fit(self, X: Any, y: Any, X_val: Any = None, y_val: Any = None
            ) -> TabularGradientBoosting:
        """Fit on rows ``X (N, D)`` and targets ``y (N,)``; ``X_val``/``y_val`` choose the
        binary threshold (nothing else: the trees train on ``X`` only)."""
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

        if self.task not in ("classification", "regression"):
            raise TransferkitError(f"gradient boosting takes classification or regression, not "
                                   f"{self.task}", "use --task classification or regression")
        with warnings.catch_warnings():  # the MLP's schema has said it already
            warnings.simplefilter("ignore")
            self.schema_ = ColumnSchema.fit(np.asarray(X, dtype=object), columns=self.columns,
                                            categorical=self.categorical)
        F = self._features(X)
        n_num = len(self.schema_.numeric)
        native = [n_num + j for j, c in enumerate(self.schema_.categorical)
                  if len(c.categories) <= HGB_MAX_CATEGORIES]
        mask = np.zeros(F.shape[1], dtype=bool)
        mask[native] = True
        params = {"random_state": self.random_state, **(self.params or {}),
                  "categorical_features": mask if mask.any() else None}
        self.threshold_ = None
        if self.task == "regression":
            self.model_ = HistGradientBoostingRegressor(**params).fit(
                F, np.asarray(y, dtype=np.float64))
            return self
        self.classes_, codes, codes_val = encode_labels(X, y, y_val)
        self.model_ = HistGradientBoostingClassifier(**params).fit(F, codes)
        if len(self.classes_) == 2 and self.threshold_metric and X_val is not None:
            p_val = self.predict_proba(X_val)[:, 1]
            self.threshold_ = choose_threshold(codes_val, p_val, self.threshold_metric)
        return self

    def _features(self, X: Any) -> np.ndarray:
        """``(N, n_numeric + n_categorical)`` float64: values, then codes - 1 (NaN for
        unknown and missing)."""
        values, codes = self.schema_.values_and_codes(X)
        k = np.array([len(c.categories) for c in self.schema_.categorical], dtype=np.int64)
        known = (codes >= 1) & (codes <= k)
        return np.hstack([values, np.where(known, codes - 1, np.nan)])

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities ``(N, n_classes)`` (classification)."""
        return self.model_.predict_proba(self._features(X))

    def predict(self, X: Any) -> np.ndarray:
        """Labels ``(N,)`` (the binary threshold applied) or values ``(N,)``."""
        if self.task == "regression":
            return self.model_.predict(self._features(X))
        p = self.predict_proba(X)
        if self.threshold_ is not None:
            return self.classes_[(p[:, 1] >= self.threshold_).astype(int)]
        return self.classes_[p.argmax(axis=1)]

    @property
    def description(self) -> str:
        """The estimator, in words."""
        kind = "Regressor" if self.task == "regression" else "Classifier"
        return f"HistGradientBoosting{kind}, scikit-learn defaults"


def _schema_fit(rows: np.ndarray, names: list[str], shown: set[str]) -> ColumnSchema:
    """:meth:`ColumnSchema.fit`, each of its warnings shown once per experiment (every seed
    fits one)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        schema = ColumnSchema.fit(np.asarray(rows, dtype=object), columns=names)
    for w in caught:
        if str(w.message) not in shown:
            shown.add(str(w.message))
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return schema


def _scores(est: Any, task: str, rows: np.ndarray, y: Any) -> dict[str, Any]:
    """Test metrics of a fitted model on ``rows``/``y``."""
    from .tasks import Regression

    if task == "regression":
        predicted = est.predict(rows)
        return Regression.metrics(np.asarray(y, dtype=np.float64), np.asarray(predicted))
    proba = est.predict_proba(rows)
    codes = label_codes(est.classes_, np.asarray(y))
    m = classification_metrics(codes, proba, est.threshold_)
    if proba.shape[1] == 2:
        pred = (proba[:, 1] >= est.threshold_).astype(int) if est.threshold_ is not None \
            else proba.argmax(axis=1)
        m["f1_positive"] = float(f1_score(codes, pred, zero_division=0))
    return m


def compare_tabular(
    data: Dataset,
    backbone: str = TABULAR_BACKBONE,
    seeds: tuple[int, ...] = (0,),
    test_size: float = 0.2,
    val_size: float = 0.2,
    labels_per_class: int | None = None,
    baseline: bool = True,
    test_data: Dataset | None = None,
    task: str = "classification",
    strategy: str = "finetune",
    strategy_params: dict | None = None,
    epochs: int = TABULAR_EPOCHS,
    lr: float | None = None,
    batch_size: int = TABULAR_BATCH_SIZE,
    threshold_metric: str | None = "f1",
    finetune_params: dict[str, Any] | None = None,
    label_column: str | None = None,
    hidden: tuple[int, ...] = (256, 256),
) -> Comparison:
    """The tabular MLP (new, or transferred from ``file:SRC_RUN``) beside the from-scratch
    MLP (with a source) and gradient boosting, on identical seeded splits.

    Parameters
    ----------
    data : Dataset
        A table loaded with ``mixed=True`` (``X`` ``(N, D)`` object, ``feature_names``).
    backbone : str
        ``tabular_mlp`` (a new MLP) or ``file:`` of a saved tabular run or checkpoint.
    seeds, test_size, val_size, labels_per_class, test_data
        As for :func:`transferkit.experiment.compare`: per seed a stratified (regression:
        random) test split, or the given ``test_data``; the labelled rows are split into
        train and validation (``val_size``), which every model shares.
    baseline : bool
        Also train the baselines (the from-scratch MLP with a source; gradient boosting).
    task : str
        ``classification`` or ``regression``.
    strategy, strategy_params, epochs, lr, batch_size, finetune_params
        The MLP's training through the loop (``lr`` None: 1e-3, the rate a random
        initialisation needs; with a source, the rate chosen on the benchmark's validation).
    threshold_metric : str or None
        Binary: the criterion the threshold maximises on validation, for every model.
    label_column : str or None
        The target's label column (refused when the source model reads it as an input).
    hidden : tuple of int
        Widths of a new MLP (a source model keeps its own).

    Returns
    -------
    Comparison
        Rows (mean ± sd over ``seeds``), per-seed metrics, the protocol and the first
        seed's MLP (what ``transferkit fit`` saves).
    """
    from .finetune import FineTuneClassifier, FineTuneRegressor
    from .tasks import Regression

    if task not in ("classification", "regression"):
        raise TransferkitError(f"the tabular backbone takes --task classification or "
                               f"regression, not {task}", "use one of those")
    source = None if backbone == TABULAR_BACKBONE else backbone
    source_schema = load_backbone(source).schema if source else None
    if source_schema is not None and label_column in source_schema.names:
        raise TransferkitError(
            f"the label column '{label_column}' is an input column of the source model "
            f"{source}", "transfer from a source model trained without it (fit the source "
            f"with --drop-columns {label_column})")
    for part in (data, test_data):  # missing source columns: one line before any training
        if part is not None and source_schema is not None:
            table_rows(part.subset(np.arange(min(len(part), 1))), source_schema,
                       f"the source model {source}")
    names = list(data.feature_names or [])
    if task == "regression":
        y = Regression.encode_values(data.y, f"{data.name}'s labels")
        y_given = None if test_data is None else Regression.encode_values(
            test_data.y, f"{test_data.name}'s labels")
        strata = np.zeros(len(y))
    else:
        y = np.asarray(data.y)
        y_given = None if test_data is None else np.asarray(test_data.y)
        strata = y
    estimator = FineTuneRegressor if task == "regression" else FineTuneClassifier
    shown: set[str] = set()
    keys = (TASK_METRICS["regression"] if task == "regression" else
            BINARY_COLUMNS if len(np.unique(y)) == 2 else SHOWN)
    first = "transfer" if source else "mlp"
    per_seed: dict[str, list[dict[str, Any]]] = {first: []}
    model, protocol, gbm_desc = None, "", ""
    for seed in seeds:
        split, protocol = seeded_split(strata, data, test_data,
                                       0 if y_given is None else len(y_given), test_size,
                                       val_size, seed, stratified=task != "regression")
        train, val = split.train, split.val
        if labels_per_class:
            pool = per_class_subsample(np.concatenate([train, val]), y, labels_per_class, seed)
            part = stratified_split(strata[pool], 0.0, val_size, seed)
            train, val = pool[part.train], pool[part.val]
            protocol += (f"; {labels_per_class} labels per class drawn (seeded) from train+"
                         f"validation, of which {val_size:.0%} are held out for model "
                         "selection")
        if source_schema is not None:
            schema = source_schema
        else:  # features only, of the rows that are not test rows
            schema = _schema_fit(take(data.X, np.concatenate([split.train, split.val])),
                                 names, shown)
        rows = table_rows(data, schema)
        test_rows = table_rows(test_data, schema) if test_data is not None else rows[split.test]
        y_test = y_given if test_data is not None else y[split.test]
        fit_args = (rows[train], y[train], *((rows[val], y[val]) if len(val) else (None, None)))
        common: dict[str, Any] = {
            "epochs": epochs, "batch_size": batch_size, "validation_fraction": val_size,
            "random_state": seed, **({"threshold_metric": threshold_metric}
                                     if task == "classification" else {}),
            **(finetune_params or {})}
        mlp = TabularMLP(schema, hidden=hidden, seed=seed) if source is None else source
        models: dict[str, Any] = {first: estimator(
            backbone=mlp, strategy=strategy, strategy_params=strategy_params,
            lr=TABULAR_LR if lr is None else lr, **common)}
        if baseline and source is not None:
            models["from-scratch"] = estimator(backbone=source, strategy="finetune",
                                               lr=SCRATCH_LR, **_scratch_tuning(common))
        if baseline:
            gbm = TabularGradientBoosting(
                columns=schema.names, task=task, threshold_metric=threshold_metric,
                categorical=[c.name for c in schema.categorical], random_state=seed)
            models["gradient-boosting"] = gbm
            gbm_desc = gbm.description
        for name, est in models.items():
            est.fit(*fit_args)
            per_seed.setdefault(name, []).append(_scores(est, task, test_rows, y_test))
        model = model or models[first]
    how = (f"{strategy}, lr {TABULAR_LR if lr is None else lr:g}, {epochs} epochs, batch "
           f"{batch_size}")
    if source is None:
        protocol += ("; the column schema fitted on each seed's non-test rows (features only); "
                     "no source model, so the MLP itself is trained from a random "
                     "initialisation (no separate from-scratch row)")
    else:
        protocol += f"; the source model's column schema ({source})"
    protocol += "; the epoch chosen on validation only"
    if task == "classification" and threshold_metric:
        protocol += f"; binary thresholds maximise {threshold_metric} on validation"
    if baseline:
        protocol += "; gradient boosting trains on the same training rows"
    protocol += f"; seeds {list(seeds)}; scores on the test split only"
    label = (f"transfer ({source}, {how})" if source else
             f"MLP ({TABULAR_BACKBONE} {'x'.join(map(str, hidden))}, random init, {how})")
    rows_out = [(label, mean_sd(per_seed[first], keys))]
    if "from-scratch" in per_seed:
        rows_out.append((f"from scratch (same architecture, random init, finetune lr "
                         f"{SCRATCH_LR:g})", mean_sd(per_seed["from-scratch"], keys)))
    if "gradient-boosting" in per_seed:
        alone = ", target labels only" if source else ""
        rows_out.append((f"gradient boosting ({gbm_desc}{alone})",
                         mean_sd(per_seed["gradient-boosting"], keys)))
    return Comparison(rows_out, per_seed, protocol, model,
                      extra={"task": task, "backbone": source or TABULAR_BACKBONE},
                      columns=keys)

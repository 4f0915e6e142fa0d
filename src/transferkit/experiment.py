"""The experiment behind ``transferkit fit``: transfer against from-scratch on the same
splits, over seeds, scored on the test split only."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .backbones import check_modality
from .base import label_codes, shared_backbone
from .base import predictions as outputs
from .data.dataset import Dataset, take
from .data.split import per_class_subsample, stratified_split
from .estimator import (
    FromScratchClassifier,
    FromScratchRegressor,
    TransferClassifier,
    TransferRegressor,
)
from .evaluation import evaluation_record
from .features import extract_features
from .metrics import SHOWN, classification_metrics, format_table, mean_sd
from .results import results_document


@dataclass
class Comparison:
    """Transfer vs. from-scratch on the same splits, over seeds."""

    rows: list[tuple[str, dict[str, Any]]]
    per_seed: dict[str, list[dict[str, Any]]]
    protocol: str
    model: Any = None  # the transfer model of the first seed
    extra: dict[str, Any] = field(default_factory=dict)
    columns: tuple[str, ...] = SHOWN  # the metrics the table shows
    #: the first seed's test split as ``(X_test, y_test)`` (targets as the task encodes them)
    test: tuple[Any, Any] | None = None

    def table(self) -> str:
        """The rows as a plain-text table, one column per metric in :attr:`columns`."""
        return format_table(self.rows, self.columns)

    def to_json(self) -> dict[str, Any]:
        """The run's results document (:func:`transferkit.results.results_document`)."""
        fitted = getattr(self.model, "finetuned_", self.model)
        history = {self.rows[0][0]: fitted.result_.history} if hasattr(fitted, "result_") else {}
        return results_document("fit", self.rows, self.protocol, self.per_seed, history,
                                **self.extra)

    def evaluation(self) -> dict[str, Any] | None:
        """The saved model's ``evaluation.json`` on the first seed's test split (what
        ``transferkit report`` draws; :func:`transferkit.evaluation.evaluation_record`), or
        None when the comparison kept no test split."""
        if self.test is None or self.model is None:
            return None
        X_test, y_test = self.test
        task = self.extra.get("task", "classification")
        fitted = getattr(self.model, "finetuned_", self.model)
        if task == "multilabel":
            y_test = fitted.task_.encode(y_test, "the test labels")
        predicted = (self.model.predict_proba(X_test) if task == "classification"
                     else outputs(self.model, X_test))
        classes = getattr(self.model, "classes_", None)
        return evaluation_record(self.model, X_test, y_test, predicted, task, classes,
                                 getattr(self.model, "threshold_", None))


def compare(
    data: Dataset,
    backbone: str = "efficientnet_lite0",
    head: str = "logistic",
    seeds: tuple[int, ...] = (0,),
    test_size: float = 0.2,
    val_size: float = 0.2,
    labels_per_class: int | None = None,
    baseline: bool = True,
    test_data: Dataset | None = None,
    task: str = "classification",
    task_params: dict[str, Any] | None = None,
    exclude: np.ndarray | None = None,
    **clf_params: Any,
) -> Comparison:
    """Train the transfer model and (optionally) the from-scratch baseline on identical
    splits for each seed; score both on the same test split. ``task``: ``classification``
    (the frozen cached-feature path, or a fine-tuning ``strategy``), ``multilabel`` or
    ``regression`` (:func:`compare_task`). ``exclude`` (classification only): positions
    into ``data`` (e.g. the examples ``transferkit audit`` flagged) taken out of each seed's
    training and validation parts after the split, so the test part is the one the same
    seeds give without it."""
    if task != "classification":
        if exclude is not None:
            raise ValueError("exclude applies to classification")
        return compare_task(data, task, task_params, backbone, seeds, test_size, val_size,
                            baseline, test_data, head=head, **clf_params)
    y = np.asarray(data.y)
    frozen = clf_params.get("strategy", "linear-probe") == "linear-probe"
    if frozen and clf_params.get("cache", True):  # one extraction pass, then cache hits
        bb = shared_backbone(backbone)
        check_modality(bb, data.modality)
        for part in (data, test_data):
            if part is not None:
                extract_features(bb, part.X, batch_size=clf_params.get("batch_size"),
                                 engine=clf_params.get("engine", "auto"))
    per_seed: dict[str, list[dict[str, Any]]] = {"transfer": [], "from-scratch": []}
    model, test = None, None
    protocol = ""
    baseline_desc = ""
    dropped: list[int] = []  # examples of ``exclude`` left out of train + validation, per seed
    for seed in seeds:
        if test_data is None:
            split = stratified_split(y, test_size, val_size, seed, given=data.split)
        else:
            split = stratified_split(y, 0.0, val_size, seed)
        if exclude is not None:  # out of train and validation; the test part as it was
            keep = [part[~np.isin(part, exclude)] for part in (split.train, split.val)]
            dropped.append(len(split.train) + len(split.val) - sum(map(len, keep)))
            split = dataclasses.replace(split, train=keep[0], val=keep[1])
        X_test = take(data.X, split.test) if test_data is None else test_data.X
        y_test = y[split.test] if test_data is None else np.asarray(test_data.y)
        protocol = split.protocol if test_data is None else (
            f"test = the given test set ({len(y_test)} samples); validation = stratified "
            f"{val_size:.0%} of the training data (seeded)"
        )
        if labels_per_class:
            pool = per_class_subsample(np.concatenate([split.train, split.val]), y,
                                       labels_per_class, seed)
            fit_args = (take(data.X, pool), y[pool])
            protocol += (
                f"; {labels_per_class} labels per class drawn (seeded) from train+validation, "
                f"of which {val_size:.0%} are held out for model selection"
            )
        else:
            fit_args = (take(data.X, split.train), y[split.train],
                        take(data.X, split.val) if len(split.val) else None,
                        y[split.val] if len(split.val) else None)
        models = {"transfer": TransferClassifier(backbone=backbone, head=head,
                                                 validation_fraction=val_size,
                                                 random_state=seed, **clf_params)}
        if baseline and not frozen:  # the same architecture, trained from random weights
            models["from-scratch"] = TransferClassifier(
                backbone=backbone, head=head, validation_fraction=val_size,
                random_state=seed, **_scratch_params(clf_params))
        elif baseline:
            models["from-scratch"] = FromScratchClassifier(
                head=head, validation_fraction=val_size, random_state=seed,
                threshold_metric=clf_params.get("threshold_metric", "f1"),
                refit=clf_params.get("refit", True))
        for name, clf in models.items():
            clf.fit(*fit_args)
            codes = label_codes(clf.classes_, y_test)
            per_seed[name].append(
                classification_metrics(codes, clf.predict_proba(X_test), clf.threshold_)
            )
        if model is None:
            model = models["transfer"]
            test = (X_test, label_codes(model.classes_, y_test))
            if baseline:
                baseline_desc = (models["from-scratch"].description if frozen else
                                 f"same architecture, random init, finetune lr "
                                 f"{SCRATCH_LR:g}")
    strategy = clf_params.get("strategy", "linear-probe")
    if val_size <= 0 and not labels_per_class:
        protocol += "; no validation split: fixed hyperparameters, the last epoch"
    elif frozen:
        protocol += ("; hyperparameters and thresholds chosen on validation only (then the "
                     "head is refit on train + validation)")
    else:
        protocol += "; the epoch (and threshold) chosen on validation only"
    if exclude is not None:
        protocol += (f"; {len(np.unique(exclude))} excluded examples (those in train or "
                     f"validation: {', '.join(map(str, dropped))} per seed) left out of "
                     "training and validation, the test split unchanged")
    protocol += f"; seeds {list(seeds)}; scores on the test split only"
    label = f"{backbone} + {head} head" if frozen else f"{backbone}, {strategy} fine-tuning"
    rows = [(f"transfer ({label})", mean_sd(per_seed["transfer"]))]
    if baseline:
        rows.append((f"from scratch ({baseline_desc})", mean_sd(per_seed["from-scratch"])))
    else:
        per_seed.pop("from-scratch")
    extra = {"excluded_per_seed": dropped} if exclude is not None else {}
    return Comparison(rows, per_seed, protocol, model, extra=extra, test=test)


def loop_rows(label: str, per_seed: dict[str, list[dict[str, Any]]], keys: tuple[str, ...],
              baseline: bool) -> list[tuple[str, dict[str, Any]]]:
    """The table rows of a run through the loop: ``transfer (label)`` and, with
    ``baseline``, the same architecture from a random initialisation, each the mean ± sd of
    ``keys`` over the seeds; without it the empty baseline entry leaves ``per_seed``."""
    rows = [(f"transfer ({label})", mean_sd(per_seed["transfer"], keys))]
    if baseline:
        rows.append((f"from scratch (same architecture, random init, finetune lr "
                     f"{SCRATCH_LR:g})", mean_sd(per_seed["from-scratch"], keys)))
    else:
        per_seed.pop("from-scratch")
    return rows


BASELINE_CHECKPOINTS = "from-scratch"  # the baseline's checkpoints, inside the run's folder
SCRATCH_LR = 1e-3  # random weights need a larger rate than fine-tuning pretrained ones


def _scratch_params(clf_params: dict[str, Any]) -> dict[str, Any]:
    """Settings of the from-scratch run beside a fine-tuning strategy: every weight trains
    from a random initialisation, in its own checkpoint folder."""
    return {**clf_params, "strategy": "finetune", "strategy_params": None, "lr": SCRATCH_LR,
            "finetune_params": _scratch_tuning(clf_params.get("finetune_params") or {})}


def _scratch_tuning(tuning: dict[str, Any]) -> dict[str, Any]:
    """Loop settings of the from-scratch baseline: a random initialisation, checkpoints in
    the run's :data:`BASELINE_CHECKPOINTS` sub-folder."""
    out = {**tuning, "init": "random"}
    if out.get("checkpoint_dir"):
        out["checkpoint_dir"] = str(Path(out["checkpoint_dir"]) / BASELINE_CHECKPOINTS)
    return out


#: the test metrics of each non-classification task, in table order
TASK_METRICS = {"multilabel": ("f1_micro", "f1_macro", "map", "subset_accuracy",
                               "hamming_loss"),
                "regression": ("mae", "rmse", "r2")}


def compare_task(data: Dataset, task: str, task_params: dict[str, Any] | None,
                 backbone: str, seeds: tuple[int, ...], test_size: float, val_size: float,
                 baseline: bool, test_data: Dataset | None = None,
                 strategy: str = "linear-probe", strategy_params: dict | None = None,
                 epochs: int = 3, lr: float | None = None,
                 finetune_params: dict[str, Any] | None = None, label_sep: str = "|",
                 head: str | None = None, **frozen_params: Any) -> Comparison:
    """:func:`compare` for a multi-label or regression task, on identical seeded splits,
    scored on the test split only.

    ``linear-probe`` (the default) is the cached frozen path: one extraction pass over all
    the data, then per seed a head on the cached features (:class:`TransferClassifier`
    with ``task="multilabel"``: one logistic model per label; :class:`TransferRegressor`:
    ridge), its hyperparameters and the per-label thresholds chosen on validation, refit on
    train + validation; the baseline is the same head on raw inputs (pixels, TF-IDF,
    numeric columns). Any other strategy trains through the loop, beside the same
    architecture from a random initialisation (every weight trains).
    ``frozen_params``: ``batch_size``, ``engine``, ``cache``, ``refit`` of the frozen path
    (others are ignored).

    Returns
    -------
    Comparison
        Rows of the task's metrics (:data:`TASK_METRICS`), mean ± sd over ``seeds``."""
    from .finetune import FineTuneClassifier, FineTuneRegressor

    y = task_targets(data, task, task_params, label_sep)  # bad targets: one line, no work
    y_test_given = None if test_data is None else task_targets(test_data, task, task_params,
                                                               label_sep, check=False)
    if strategy == "linear-probe":
        return _compare_frozen_task(data, task, task_params, y, y_test_given, backbone, seeds,
                                    test_size, val_size, baseline, test_data, head,
                                    frozen_params)
    estimator = FineTuneRegressor if task == "regression" else FineTuneClassifier
    tuning = dict(finetune_params or {})
    per_seed: dict[str, list[dict[str, Any]]] = {"transfer": [], "from-scratch": []}
    model, protocol, test = None, "", None
    for seed in seeds:
        split, protocol = task_split(y, task, data, test_data, seed, test_size, val_size,
                                      0 if y_test_given is None else len(y_test_given))
        X_test = test_data.X if test_data is not None else take(data.X, split.test)
        y_test = y_test_given if test_data is not None else _pick(y, split.test)
        common = {"backbone": backbone, "task": task, "task_params": task_params,
                  "epochs": epochs, "validation_fraction": val_size, "random_state": seed,
                  **({"threshold_metric": None} if task == "multilabel" else {}), **tuning}
        models = {"transfer": estimator(strategy=strategy, strategy_params=strategy_params,
                                        lr=lr, **common)}
        if baseline:
            models["from-scratch"] = estimator(strategy="finetune", lr=SCRATCH_LR,
                                               **_scratch_tuning(common))
        val = (take(data.X, split.val), _pick(y, split.val)) if len(split.val) else (None,
                                                                                     None)
        for name, est in models.items():
            est.fit(take(data.X, split.train), _pick(y, split.train), *val)
            per_seed[name].append(task_scores(est, task, X_test, y_test))
        if model is None:
            model, test = models["transfer"], (X_test, y_test)
    if task == "multilabel":
        protocol += f"; per-label thresholds: {model.task_.threshold_rule}"
    protocol += (f"; the epoch chosen on validation only ({model.task_.selection_rule}); "
                 f"seeds {list(seeds)}; scores on the test split only")
    keys = TASK_METRICS[task]
    how = "head only, frozen backbone" if strategy == "linear-probe" else f"{strategy}"
    rows = loop_rows(f"{backbone}, {how}", per_seed, keys, baseline)
    return Comparison(rows, per_seed, protocol, model, extra={"task": task}, columns=keys,
                      test=test)


def task_targets(data: Dataset, task: str, task_params: dict[str, Any] | None = None,
                 label_sep: str = "|", check: bool = True) -> Any:
    """The targets of a multi-label or regression ``task`` in ``data``, checked.

    Parameters
    ----------
    data : Dataset
        Labelled data: label cells (``a|b``) or 0/1 label columns (``--label-columns``)
        for ``multilabel``, numbers for ``regression``.
    task : str
        ``"multilabel"`` or ``"regression"``.
    task_params : dict or None
        Options of the task (:func:`~transferkit.tasks.make_task`).
    label_sep : str
        The separator between a row's labels in a label cell.
    check : bool
        Fit the task on them (training targets), which refuses, e.g., a multi-label set
        with one label or constant regression targets.

    Returns
    -------
    list or numpy.ndarray
        Label sets (a list of N tuples) or float values (N,).

    Raises
    ------
    TransferkitError
        One line for targets the task cannot take.
    """
    from .tasks import Regression, label_sets, make_task

    if task == "multilabel":
        y = label_sets(data.y, label_sep, data.meta.get("label_columns"))
    else:
        y = Regression.encode_values(data.y, f"{data.name}'s labels")
    if check:
        make_task(task, **(task_params or {})).fit(y)
    return y


def task_split(y: Any, task: str, data: Dataset, test_data: Dataset | None, seed: int,
               test_size: float, val_size: float, n_test: int) -> tuple[Any, str]:
    """The seeded split of a task and its protocol: stratified by class
    (classification) or by label set (multi-label), random for regression."""
    if task == "classification":
        strata = np.asarray(y)
    elif task == "multilabel":
        strata = np.array(["|".join(t) for t in y])
    else:
        strata = np.zeros(len(y))
    return seeded_split(strata, data, test_data, n_test, test_size, val_size, seed,
                        stratified=task != "regression")


def seeded_split(strata: np.ndarray, data: Dataset, test_data: Dataset | None, n_test: int,
                 test_size: float, val_size: float, seed: int, stratified: bool = True
                 ) -> tuple[Any, str]:
    """The seeded train/validation/test split of an experiment and its protocol in words.

    Parameters
    ----------
    strata : numpy.ndarray (N,)
        What the split is stratified on (constant for a random split).
    data : Dataset
        The data (its own ``split`` column, when it has one, is used).
    test_data : Dataset or None
        A separate test set: then ``data`` splits into train and validation only.
    n_test : int
        Size of ``test_data`` (stated in the protocol).
    test_size, val_size : float
        Fractions held out for test and validation.
    seed : int
        Seed of the split.
    stratified : bool
        False: the protocol calls the split random (``strata`` constant).

    Returns
    -------
    tuple
        ``(split, protocol)``: the index split (``train``, ``val``, ``test``) and its
        description.
    """
    split = stratified_split(strata, 0.0 if test_data is not None else test_size,
                             val_size, seed, given=None if test_data else data.split)
    protocol = split.protocol if test_data is None else (
        f"test = the given test set ({n_test} samples); validation = "
        f"{val_size:.0%} of the training data (seeded)")
    if not stratified:
        protocol = protocol.replace("stratified", "random")
    return split, protocol


def task_scores(est: Any, task: str, X_test: Any, y_test: Any) -> dict[str, Any]:
    """Metrics (:data:`TASK_METRICS`) of a fitted multi-label or regression estimator on
    ``X_test`` and its targets ``y_test`` (label sets or values)."""
    from .tasks import Regression

    predictions = outputs(est, X_test)
    if task == "multilabel":
        thresholds = 0.5 if est.threshold_ is None else np.asarray(est.threshold_)
        return est.task_.metrics(est.task_.encode(y_test, "the test labels"), predictions,
                                 thresholds)
    return Regression.metrics(np.asarray(y_test), predictions[:, 0])


def _compare_frozen_task(data: Dataset, task: str, task_params: dict[str, Any] | None,
                         y: Any, y_test_given: Any, backbone: str, seeds: tuple[int, ...],
                         test_size: float, val_size: float, baseline: bool,
                         test_data: Dataset | None, head: str | None,
                         params: dict[str, Any]) -> Comparison:
    """:func:`compare_task` on the cached frozen path (see there)."""
    from .heads import HEADS, head_for_task

    head = head_for_task(head, task)  # one line for a head of another task, before work
    cache = params.get("cache", True)
    feature_opts = {"batch_size": params.get("batch_size"),
                    "engine": params.get("engine", "auto")}
    if cache:  # one extraction pass over all the data; each seed's fit reads the cache
        bb = shared_backbone(backbone)
        check_modality(bb, data.modality)
        for part in (data, test_data):
            if part is not None:
                extract_features(bb, part.X, **feature_opts)
    transfer_cls, scratch_cls = ((TransferRegressor, FromScratchRegressor)
                                 if task == "regression" else
                                 (TransferClassifier, FromScratchClassifier))
    common = {"head": head, "validation_fraction": val_size, "task": task,
              "task_params": task_params, "refit": params.get("refit", True),
              "threshold_metric": "f1" if task == "multilabel" else None}
    per_seed: dict[str, list[dict[str, Any]]] = {"transfer": [], "from-scratch": []}
    chosen: dict[str, list[dict[str, Any]]] = {"transfer": [], "from-scratch": []}
    model, protocol, baseline_desc, test = None, "", "", None
    for seed in seeds:
        split, protocol = task_split(y, task, data, test_data, seed, test_size, val_size,
                                      0 if y_test_given is None else len(y_test_given))
        X_test = test_data.X if test_data is not None else take(data.X, split.test)
        y_test = y_test_given if test_data is not None else _pick(y, split.test)
        models = {"transfer": transfer_cls(backbone=backbone, random_state=seed, cache=cache,
                                           **feature_opts, **common)}
        if baseline:
            models["from-scratch"] = scratch_cls(random_state=seed, **common)
        val = (take(data.X, split.val), _pick(y, split.val)) if len(split.val) else (None,
                                                                                     None)
        for name, est in models.items():
            est.fit(take(data.X, split.train), _pick(y, split.train), *val)
            per_seed[name].append(task_scores(est, task, X_test, y_test))
            chosen[name].append(est.chosen_)
        if model is None:
            model, test = models["transfer"], (X_test, y_test)
            baseline_desc = models["from-scratch"].description if baseline else ""
    head_cls = HEADS.get(model.head_.name)
    if val_size <= 0:
        protocol += "; no validation split: fixed hyperparameters"
        if task == "multilabel":
            protocol += " and thresholds 0.5"
    else:
        protocol += f"; on validation only: {head_cls.selection_rule}"
        if task == "multilabel":
            protocol += f"; per-label thresholds: {model.task_.threshold_rule}"
        protocol += "; then the head is refit on train + validation"
        shown = [f"{name} {key}=" + ", ".join(f"{pick[key]:g}" for pick in picks)
                 for name, picks in chosen.items() if picks for key in picks[0]]
        protocol += f"; validation chose, per seed: {'; '.join(shown)}"
    if task == "regression":
        protocol += "; targets standardised with the training mean and sd"
    protocol += f"; seeds {list(seeds)}; scores on the test split only"
    keys = TASK_METRICS[task]
    label = f"{backbone} + {model.head_.name} head, frozen, cached features"
    rows = [(f"transfer ({label})", mean_sd(per_seed["transfer"], keys))]
    if baseline:
        rows.append((f"from scratch ({baseline_desc})", mean_sd(per_seed["from-scratch"], keys)))
    else:
        per_seed.pop("from-scratch")
        chosen.pop("from-scratch")
    return Comparison(rows, per_seed, protocol, model,
                      extra={"task": task, "chosen": chosen}, columns=keys, test=test)


def _pick(y: Any, idx: np.ndarray) -> Any:
    """``y[idx]`` for arrays and lists (label sets) alike."""
    return y[idx] if isinstance(y, np.ndarray) else [y[i] for i in idx]

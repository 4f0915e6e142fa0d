"""The experiment behind ``transferkit fit --tasks``: one multi-task model (a shared
backbone, one head per task, trained through the one loop) against the same architecture
from a random initialisation, on identical seeded splits, over seeds, scored per task on
the test split only."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn import metrics as skm

from .data.dataset import Dataset, take
from .experiment import (
    SCRATCH_LR,
    TASK_METRICS,
    Comparison,
    _scratch_tuning,
    loop_rows,
    seeded_split,
)
from .tasks import MultiLabel, MultiTask, Regression, split_label_cells

#: the test metrics of each kind of sub-task, in table order
SUBTASK_METRICS = {"classification": ("accuracy", "f1_macro"), **TASK_METRICS}


def task_targets(kinds: dict[str, str], labels: dict[str, np.ndarray], label_sep: str = "|",
                 where: str = "the data") -> dict[str, Any]:
    """Each task's labels as its task takes them.

    Parameters
    ----------
    kinds : dict
        ``{task: kind}`` (see :func:`transferkit.tasks.parse_tasks`).
    labels : dict
        ``{task: raw label column (N,)}``.
    label_sep : str
        The separator of a multi-label task's cells.
    where : str
        Names the data in errors.

    Returns
    -------
    dict
        ``{task: targets}``: class labels ``(N,)``, label tuples (multilabel) or numbers
        ``(N,)`` (regression; one line for text or missing values)."""
    out: dict[str, Any] = {}
    for name, kind in kinds.items():
        y = labels[name]
        if kind == "regression":
            out[name] = Regression.encode_values(y, f"{where}'s labels of task {name!r}")
        elif kind == "multilabel":
            out[name] = split_label_cells(y, label_sep)
        else:
            out[name] = np.asarray(y)
    return out


def metric_keys(task: MultiTask) -> tuple[str, ...]:
    """The table's columns: ``task/metric`` for every task, in output order."""
    return tuple(f"{name}/{key}" for name, sub in task.tasks.items()
                 for key in SUBTASK_METRICS[sub.name])


def multitask_metrics(task: MultiTask, targets: dict[str, Any], predictions: np.ndarray
                      ) -> dict[str, Any]:
    """Per-task test metrics of a fitted multi-task model.

    Parameters
    ----------
    task : MultiTask
        The fitted task (``clf.task_``).
    targets : dict
        ``{task: targets (N,)}`` as :func:`task_targets` gives them.
    predictions : np.ndarray
        Activated outputs ``(N, task.out_features)`` (``clf.predict_proba(X)``).

    Returns
    -------
    dict
        ``{"n": N, "<task>/<metric>": value, ...}``: accuracy and macro F1 for a
        classification task (argmax), MAE, RMSE and R² for a regression task, micro/macro
        F1, mAP, subset accuracy and Hamming loss for a multi-label one (0.5 thresholds)."""
    parts = task.split(predictions)
    out: dict[str, Any] = {"n": int(len(predictions))}
    for name, sub in task.tasks.items():
        p, what = parts[name], f"the test labels of task {name!r}"
        if isinstance(sub, Regression):
            m = Regression.metrics(Regression.encode_values(targets[name], what), p[:, 0])
        elif isinstance(sub, MultiLabel):
            m = sub.metrics(sub.encode(targets[name], what), p, 0.5)
        else:
            codes, decided = sub.encode(targets[name], what), p.argmax(axis=1)
            m = {"accuracy": float((decided == codes).mean()),
                 "f1_macro": float(skm.f1_score(codes, decided, average="macro",
                                                labels=np.arange(p.shape[1]),
                                                zero_division=0))}
        out |= {f"{name}/{k}": v for k, v in m.items() if k != "n"}
    return out


def compare_multitask(data: Dataset, labels: dict[str, np.ndarray], kinds: dict[str, str],
                      weighting: str = "equal", alpha: float = 1.5,
                      backbone: str = "lenet", seeds: tuple[int, ...] = (0,),
                      test_size: float = 0.2, val_size: float = 0.2, baseline: bool = True,
                      test_data: Dataset | None = None,
                      test_labels: dict[str, np.ndarray] | None = None,
                      strategy: str = "linear-probe", strategy_params: dict | None = None,
                      epochs: int = 3, lr: float | None = None,
                      finetune_params: dict[str, Any] | None = None,
                      label_sep: str = "|") -> Comparison:
    """Transfer vs. from-scratch for a multi-task model.

    Parameters
    ----------
    data : Dataset
        The inputs (``X`` ``(N, ...)``).
    labels : dict
        ``{task: label column (N,)}``.
    kinds : dict
        ``{task: kind}``, in output order.
    weighting, alpha
        The loss weighting (``equal``, ``uncertainty``, ``gradnorm``) and GradNorm's alpha.
    backbone, strategy, strategy_params, epochs, lr, finetune_params
        The transfer model (``linear-probe``: the heads only, on the frozen backbone; any
        other strategy fine-tunes); the baseline is the same architecture from a random
        initialisation, every weight trained.
    seeds, test_size, val_size, test_data, test_labels
        The seeded splits (a given test set replaces the test split).
    label_sep : str
        The separator of multi-label tasks' cells.

    Returns
    -------
    Comparison
        Rows of per-task metrics (``task/metric``, mean ± sd over seeds); ``extra`` holds
        the tasks, the weighting and each seed's learnt task weights."""
    from .finetune import FineTuneClassifier

    y = task_targets(kinds, labels, label_sep, data.name)
    y_test = (None if test_data is None else
              task_targets(kinds, test_labels or {}, label_sep, test_data.name))
    params = {"tasks": [[name, kind] for name, kind in kinds.items()], "weighting": weighting,
              **({"alpha": alpha} if weighting == "gradnorm" else {})}
    MultiTask(**params).fit(y)  # bad targets: one line before any work
    stratify_on = next((n for n, k in kinds.items() if k == "classification"), None)
    strata = np.asarray(y[stratify_on]) if stratify_on else np.zeros(len(data))
    per_seed: dict[str, list[dict[str, Any]]] = {"transfer": [], "from-scratch": []}
    weights: dict[str, list[dict[str, float]]] = {"transfer": [], "from-scratch": []}
    model, protocol = None, ""
    for seed in seeds:
        split, protocol = seeded_split(strata, data, test_data,
                                       0 if test_data is None else len(test_data), test_size,
                                       val_size, seed)
        if not stratify_on:
            protocol = protocol.replace("stratified", "random")
        elif "stratified split" in protocol:
            protocol = protocol.replace("stratified split",
                                        f"split stratified on task '{stratify_on}'", 1)
        else:
            protocol = protocol.replace("stratified", f"stratified (on task '{stratify_on}')")
        X_test = test_data.X if test_data is not None else take(data.X, split.test)
        t_test = y_test if y_test is not None else _pick_all(y, split.test)
        common = {"backbone": backbone, "task": "multitask", "task_params": params,
                  "epochs": epochs, "validation_fraction": val_size, "random_state": seed,
                  "threshold_metric": None, **(finetune_params or {})}
        models = {"transfer": FineTuneClassifier(strategy=strategy,
                                                 strategy_params=strategy_params, lr=lr,
                                                 **common)}
        if baseline:
            models["from-scratch"] = FineTuneClassifier(strategy="finetune", lr=SCRATCH_LR,
                                                        **_scratch_tuning(common))
        val = ((take(data.X, split.val), _pick_all(y, split.val)) if len(split.val)
               else (None, None))
        for name, est in models.items():
            est.fit(take(data.X, split.train), _pick_all(y, split.train), *val)
            per_seed[name].append(multitask_metrics(est.task_, t_test,
                                                    est.predict_proba(X_test)))
            weights[name].append(est.task_.task_weights())
        model = model or models["transfer"]
    protocol += (f"; one shared backbone, one head per task, loss weighting '{weighting}'"
                 f"; the best epoch chosen on validation only ({model.task_.selection_rule})"
                 f"; seeds {list(seeds)}; scores on the test split only")
    keys = metric_keys(model.task_)
    how = "heads only, frozen backbone" if strategy == "linear-probe" else strategy
    rows = loop_rows(f"{backbone}, {how}", per_seed, keys, baseline)
    if not baseline:
        weights.pop("from-scratch")
    return Comparison(rows, per_seed, protocol, model, columns=keys,
                      extra={"task": "multitask", "tasks": dict(kinds),
                             "weighting": weighting, "task_weights": weights})


def format_weights(weights: dict[str, list[dict[str, float]]], weighting: str) -> str:
    """The learnt task weights of each model, mean ± sd over seeds, as lines.

    Parameters
    ----------
    weights : dict
        ``{model: [{task: weight} per seed]}`` (``Comparison.extra["task_weights"]``).
    weighting : str
        The loss weighting, which says what the weights are.

    Returns
    -------
    str
        One line per model."""
    what = {"equal": "1 each, not learnt",
            "uncertainty": "exp(-log variance), learnt",
            "gradnorm": "GradNorm w_i, learnt, summing to the number of tasks"}[weighting]
    lines = [f"task weights ({weighting}: {what}; mean ± sd over seeds; at the end of "
             "training):"]
    for model, per_seed in weights.items():
        cells = []
        for name in per_seed[0]:
            values = [w[name] for w in per_seed]
            sd = f" ± {np.std(values, ddof=1):.3f}" if len(values) > 1 else ""
            cells.append(f"{name} {np.mean(values):.3f}{sd}")
        lines.append(f"  {model}: " + ", ".join(cells))
    return "\n".join(lines)


def _pick_all(y: dict[str, Any], idx: np.ndarray) -> dict[str, Any]:
    """Every task's targets at ``idx``."""
    return {name: (v[idx] if isinstance(v, np.ndarray) else [v[i] for i in idx])
            for name, v in y.items()}


__all__ = ["SUBTASK_METRICS", "compare_multitask", "format_weights", "metric_keys",
           "multitask_metrics", "task_targets"]

"""Classification metrics, a threshold chooser for binary tasks, and a side-by-side table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn import metrics as skm

from .errors import TransferkitError

THRESHOLD_METRICS = ("f1", "accuracy", "balanced_accuracy", "youden", "cost:K")


def threshold_scorer(metric: str):
    """``(y_true, y_pred) -> score`` (higher is better) of a threshold criterion: ``f1``,
    ``accuracy``, ``balanced_accuracy``, ``youden`` (sensitivity + specificity - 1) or
    ``cost:K`` (minus the cost ``FP + K * FN``: a missed positive costs K false alarms, e.g.
    ``cost:5`` for a missed default). Unknown -> one line."""
    if metric.startswith("cost:"):
        try:
            ratio = float(metric[5:])
        except ValueError:
            ratio = float("nan")
        if not ratio > 0 or ratio == float("inf"):
            raise TransferkitError(f"threshold criterion {metric!r} needs a positive cost "
                                   "ratio", "write e.g. cost:5 (a missed positive costs 5 false "
                                   "alarms)")

        def cost(t: np.ndarray, p: np.ndarray) -> float:
            return -float(((p == 1) & (t == 0)).sum() + ratio * ((p == 0) & (t == 1)).sum())

        return cost
    scorers = {
        "f1": lambda t, p: skm.f1_score(t, p, zero_division=0),
        "accuracy": skm.accuracy_score,
        "balanced_accuracy": skm.balanced_accuracy_score,
        "youden": lambda t, p: 2 * skm.balanced_accuracy_score(t, p) - 1,
    }
    if metric not in scorers:
        raise TransferkitError(f"unknown threshold_metric '{metric}'",
                               f"use one of: {', '.join(THRESHOLD_METRICS)} (or None)")
    return scorers[metric]


def classification_metrics(
    y_true: np.ndarray, proba: np.ndarray, threshold: float | None = None
) -> dict[str, Any]:
    """Metrics from integer labels (N,) and probabilities (N, K)."""
    y_pred = decide(proba, threshold)
    k = proba.shape[1]
    p, r, f, _ = skm.precision_recall_fscore_support(
        y_true, y_pred, labels=list(range(k)), average="macro", zero_division=0
    )
    out: dict[str, Any] = {
        "n": int(len(y_true)),
        "accuracy": float(skm.accuracy_score(y_true, y_pred)),
        "balanced_accuracy": float(skm.balanced_accuracy_score(y_true, y_pred)),
        "precision_macro": float(p),
        "recall_macro": float(r),
        "f1_macro": float(f),
        "confusion_matrix": skm.confusion_matrix(y_true, y_pred, labels=list(range(k))).tolist(),
    }
    if k == 2 and len(np.unique(y_true)) == 2:
        out["roc_auc"] = float(skm.roc_auc_score(y_true, proba[:, 1]))
    return out


def decide(proba: np.ndarray, threshold: float | None = None) -> np.ndarray:
    """Class codes: argmax, or for binary with a threshold, ``p(class 1) >= threshold``."""
    if threshold is not None and proba.shape[1] == 2:
        return (proba[:, 1] >= threshold).astype(int)
    return proba.argmax(axis=1)


def choose_threshold(y_val: np.ndarray, p_pos: np.ndarray, metric: str = "f1") -> float:
    """The threshold on p(positive) that maximises ``metric`` on the validation split.

    Candidates are midpoints between sorted validation scores (plus 0.5); ties go to
    the candidate closest to 0.5. ``metric``: see :func:`threshold_scorer`."""
    scorer = threshold_scorer(metric)
    s = np.unique(p_pos)
    candidates = np.unique(np.concatenate([[0.5], (s[:-1] + s[1:]) / 2]))
    scores = np.array([scorer(y_val, (p_pos >= t).astype(int)) for t in candidates])
    best = np.flatnonzero(scores >= scores.max() - 1e-12)
    return float(candidates[best[np.argmin(np.abs(candidates[best] - 0.5))]])


SHOWN = ("accuracy", "balanced_accuracy", "f1_macro", "roc_auc")


def format_table(rows: Sequence[tuple[str, dict[str, Any]]], keys: Sequence[str] = SHOWN) -> str:
    """Rows of (name, metrics) as an aligned text table; values may be floats or
    (mean, sd) pairs."""
    keys = [k for k in keys if any(k in m for _, m in rows)]
    return text_table(["model", *keys],
                      [[name, *(format_metric(m.get(k), k) for k in keys)] for name, m in rows])


def text_table(header: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    """Cells as an aligned plain-text table: the header, a rule, then one line per row.

    Parameters
    ----------
    header : sequence of str
        Column names.
    body : sequence of sequence of str
        Rows, each with one cell per column.

    Returns
    -------
    str
    """
    rows = [list(map(str, header)), *(list(map(str, r)) for r in body)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    line = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True))  # noqa: E731
    return "\n".join([line(rows[0]), line(["-" * w for w in widths]), *map(line, rows[1:])])


#: metrics in the targets' own units (or R²), printed as they are, not as percentages
UNSCALED = ("mae", "rmse", "r2", "dev_score")  # dev_score: a label-free score, not a share


def format_metric(v: Any, key: str = "") -> str:
    """A metric value as the tables show it: a percentage with two decimals (``mean ± sd``
    for a ``(mean, sd)`` pair), or as it is for :data:`UNSCALED` metrics (also as the
    validation score ``val_<metric>``); ``-`` for None."""
    if v is None:
        return "-"
    # also a multi-task column "size/mae", and a tune table's validation score "val_r2"
    if key.rsplit("/", 1)[-1].removeprefix("val_") in UNSCALED:
        return (f"{v[0]:.4g} ± {v[1]:.2g}" if isinstance(v, list | tuple) else f"{v:.4g}")
    if isinstance(v, list | tuple):
        return f"{100 * v[0]:.2f} ± {100 * v[1]:.2f}"
    return f"{100 * v:.2f}"


def mean_sd(values: Sequence[dict[str, Any]], keys: Sequence[str] = SHOWN) -> dict[str, Any]:
    """Per-key (mean, sample sd) over seeds; a plain value when there is one seed."""
    out: dict[str, Any] = {}
    for k in keys:
        vals = [v[k] for v in values if k in v]
        if len(vals) == 1:
            out[k] = float(vals[0])
        elif vals:
            out[k] = (float(np.mean(vals)), float(np.std(vals, ddof=1)))
    return out

"""The report's plots: matplotlib figures rendered to inline SVG (no file, no network).

Each function takes plain arrays and returns the ``<svg>`` markup of one figure.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")  # no display: render to strings only
import matplotlib.pyplot as plt  # noqa: E402  -- after the backend is chosen
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

plt.rcParams.update({"svg.fonttype": "none", "font.size": 9, "axes.grid": True,
                     "grid.alpha": 0.3, "figure.dpi": 100})
#: the colours of categories (classes, domains), cycled
PALETTE = plt.get_cmap("tab10").colors + plt.get_cmap("Dark2").colors


def svg(fig: plt.Figure) -> str:
    """The figure as SVG markup (closed afterwards)."""
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg"):]


def learning_curves(history: Sequence[Mapping[str, float]], best_epoch: int | None) -> str:
    """Training and validation loss per epoch (left) and the validation scores (right), the
    chosen epoch marked.

    Parameters
    ----------
    history
        The loop's per-epoch records (``epoch``, ``train_loss``, ``val_loss``,
        ``val_<metric>``, ``selection_score``, ...).
    best_epoch
        The epoch the model was taken from (0-based), or None.
    """
    epochs = np.array([r["epoch"] + 1 for r in history])
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.2))
    for key, style in (("train_loss", "-o"), ("val_loss", "-s")):
        if any(key in r for r in history):
            left.plot(epochs, [r.get(key, np.nan) for r in history], style, label=key, ms=3)
    left.set(xlabel="epoch", ylabel="loss", title="loss")
    scores = sorted({k for r in history for k in r if k.startswith("val_") and k != "val_loss"}
                    | {k for r in history for k in r if k == "selection_score"})
    for key in scores:
        right.plot(epochs, [r.get(key, np.nan) for r in history], "-o", label=key, ms=3)
    right.set(xlabel="epoch", title="validation (selection) scores")
    for ax in (left, right):
        if best_epoch is not None and best_epoch >= 0:
            ax.axvline(best_epoch + 1, color="crimson", ls="--", lw=1,
                       label=f"chosen epoch {best_epoch + 1}")
        if ax.lines:
            ax.legend(fontsize=7)
    return svg(fig)


def confusion(matrix: np.ndarray, classes: Sequence[str]) -> str:
    """The confusion matrix (rows: true class, columns: predicted), counts in the cells."""
    k = len(classes)
    fig, ax = plt.subplots(figsize=(min(2 + 0.45 * k, 9), min(1.6 + 0.45 * k, 8.5)))
    image = ax.imshow(matrix, cmap="Blues")
    ax.grid(False)
    ax.set(xticks=range(k), yticks=range(k), xlabel="predicted", ylabel="true")
    ax.set_xticklabels(classes, rotation=90 if k > 6 else 0)
    ax.set_yticklabels(classes)
    if k <= 20:
        top = matrix.max() or 1
        for i in range(k):
            for j in range(k):
                ax.text(j, i, int(matrix[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if matrix[i, j] > top / 2 else "black")
    fig.colorbar(image, ax=ax, fraction=0.046)
    return svg(fig)


def grouped_bars(groups: Sequence[str], series: Mapping[str, Sequence[float]],
                 ylabel: str, title: str) -> str:
    """One group of bars per entry of ``groups``, one bar per series (e.g. precision and
    recall per class, or each run's accuracy)."""
    n = len(series)
    x = np.arange(len(groups))
    fig, ax = plt.subplots(figsize=(min(3 + 0.5 * len(groups) * max(n, 1), 10), 3.2))
    width = 0.8 / max(n, 1)
    for i, (name, values) in enumerate(series.items()):
        ax.bar(x + (i - (n - 1) / 2) * width, values, width, label=name,
               color=PALETTE[i % len(PALETTE)])
    ax.set_xticks(x)
    ax.set_xticklabels(groups, rotation=90 if len(groups) > 8 or
                       max(map(len, groups), default=0) > 12 else 0)
    ax.set(ylabel=ylabel, title=title)
    ax.legend(fontsize=7)
    return svg(fig)


def residuals(y_true: np.ndarray, y_pred: np.ndarray) -> str:
    """Predicted against true values (left) and residuals against predictions (right)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.4))
    left.scatter(y_true, y_pred, s=6, alpha=0.6)
    lo, hi = float(min(y_true.min(), y_pred.min())), float(max(y_true.max(), y_pred.max()))
    left.plot([lo, hi], [lo, hi], color="crimson", lw=1, label="y = x")
    left.set(xlabel="true", ylabel="predicted", title="predicted vs true")
    left.legend(fontsize=7)
    right.scatter(y_pred, y_true - y_pred, s=6, alpha=0.6)
    right.axhline(0, color="crimson", lw=1)
    right.set(xlabel="predicted", ylabel="true - predicted", title="residuals")
    return svg(fig)


def scatter_by(points: np.ndarray, groups: Sequence[np.ndarray], names: Sequence[Sequence[str]],
               titles: Sequence[str]) -> str:
    """One panel per colouring of the same 2-D ``points`` (N, 2): ``groups[i]`` (N,) ints
    coloured with the labels ``names[i]``."""
    fig, axes = plt.subplots(1, len(groups), figsize=(4.6 * len(groups), 4), squeeze=False)
    for ax, codes, labels, title in zip(axes[0], groups, names, titles, strict=True):
        for c, label in enumerate(labels):
            mask = codes == c
            if mask.any():
                ax.scatter(points[mask, 0], points[mask, 1], s=5, alpha=0.7, label=label,
                           color=PALETTE[c % len(PALETTE)])
        ax.set(title=title, xticks=[], yticks=[])
        if len(labels) <= 20:
            ax.legend(fontsize=6, markerscale=2, loc="best")
    return svg(fig)


def line_history(values: Sequence[float], best: Sequence[float], xlabel: str,
                 ylabel: str, title: str) -> str:
    """Each trial's value (dots) and the best so far (line): an optimisation history."""
    fig, ax = plt.subplots(figsize=(6, 3.2))
    x = np.arange(len(values))
    ax.plot(x, values, "o", ms=4, label="trial")
    ax.plot(x, best, "-", color="crimson", label="best so far")
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize=7)
    return svg(fig)


def horizontal_bars(names: Sequence[str], values: Sequence[float], xlabel: str,
                    title: str) -> str:
    """Bars of ``values`` by ``names``, largest on top (e.g. parameter importances)."""
    order = np.argsort(values)
    fig, ax = plt.subplots(figsize=(6, 0.9 + 0.35 * len(names)))
    ax.barh([names[i] for i in order], [values[i] for i in order], color=PALETTE[0])
    ax.set(xlabel=xlabel, title=title)
    return svg(fig)


def score_vs_accuracy(scores: Sequence[float], accuracies: Sequence[float],
                      names: Sequence[str], score_name: str) -> str:
    """Each candidate's transferability score against its fine-tuned accuracy, labelled."""
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.scatter(scores, accuracies, s=30, color=PALETTE[0])
    for s, a, name in zip(scores, accuracies, names, strict=True):
        ax.annotate(name, (s, a), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set(xlabel=score_name, ylabel="fine-tuned test accuracy",
           title=f"{score_name} before training vs accuracy after")
    return svg(fig)


def heatmaps(shown: Sequence[tuple[np.ndarray, np.ndarray, Mapping[str, int]]],
             classes: Sequence[str]) -> str:
    """Images with their heat maps overlaid: ``shown`` holds ``(image (H, W[, 3]) uint8,
    heat (H, W) in [0, 1], {"true", "pred"})``; correct predictions on the top row, wrong
    ones below."""
    rows = [[s for s in shown if s[2]["true"] == s[2]["pred"]],
            [s for s in shown if s[2]["true"] != s[2]["pred"]]]
    rows = [r for r in rows if r]
    cols = max(len(r) for r in rows)
    fig, axes = plt.subplots(len(rows), cols, figsize=(2.1 * cols, 2.3 * len(rows)),
                             squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, row in enumerate(rows):
        for j, (image, heat, labels) in enumerate(row):
            ax = axes[i][j]
            ax.imshow(image, cmap="gray" if image.ndim == 2 else None)
            ax.imshow(heat, cmap="jet", alpha=0.45, vmin=0, vmax=1)
            verdict = "correct" if labels["true"] == labels["pred"] else "wrong"
            ax.set_title(f"{verdict}: true {classes[labels['true']]}, "
                         f"pred {classes[labels['pred']]}", fontsize=7)
    return svg(fig)

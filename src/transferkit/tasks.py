"""What is predicted: a :class:`Task` encodes the targets, sizes the output layer, and gives
the loss, the activation, the validation metrics and the key that picks the best epoch.

The training loop, the heads and the estimators ask the task; none of them knows which
task it is. Built in: ``classification`` (multi-class and binary), ``multilabel`` (a set of
labels per sample), ``regression`` (a number per sample) and ``multitask`` (several named
tasks over one shared backbone).

>>> task = make_task("classification").fit(np.array(["cat", "dog", "cat"]))
>>> task.out_features, task.encode(np.array(["dog"])).tolist()
(2, [1])
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn import metrics as skm

from .errors import TransferkitError
from .registry import Registry


class Task:
    """Base class; subclasses are registered with :data:`TASKS`.

    ``fit(y)`` learns the target encoding from the training targets; afterwards
    :attr:`out_features` is the model's output width, :meth:`encode` turns targets into
    the loop's tensors' values, :meth:`loss` and :meth:`activate` act on the outputs
    ``(N, out_features)``."""

    name: str = ""
    #: dtype of the encoded targets the loss takes
    target_dtype: torch.dtype = torch.float32
    #: how :meth:`selection_key` ranks epochs, in words (stated in a run's protocol)
    selection_rule: str = ""

    def fit(self, y: Any) -> Task:
        """Learn the encoding from the training targets ``y``; returns ``self``."""
        raise NotImplementedError

    @property
    def out_features(self) -> int:
        """The width of the model's output layer (after :meth:`fit`)."""
        raise NotImplementedError

    def encode(self, y: Any, what: str = "the labels") -> np.ndarray:
        """Targets as the loop takes them (``what`` names them in errors)."""
        raise NotImplementedError

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean loss of raw outputs ``(B, out_features)`` against encoded targets."""
        raise NotImplementedError

    #: whether :meth:`training_loss` needs the shared features (the objective then asks
    #: the model for them)
    needs_features: bool = False

    def training_loss(self, outputs: torch.Tensor, targets: torch.Tensor,
                      features: torch.Tensor | None = None) -> torch.Tensor:
        """The loss of one optimisation step (called once per step by the objective).

        Parameters
        ----------
        outputs : torch.Tensor
            Raw outputs ``(B, out_features)``.
        targets : torch.Tensor
            Encoded targets ``(B, ...)``.
        features : torch.Tensor, optional
            The backbone's output ``(B, D)`` the outputs were computed from (the shared
            representation), given when :attr:`needs_features` is true.

        Returns
        -------
        torch.Tensor
            A scalar to minimise. The default is :meth:`loss`; a task that adapts its own
            state once per step (GradNorm's loss weights) does so here."""
        return self.loss(outputs, targets)

    def activate(self, outputs: torch.Tensor) -> torch.Tensor:
        """Raw outputs ``(N, out_features)`` -> predictions (probabilities or values)."""
        raise NotImplementedError

    def validation(self, targets: np.ndarray, predictions: np.ndarray) -> dict[str, float]:
        """Validation metrics ``{"val_loss": ..., ...}`` of activated predictions."""
        raise NotImplementedError

    def selection_key(self, record: dict[str, float]) -> tuple[float, ...]:
        """The key that ranks epochs from a record holding :meth:`validation`'s metrics
        (higher is better)."""
        raise NotImplementedError

    def options(self) -> dict[str, Any]:
        """Constructor arguments (JSON)."""
        return {}

    def parameters(self) -> list[torch.nn.Parameter]:
        """Parameters the task itself learns with the model (e.g. loss weights)."""
        return []

    def state(self) -> dict[str, Any]:
        """What :meth:`fit` learnt (JSON), for :meth:`set_state`."""
        return {"classes": self.classes_.tolist()} if hasattr(self, "classes_") else {}

    def set_state(self, state: dict[str, Any]) -> Task:
        """Restore what :meth:`fit` learnt from :meth:`state`'s dict; returns ``self``."""
        if "classes" in state:
            self.classes_ = np.asarray(state["classes"])
        return self

    def to_dict(self) -> dict[str, Any]:
        """The fitted task as JSON (:func:`task_from_dict` rebuilds it)."""
        return {"kind": self.name, "options": self.options(), "state": self.state()}


TASKS: Registry[type[Task]] = Registry("task kind")


def make_task(kind: str | Task, **options: Any) -> Task:
    """A new task of the registered ``kind`` (a given :class:`Task` is returned as is)."""
    if isinstance(kind, Task):
        return kind
    return TASKS.get(kind)(**options)


def task_from_dict(data: dict[str, Any]) -> Task:
    """The fitted task written by :meth:`Task.to_dict`."""
    return make_task(data["kind"], **data.get("options", {})).set_state(data.get("state", {}))


@TASKS.register("classification")
class Classification(Task):
    """One label per sample among ``C >= 2`` classes: cross-entropy on ``C`` logits,
    softmax probabilities, the best epoch by validation accuracy (log loss breaks ties)."""

    target_dtype = torch.long
    selection_rule = "validation accuracy, then validation log loss"

    def fit(self, y: Any) -> Classification:
        y = np.asarray(y)
        if y.ndim != 1:
            raise TransferkitError(f"classification takes one label per sample, got labels "
                                   f"of shape {y.shape}", "pass a 1-D array of labels")
        self.classes_ = np.unique(y)
        if len(self.classes_) < 2:
            raise TransferkitError(f"the training labels hold one class only "
                                   f"({self.classes_[0]!r})",
                                   "a classifier needs at least two classes")
        return self

    @property
    def out_features(self) -> int:
        return len(self.classes_)

    def encode(self, y: Any, what: str = "the labels") -> np.ndarray:
        y = np.asarray(y)
        unknown = set(np.unique(y).tolist()) - set(self.classes_.tolist())
        if unknown:
            raise TransferkitError(f"{what} hold classes {sorted(map(str, unknown))[:5]} that "
                                   "the training labels do not",
                                   "every class must appear in training")
        return np.searchsorted(self.classes_, y)

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(outputs.float(), targets)

    def activate(self, outputs: torch.Tensor) -> torch.Tensor:
        return torch.softmax(outputs.float(), dim=1).double()

    def validation(self, targets: np.ndarray, predictions: np.ndarray) -> dict[str, float]:
        p = np.clip(predictions[np.arange(len(targets)), targets], 1e-12, None)
        return {"val_loss": float(-np.log(p).mean()),
                "val_accuracy": float((predictions.argmax(1) == targets).mean())}

    def selection_key(self, record: dict[str, float]) -> tuple[float, ...]:
        return (record["val_accuracy"], -record["val_loss"])


@TASKS.register("multilabel")
class MultiLabel(Task):
    """Any subset of ``L`` labels per sample: one logit per label, binary cross-entropy,
    sigmoid probabilities; the best epoch by validation mAP (macro average precision; log
    loss breaks ties). Targets: a 0/1 indicator array ``(N, L)``, or one collection of
    labels per sample (list, tuple or set; :func:`split_label_cells` reads text cells such
    as ``"cat|dog"``)."""

    selection_rule = "validation mAP (macro average precision), then validation log loss"

    def fit(self, y: Any) -> MultiLabel:
        indicator = _as_indicator(y)
        if indicator is not None:
            self.classes_ = np.arange(indicator.shape[1])
        else:
            self.classes_ = np.array(sorted({label for labels in y for label in labels}))
        if len(self.classes_) < 2:
            raise TransferkitError(f"multi-label targets need at least two labels, got "
                                   f"{len(self.classes_)}", "use classification for one label")
        Y = self.encode(y)
        if (Y.sum(axis=1) == 1).all():
            raise TransferkitError(
                "every sample has exactly one label, so this is not a multi-label task",
                "use the plain classifier (--task classification)")
        return self

    @property
    def out_features(self) -> int:
        return len(self.classes_)

    def encode(self, y: Any, what: str = "the labels") -> np.ndarray:
        indicator = _as_indicator(y)
        if indicator is not None:
            if indicator.shape[1] != len(self.classes_):
                raise TransferkitError(f"{what} have {indicator.shape[1]} label columns, the "
                                       f"training labels {len(self.classes_)}",
                                       "give the same label columns")
            return indicator
        index = {label: i for i, label in enumerate(self.classes_.tolist())}
        out = np.zeros((len(y), len(index)), np.float32)
        for row, labels in enumerate(y):
            unknown = [label for label in labels if label not in index]
            if unknown:
                raise TransferkitError(f"{what} hold label(s) {unknown[:5]} that the training "
                                       "labels do not", "every label must appear in training")
            out[row, [index[label] for label in labels]] = 1.0
        return out

    def decode(self, indicator: np.ndarray) -> list[tuple]:
        """0/1 rows ``(N, L)`` -> the label set of each sample (tuples of labels)."""
        return [tuple(self.classes_[np.flatnonzero(row)].tolist()) for row in indicator]

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(outputs.float(), targets.float())

    def activate(self, outputs: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(outputs.float()).double()

    def validation(self, targets: np.ndarray, predictions: np.ndarray) -> dict[str, float]:
        p = np.clip(predictions, 1e-12, 1 - 1e-12)
        loss = -(targets * np.log(p) + (1 - targets) * np.log(1 - p)).mean()
        return {"val_loss": float(loss), "val_map": mean_average_precision(targets, predictions)}

    def selection_key(self, record: dict[str, float]) -> tuple[float, ...]:
        return (record["val_map"], -record["val_loss"])

    threshold_rule = ("per label, the threshold on its probability that maximises its F1 on "
                      "the validation split (0.5 for a label without a validation positive)")

    def choose_thresholds(self, targets: np.ndarray, predictions: np.ndarray) -> np.ndarray:
        """One threshold per label ``(L,)`` (:attr:`threshold_rule`)."""
        from .metrics import choose_threshold

        return np.array([choose_threshold(targets[:, j].astype(int), predictions[:, j], "f1")
                         if 0 < targets[:, j].sum() < len(targets) else 0.5
                         for j in range(targets.shape[1])])

    def metrics(self, targets: np.ndarray, predictions: np.ndarray,
                thresholds: np.ndarray | float = 0.5) -> dict[str, float]:
        """Micro and macro F1, mAP, subset accuracy and Hamming loss of probabilities
        ``(N, L)`` against 0/1 targets, labels decided by ``thresholds`` (per label)."""
        decided = (predictions >= np.asarray(thresholds)).astype(int)
        truth = targets.astype(int)
        return {
            "n": int(len(truth)),
            "f1_micro": float(skm.f1_score(truth, decided, average="micro", zero_division=0)),
            "f1_macro": float(skm.f1_score(truth, decided, average="macro", zero_division=0)),
            "map": mean_average_precision(truth, predictions),
            "subset_accuracy": float((decided == truth).all(axis=1).mean()),
            "hamming_loss": float((decided != truth).mean()),
        }


OTHER_SEPARATORS = ("|", ",", ";", "/", " ")


def split_label_cells(cells: Any, sep: str = "|") -> list[tuple[str, ...]]:
    """Text cells of several labels (``"cat|dog"``; an empty cell: no label) -> one tuple of
    labels per cell. Cells that hold another separator but never ``sep`` are one line
    naming it (``--label-sep``)."""
    cells = ["" if c is None or (isinstance(c, float) and np.isnan(c)) else str(c)
             for c in cells]
    if not any(sep in c for c in cells):
        for other in OTHER_SEPARATORS:
            # a space may sit inside one label ("ice cream"): it counts when common
            count = sum(other in c.strip() for c in cells)
            if other != sep and (count > len(cells) // 4 if other == " " else count):
                raise TransferkitError(
                    f"the label cells hold several labels separated by {other!r}, not by "
                    f"{sep!r} (e.g. {next(c for c in cells if other in c.strip())!r})",
                    f"pass --label-sep {other!r}")
    return [tuple(sorted({part.strip() for part in c.split(sep) if part.strip()}))
            for c in cells]


def label_sets(y: Any, sep: str = "|", names: Any = None) -> list[tuple[str, ...]]:
    """Multi-label targets as one sorted tuple of labels per sample: text cells split on
    ``sep`` (:func:`split_label_cells`), or 0/1 columns ``(N, L)`` named ``names`` (the
    labels whose column holds 1).

    Parameters
    ----------
    y : array-like (N,) of text cells, or int array (N, L) of 0/1
    sep : str
        The separator of text cells.
    names : sequence of L str, or None
        The label of each column of a 0/1 ``y`` (required for one).

    Returns
    -------
    list of tuple of str
        ``N`` label sets.
    """
    if np.ndim(y) == 2:
        names = [str(n) for n in names]
        return [tuple(sorted(names[j] for j in np.flatnonzero(row))) for row in np.asarray(y)]
    return split_label_cells(y, sep)


def mean_average_precision(targets: np.ndarray, scores: np.ndarray) -> float:
    """Macro average precision over the labels that have a positive, ``(N, L)`` inputs."""
    present = np.flatnonzero(np.asarray(targets).sum(axis=0) > 0)
    if not len(present):
        return float("nan")
    return float(np.mean([skm.average_precision_score(targets[:, j], scores[:, j])
                          for j in present]))


def _as_indicator(y: Any) -> np.ndarray | None:
    """``y`` as a float32 0/1 array ``(N, L)`` when it is one; None for label collections."""
    if isinstance(y, np.ndarray) and y.ndim == 2 and y.dtype.kind in "biuf":
        if not np.isin(y, (0, 1)).all():
            raise TransferkitError("multi-label indicator targets must be 0 or 1",
                                   "give one 0/1 column per label")
        return y.astype(np.float32)
    return None


@TASKS.register("regression")
class Regression(Task):
    """A number per sample: one output, trained on standardised targets with ``loss``
    (``"mse"`` or ``"huber"``); the best epoch by validation RMSE."""

    selection_rule = "validation RMSE"
    LOSSES = ("mse", "huber")

    def __init__(self, loss: str = "mse"):
        if loss not in self.LOSSES:
            raise TransferkitError(f"unknown regression loss '{loss}'",
                                   f"use one of: {', '.join(self.LOSSES)}")
        self.loss_name = loss

    def fit(self, y: Any) -> Regression:
        values = self.encode_values(y)
        self.mean_, self.scale_ = float(values.mean()), float(values.std()) or 1.0
        return self

    def options(self) -> dict[str, Any]:
        return {"loss": self.loss_name}

    def state(self) -> dict[str, Any]:
        return {"mean": self.mean_, "scale": self.scale_}

    def set_state(self, state: dict[str, Any]) -> Regression:
        self.mean_, self.scale_ = float(state["mean"]), float(state["scale"])
        return self

    @staticmethod
    def encode_values(y: Any, what: str = "the targets") -> np.ndarray:
        """``y`` as float64 ``(N,)``: one line for text, missing or infinite values."""
        try:
            values = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
        except (TypeError, ValueError) as exc:
            raise TransferkitError(f"{what} of a regression must be numbers ({exc})",
                                   "give a numeric label column") from exc
        if values.shape[1] != 1:
            raise TransferkitError(f"regression takes one number per sample, got "
                                   f"{values.shape[1]}", "give one numeric label column")
        bad = np.flatnonzero(~np.isfinite(values[:, 0]))
        if len(bad):
            raise TransferkitError(f"{what} hold {len(bad)} missing or infinite value(s) (first "
                                   f"at row {bad[0]})", "fill or drop those rows")
        return values[:, 0]

    @property
    def out_features(self) -> int:
        return 1

    def encode(self, y: Any, what: str = "the targets") -> np.ndarray:
        values = self.encode_values(y, what)
        return ((values - self.mean_) / self.scale_).astype(np.float32)[:, None]

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if self.loss_name == "huber":
            return F.huber_loss(outputs.float(), targets.float())
        return F.mse_loss(outputs.float(), targets.float())

    def activate(self, outputs: torch.Tensor) -> torch.Tensor:
        """Outputs in the targets' own units ``(N, 1)``."""
        return outputs.double() * self.scale_ + self.mean_

    def validation(self, targets: np.ndarray, predictions: np.ndarray) -> dict[str, float]:
        truth = targets[:, 0] * self.scale_ + self.mean_
        metrics = self.metrics(truth, predictions[:, 0])
        return {"val_loss": float(np.mean((targets[:, 0] - (predictions[:, 0] - self.mean_)
                                           / self.scale_) ** 2)),
                "val_mae": metrics["mae"], "val_rmse": metrics["rmse"]}

    def selection_key(self, record: dict[str, float]) -> tuple[float, ...]:
        return (-record["val_rmse"],)

    @staticmethod
    def metrics(truth: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
        """MAE, RMSE and R² of predictions ``(N,)`` against the true values ``(N,)``."""
        return {"n": int(len(truth)),
                "mae": float(skm.mean_absolute_error(truth, predicted)),
                "rmse": float(np.sqrt(skm.mean_squared_error(truth, predicted))),
                "r2": float(skm.r2_score(truth, predicted)) if len(truth) > 1 else float("nan")}


WEIGHTINGS = ("equal", "uncertainty", "gradnorm")


def parse_tasks(spec: str) -> dict[str, str]:
    """``"digit:classification,size:regression"`` -> ``{"digit": "classification", ...}``
    (one line for a task named twice, an unknown kind or a malformed entry)."""
    tasks: dict[str, str] = {}
    for entry in (part.strip() for part in spec.split(",") if part.strip()):
        name, sep, kind = (x.strip() for x in entry.partition(":"))
        if not sep or not name or not kind:
            raise TransferkitError(f"--tasks entry {entry!r} is not NAME:KIND",
                                   "write e.g. --tasks digit:classification,size:regression")
        if name in tasks:
            raise TransferkitError(f"task {name!r} is named twice in --tasks",
                                   "name each task once (one label column per task)")
        if kind == "multitask" or kind not in TASKS:
            known = ", ".join(k for k in TASKS if k != "multitask")
            raise TransferkitError(f"unknown task kind '{kind}' for task {name!r}",
                                   f"use one of: {known}")
        tasks[name] = kind
    if not tasks:
        raise TransferkitError("--tasks names no task",
                               "write e.g. --tasks digit:classification,size:regression")
    return tasks


@TASKS.register("multitask")
class MultiTask(Task):
    """Several named tasks over one shared backbone: the output holds each task's columns
    side by side (one linear head per task, as blocks of one layer) and the loss weighs the
    tasks' losses.

    Parameters
    ----------
    tasks : dict or list of (name, kind)
        ``{name: kind or Task}``, in output-column order.
    weighting : str
        * ``"equal"`` — the sum of the losses;
        * ``"uncertainty"`` — Kendall, Gal & Cipolla 2018: ``sum_i exp(-s_i) L_i + s_i`` with a
          learnt ``s_i = log sigma_i^2`` per task (trained with the model);
        * ``"gradnorm"`` — Chen, Badrinarayanan, Lee & Rabinovich 2018: ``sum_i w_i L_i`` with
          weights ``w_i`` learnt by their own Adam step (``weight_lr``) on the GradNorm loss
          ``sum_i |G_i - mean(G) * r_i^alpha|``. ``G_i`` is the norm of the gradient of
          ``w_i L_i`` with respect to the **shared features** (the backbone's output, the
          representation every head reads) rather than the last shared layer's weights: a
          documented simplification that needs no knowledge of the backbone's layers and
          costs one backward pass through the head per task. ``r_i`` is the task's loss
          ratio ``L_i(t) / L_i(0)`` over its mean; after each step the weights are
          renormalised to sum to the number of tasks.
    alpha : float
        GradNorm's asymmetry (1.5, as in the paper's experiments).
    weight_lr : float
        GradNorm: the learning rate of the weights' own Adam optimiser.

    Notes
    -----
    Targets: ``{name: targets}`` with one entry per task. The best epoch minimises the sum
    of the tasks' validation losses (unweighted; regression losses on standardised targets)
    whatever the weighting. :meth:`task_weights` gives the learnt weights."""

    selection_rule = ("the unweighted sum of the tasks' validation losses, regression "
                      "losses on standardised targets")

    def __init__(self, tasks: dict[str, Any] | list[tuple[str, Any]], weighting: str = "equal",
                 alpha: float = 1.5, weight_lr: float = 0.025):
        if not tasks:
            raise TransferkitError("a multi-task model needs at least one task",
                                   "name them, e.g. digit:classification,parity:classification")
        if weighting not in WEIGHTINGS:
            raise TransferkitError(f"unknown loss weighting '{weighting}'",
                                   f"use one of: {', '.join(WEIGHTINGS)}")
        for name, value in (("alpha", alpha), ("weight_lr", weight_lr)):
            if not (isinstance(value, int | float) and np.isfinite(value) and value >= 0):
                raise TransferkitError(f"GradNorm's {name} must be a number >= 0, got "
                                       f"{value!r}", f"use e.g. {name}=1.5" if name == "alpha"
                                       else f"use e.g. {name}=0.025")
        pairs = list(tasks.items()) if isinstance(tasks, dict) else [tuple(p) for p in tasks]
        self.tasks = {name: make_task(kind) for name, kind in pairs}  # order: output columns
        self.weighting = weighting
        self.alpha, self.weight_lr = float(alpha), float(weight_lr)
        self.log_vars = torch.nn.Parameter(torch.zeros(len(self.tasks)),
                                           requires_grad=weighting == "uncertainty")
        #: GradNorm's weights ``(T,)`` (ones otherwise) and first-step losses ``(T,)``
        self.loss_weights = torch.nn.Parameter(torch.ones(len(self.tasks)),
                                               requires_grad=weighting == "gradnorm")
        self.initial_losses: torch.Tensor | None = None
        self._weight_optimizer: torch.optim.Optimizer | None = None

    @property
    def needs_features(self) -> bool:  # type: ignore[override]
        return self.weighting == "gradnorm"

    def fit(self, y: Any) -> MultiTask:
        missing = [name for name in self.tasks if name not in y]
        if missing:
            raise TransferkitError(f"no targets for task(s) {', '.join(missing)}",
                                   "give one label column per task")
        lengths = {name: len(y[name]) for name in self.tasks}
        if len(set(lengths.values())) > 1:
            raise TransferkitError(f"the tasks' targets differ in length ({lengths})",
                                   "give one target per sample for every task")
        for name, task in self.tasks.items():
            task.fit(y[name])
        return self

    def _slices(self) -> list[tuple[slice, slice]]:
        """Per task: (its output columns, its target columns)."""
        out, target, slices = 0, 0, []
        for task in self.tasks.values():
            width = 1 if isinstance(task, Classification) else task.out_features
            slices.append((slice(out, out + task.out_features), slice(target, target + width)))
            out, target = out + task.out_features, target + width
        return slices

    @property
    def out_features(self) -> int:
        return sum(task.out_features for task in self.tasks.values())

    def encode(self, y: Any, what: str = "the labels") -> np.ndarray:
        parts = [np.asarray(task.encode(y[name], f"{what} of task {name!r}"),
                            dtype=np.float32).reshape(len(y[name]), -1)
                 for name, task in self.tasks.items()]
        return np.concatenate(parts, axis=1)

    def task_losses(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Each task's loss ``(T,)`` of a batch."""
        losses = []
        for task, (out, target) in zip(self.tasks.values(), self._slices(), strict=True):
            t = targets[:, target]
            t = t[:, 0].long() if isinstance(task, Classification) else t
            losses.append(task.loss(outputs[:, out], t))
        return torch.stack(losses)

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The weighted loss of a batch (GradNorm: with the current weights, not updated)."""
        losses = self.task_losses(outputs, targets)
        if self.weighting == "uncertainty":
            s = self.log_vars.to(losses.device)
            return (torch.exp(-s) * losses + s).sum()
        if self.weighting == "gradnorm":
            return (self.loss_weights.detach().to(losses.device) * losses).sum()
        return losses.sum()

    def training_loss(self, outputs: torch.Tensor, targets: torch.Tensor,
                      features: torch.Tensor | None = None) -> torch.Tensor:
        """:meth:`loss`; with GradNorm, first one update of the weights on this batch
        (``features``: the shared features ``(B, D)`` the outputs come from)."""
        if self.weighting != "gradnorm":
            return self.loss(outputs, targets)
        if features is None:
            raise TransferkitError("GradNorm weighting needs the shared features of each "
                                   "batch", "train it with the supervised objective")
        losses = self.task_losses(outputs, targets)
        self.gradnorm_step(losses, features)
        return (self.loss_weights.detach().to(losses.device) * losses).sum()

    def gradnorm_step(self, losses: torch.Tensor, features: torch.Tensor) -> None:
        """One GradNorm update of :attr:`loss_weights` (Chen et al. 2018, Algorithm 1).

        Parameters
        ----------
        losses : torch.Tensor
            The tasks' losses ``(T,)`` of the batch, still attached to the graph.
        features : torch.Tensor
            The shared features ``(B, D)`` the losses were computed from.

        Notes
        -----
        The weights' gradient is that of ``sum_i |w_i n_i - mean_j(w_j n_j) r_i^alpha|``
        with ``n_i = ||dL_i / d features||`` and the target ``mean(G) r_i^alpha`` held
        constant; one Adam step, then the weights are kept positive and renormalised to sum
        to the number of tasks. Under DDP the norms and losses are averaged over processes
        first, so every process takes the same step."""
        norms = []
        for loss in losses:
            grad = (torch.autograd.grad(loss, features, retain_graph=True, allow_unused=True)[0]
                    if loss.requires_grad else None)
            norms.append(grad.float().norm() if grad is not None else loss.new_zeros(()))
        norms = torch.stack(norms).detach().float()
        stats = torch.cat([norms, losses.detach().float()])
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.all_reduce(stats)
            stats /= torch.distributed.get_world_size()
        norms, current = stats[:len(losses)].cpu(), stats[len(losses):].cpu()
        if self.initial_losses is None:
            self.initial_losses = current.clamp_min(1e-12)
        ratio = current / self.initial_losses
        ratio = ratio / ratio.mean().clamp_min(1e-12)
        if self._weight_optimizer is None:
            self._weight_optimizer = torch.optim.Adam([self.loss_weights], lr=self.weight_lr)
        with torch.enable_grad():
            G = self.loss_weights * norms
            target = (G.mean() * ratio ** self.alpha).detach()
            gradnorm_loss = (G - target).abs().sum()
            self._weight_optimizer.zero_grad(set_to_none=True)
            gradnorm_loss.backward()
        self._weight_optimizer.step()
        with torch.no_grad():
            self.loss_weights.clamp_(min=1e-3)
            self.loss_weights.mul_(len(self.tasks) / self.loss_weights.sum())

    def task_weights(self) -> dict[str, float]:
        """The weight of each task's loss: 1 (equal), the learnt ``exp(-s_i)``
        (uncertainty) or the learnt ``w_i`` (gradnorm, summing to the number of tasks)."""
        values = (self.loss_weights.detach() if self.weighting == "gradnorm"
                  else torch.exp(-self.log_vars.detach()))
        return {name: float(v) for name, v in zip(self.tasks, values, strict=True)}

    def activate(self, outputs: torch.Tensor) -> torch.Tensor:
        return torch.cat([task.activate(outputs[:, out]) for task, (out, _) in
                          zip(self.tasks.values(), self._slices(), strict=True)], dim=1)

    def split(self, predictions: np.ndarray) -> dict[str, np.ndarray]:
        """Activated outputs ``(N, out_features)`` -> ``{task: its predictions}``."""
        return {name: predictions[:, out] for name, (out, _) in
                zip(self.tasks, self._slices(), strict=True)}

    def validation(self, targets: np.ndarray, predictions: np.ndarray) -> dict[str, float]:
        record: dict[str, float] = {}
        for (name, task), (out, target) in zip(self.tasks.items(), self._slices(),
                                               strict=True):
            t = targets[:, target]
            t = t[:, 0].astype(int) if isinstance(task, Classification) else t
            for key, value in task.validation(t, predictions[:, out]).items():
                record[f"{name}/{key}"] = value
        record["val_loss"] = float(sum(record[f"{name}/val_loss"] for name in self.tasks))
        return record

    def selection_key(self, record: dict[str, float]) -> tuple[float, ...]:
        return (-record["val_loss"],)

    def parameters(self) -> list[torch.nn.Parameter]:
        return [self.log_vars] if self.weighting == "uncertainty" else []

    def options(self) -> dict[str, Any]:
        # lists, not objects: JSON files sort object keys, and the order is the layout
        options: dict[str, Any] = {
            "tasks": [[name, task.name] for name, task in self.tasks.items()],
            "weighting": self.weighting}
        if self.weighting == "gradnorm":
            options |= {"alpha": self.alpha, "weight_lr": self.weight_lr}
        return options

    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "tasks": [[name, task.to_dict()] for name, task in self.tasks.items()],
            "log_vars": self.log_vars.detach().tolist()}
        if self.weighting == "gradnorm":
            state |= {"loss_weights": self.loss_weights.detach().tolist(),
                      "initial_losses": None if self.initial_losses is None
                      else self.initial_losses.tolist()}
        return state

    def set_state(self, state: dict[str, Any]) -> MultiTask:
        self.tasks = {name: task_from_dict(d) for name, d in state["tasks"]}
        with torch.no_grad():
            self.log_vars.copy_(torch.tensor(state["log_vars"]))
            if state.get("loss_weights") is not None:
                self.loss_weights.copy_(torch.tensor(state["loss_weights"]))
        if state.get("initial_losses") is not None:
            self.initial_losses = torch.tensor(state["initial_losses"])
        return self

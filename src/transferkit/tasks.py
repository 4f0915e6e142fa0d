"""What is predicted: a :class:`Task` encodes the targets, sizes the output layer, and gives
the loss, the activation, the validation metrics and the key that picks the best epoch.

The training loop, the heads and the estimators ask the task; none of them knows which
task it is. Built in: ``classification`` (multi-class and binary).

>>> task = make_task("classification").fit(np.array(["cat", "dog", "cat"]))
>>> task.out_features, task.encode(np.array(["dog"])).tolist()
(2, [1])
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

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
        raise NotImplementedError

    def encode(self, y: Any, what: str = "the labels") -> np.ndarray:
        """Targets as the loop takes them (``what`` names them in errors)."""
        raise NotImplementedError

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean loss of raw outputs ``(B, out_features)`` against encoded targets."""
        raise NotImplementedError

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


TASKS: Registry[type[Task]] = Registry("task kind")


def make_task(kind: str | Task, **options: Any) -> Task:
    """A new task of the registered ``kind`` (a given :class:`Task` is returned as is)."""
    if isinstance(kind, Task):
        return kind
    return TASKS.get(kind)(**options)


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

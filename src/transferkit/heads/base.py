"""The head contract: a classifier on features, saved as safetensors + a JSON config."""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch


class Head(ABC):
    """Maps features (N, D) to class probabilities (N, K).

    ``fit`` takes integer class codes 0..K-1. With validation data it picks its
    hyperparameters there (never on test data); without, it uses fixed defaults.
    """

    name: str = ""

    @abstractmethod
    def fit(
        self,
        X: Any,
        y: np.ndarray,
        n_classes: int,
        X_val: Any = None,
        y_val: np.ndarray | None = None,
        seed: int = 0,
    ) -> Head:
        """Train on features, choosing hyperparameters on the validation features if given.

        Parameters
        ----------
        X : ndarray or sparse matrix, shape (N, D)
            Training features.
        y : ndarray of int, shape (N,)
            Class codes in ``0 .. n_classes - 1``.
        n_classes : int
            ``K``, the number of classes (some may be absent from ``y``).
        X_val, y_val : shape (M, D) and (M,), optional
            Validation features and codes; without them fixed defaults are used.
        seed : int
            Seed of any randomness (initialisation, shuffling).

        Returns
        -------
        Head
            ``self``.
        """

    @abstractmethod
    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities.

        Parameters
        ----------
        X : ndarray or sparse matrix, shape (N, D)

        Returns
        -------
        ndarray, shape (N, K)
            Rows sum to 1; column ``k`` is class code ``k``.
        """

    def chosen_params(self) -> dict[str, Any]:
        """Constructor arguments that fix what validation chose (for a refit without it)."""
        return {}

    @abstractmethod
    def state(self) -> dict[str, torch.Tensor]:
        """Tensors to save (safetensors)."""

    @abstractmethod
    def config(self) -> dict[str, Any]:
        """JSON-serialisable settings, including what was chosen on validation."""

    @classmethod
    @abstractmethod
    def from_state(cls, config: dict[str, Any], state: dict[str, torch.Tensor]) -> Head:
        """Rebuild a fitted head from :meth:`config` and :meth:`state` (a run dir's
        ``config.json`` entry and ``head.safetensors``)."""


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax of logits ``z (N, K)``, computed stably; rows sum to 1."""
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def val_score(proba: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(accuracy, -log loss) on validation: higher is better, log loss breaks ties."""
    acc = float((proba.argmax(1) == y).mean())
    nll = float(-np.log(np.clip(proba[np.arange(len(y)), y], 1e-12, None)).mean())
    return acc, -nll


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """Run many small tensor ops on one thread: on a 2-core machine, intra-op threads only
    add synchronisation (measured ~15x slower head fits under load)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)

"""The head contract: a model on features, saved as safetensors + a JSON config.

Classification heads (``task = "classification"``) give class probabilities; heads for the
other tasks (``multilabel``, ``regression``) give raw outputs (``decision_function``: logits
per label, or values in the units of the targets they were fitted on) that the estimator's
task activates. The helpers below standardise feature columns in bounded memory (row
chunks), with the same values as the whole-array arithmetic."""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

if TYPE_CHECKING:  # optuna is imported only by the tune command
    import optuna


class Head(ABC):
    """Maps features (N, D) to class probabilities (N, K).

    ``fit`` takes integer class codes 0..K-1. With validation data it picks its
    hyperparameters there (never on test data); without, it uses fixed defaults.
    """

    name: str = ""
    #: the task kind the head serves (its targets and outputs, see the module docstring)
    task: str = "classification"
    #: how :meth:`fit` chooses its hyperparameters on validation data, in words
    selection_rule: str = ""

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

    @classmethod
    def search_space(cls, trial: optuna.Trial) -> dict[str, Any]:
        """The head's settings to try in one ``transferkit tune`` trial.

        Parameters
        ----------
        trial : optuna.Trial
            The trial to suggest from; name each parameter ``"<head>.<setting>"``.

        Returns
        -------
        dict
            Keyword arguments of the head's constructor (``head_params``); ``{}`` (the
            default) when nothing is worth searching.
        """
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


#: rows per chunk when standardising: bounds the float64 temporaries (256 x 1280 x 8 B = 2.6 MB)
CHUNK_ROWS = 256


def column_moments(X: Any, rows: int = CHUNK_ROWS) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of each column of a dense ``X (N, D)``, in float64.

    The values equal ``np.asarray(X, np.float64).mean(0)`` and ``.std(0)`` bit for bit (the
    sums run over the rows in the same order), but no float64 copy of ``X`` is made: the
    rows are read ``rows`` at a time.

    Returns
    -------
    tuple of numpy.ndarray
        ``(mean (D,), std (D,))``.
    """
    X = np.asarray(X)
    n = len(X)
    total = squares = None
    for start in range(0, n, rows):  # the running sum is the first row of the next reduce
        chunk = np.asarray(X[start:start + rows], dtype=np.float64)
        total = _fold(total, chunk)
    mean = total / n
    for start in range(0, n, rows):
        chunk = np.asarray(X[start:start + rows], dtype=np.float64) - mean
        np.multiply(chunk, chunk, out=chunk)
        squares = _fold(squares, chunk)
    return mean, np.sqrt(squares / n)


def _fold(running: np.ndarray | None, chunk: np.ndarray) -> np.ndarray:
    if running is None:
        return np.add.reduce(chunk, axis=0)
    return np.add.reduce(np.concatenate([running[None], chunk]), axis=0)


def standardise_rows(X: Any, mean: np.ndarray, scale: np.ndarray,
                     dtype: type = np.float32, rows: int = CHUNK_ROWS) -> np.ndarray:
    """``((X - mean) / scale)`` computed in float64 and stored as ``dtype``, ``rows`` rows at
    a time: the values of the whole-array expression cast to ``dtype``, without its float64
    temporaries.

    Parameters
    ----------
    X : array-like (N, D)
    mean, scale : numpy.ndarray (D,)

    Returns
    -------
    numpy.ndarray
        ``(N, D)`` of ``dtype``.
    """
    X = np.asarray(X)
    out = np.empty(X.shape, dtype=dtype)
    for start in range(0, len(X), rows):
        out[start:start + rows] = (np.asarray(X[start:start + rows], dtype=np.float64)
                                   - mean) / scale
    return out


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

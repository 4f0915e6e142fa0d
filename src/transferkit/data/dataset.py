"""The in-memory description of a labelled dataset, whatever its modality."""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._io import array_bytes, file_digest, sha256_hex
from ..errors import TransferkitError


@dataclass
class Dataset:
    """Inputs plus labels.

    ``X`` is, by modality: image -> list of paths/PIL images or a uint8 array (N, H, W[, C]);
    text -> list of str; tabular -> float array (N, D). ``y`` holds the original labels
    (strings or ints), ``split`` an optional user-given "train"/"val"/"test" per sample.
    """

    X: Any
    y: np.ndarray | None
    modality: str
    name: str = "data"
    split: np.ndarray | None = None
    feature_names: list[str] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.X)

    def subset(self, idx: Sequence[int] | np.ndarray) -> Dataset:
        """The samples at positions ``idx``.

        Parameters
        ----------
        idx : sequence of int, shape (k,)
            Row positions (repeats allowed).

        Returns
        -------
        Dataset
            ``k`` samples with their labels (if any), same modality and name.
        """
        idx = np.asarray(idx, dtype=int)
        return Dataset(
            X=take(self.X, idx),
            y=None if self.y is None else self.y[idx],
            modality=self.modality,
            name=self.name,
            split=None if self.split is None else self.split[idx],
            feature_names=self.feature_names,
            meta=self.meta,
        )

    @property
    def classes(self) -> np.ndarray:
        """The sorted distinct labels, shape ``(K,)``; a dataset without labels raises
        :class:`~transferkit.errors.TransferkitError`."""
        if self.y is None:
            raise TransferkitError(f"{self.name} has no labels", "provide a label column")
        return np.unique(self.y)


def align_to(reference: Dataset, other: Dataset, labels: bool = True) -> Dataset:
    """``other`` made comparable with ``reference``, before any work: table columns put in
    ``reference``'s order by name (a different column set, or arrays of another width -> one
    line) and, with ``labels``, its labels in ``reference``'s type (see :func:`labels_as`)."""
    ref, names = reference.feature_names, other.feature_names
    if ref is not None and names is not None and names != ref:
        missing = [c for c in ref if c not in names]
        extra = [c for c in names if c not in ref]
        if missing or extra:
            raise TransferkitError(
                f"{other.name}'s feature columns differ from {reference.name}'s (missing: "
                f"{', '.join(missing[:5]) or 'none'}; extra: {', '.join(extra[:5]) or 'none'})",
                "give both tables the same feature columns")
        order = [names.index(c) for c in ref]
        other = dataclasses.replace(other, X=np.asarray(other.X)[:, order],
                                    feature_names=list(ref))
    if reference.modality == other.modality == "tabular":
        width, other_width = np.shape(reference.X)[1:], np.shape(other.X)[1:]
        if width != other_width:
            raise TransferkitError(
                f"{other.name} has {other_width[0] if other_width else 0} feature columns but "
                f"{reference.name} has {width[0] if width else 0}",
                "give both the same features (same columns, same feature extractor)")
    if labels and other.y is not None and reference.y is not None:
        other = dataclasses.replace(other, y=labels_as(reference.classes, other.y, other.name,
                                                       reference.name))
    return other


def labels_as(classes: np.ndarray, y: Any, name: str = "the data",
              reference: str = "the model") -> np.ndarray:
    """``y (n,)`` as values of ``classes (C,)``: equal values, else equal text (a folder's
    class "3" and an array's label 3 are one class). A label of no class -> one line."""
    y = np.asarray(y)
    if set(np.unique(y).tolist()) <= set(classes.tolist()):
        return y
    by_text = {str(c): c for c in classes.tolist()}
    unknown = sorted({str(v) for v in np.unique(y).tolist()} - by_text.keys())
    if unknown:
        raise TransferkitError(
            f"{name} has label(s) {', '.join(unknown[:5])}"
            f"{' ...' if len(unknown) > 5 else ''} that {reference} does not have "
            f"(its classes: {', '.join(list(by_text)[:10])}"
            f"{' ...' if len(by_text) > 10 else ''})",
            f"give only samples of the classes of {reference}")
    return np.array([by_text[str(v)] for v in y.tolist()], dtype=classes.dtype)


def take(X: Any, idx: np.ndarray) -> Any:
    """Index arrays, sparse matrices and lists alike."""
    if isinstance(X, np.ndarray) or hasattr(X, "tocsr"):
        return X[idx]
    return [X[i] for i in idx]


def as_inputs(X: Any) -> Any:
    """pandas inputs as the forms the estimators take: a Series (or one-column frame) of
    strings -> list (texts or image paths), numbers -> array; other inputs unchanged."""
    if X is None or not type(X).__module__.startswith("pandas"):
        return X
    if getattr(X, "ndim", 1) == 2 and X.shape[1] == 1 and X.dtypes.iloc[0].kind == "O":
        X = X.iloc[:, 0]
    if X.ndim == 1:
        values = X.to_numpy()
        return values.tolist() if values.dtype == object else values
    try:
        return X.to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TransferkitError(f"the DataFrame has non-numeric columns ({exc})",
                               "pass numeric columns, or one text/path column") from exc


def infer_modality(X: Any) -> str:
    """Guess the modality of raw inputs: text (strings), image (paths, PIL, 3-4-D arrays),
    tabular (2-D numbers)."""
    if isinstance(X, np.ndarray):
        if X.dtype.kind in "US" or X.dtype == object and len(X) and isinstance(X[0], str):
            return "text"
        if X.ndim == 2:  # numbers, or a table's rows of numbers and category strings
            return "tabular"
        if X.ndim in (3, 4):
            return "image"
    if hasattr(X, "tocsr"):
        return "tabular"
    if isinstance(X, Sequence | np.ndarray) and len(X):
        first = X[0]
        if isinstance(first, str):
            suffix = os.path.splitext(first)[1].lower()
            from .images import IMAGE_SUFFIXES

            looks_like_path = suffix in IMAGE_SUFFIXES and not any(c.isspace() for c in first)
            if looks_like_path and not os.path.exists(first):
                raise TransferkitError(f"image file not found: {first}", "check the paths")
            return "image" if suffix in IMAGE_SUFFIXES and os.path.exists(first) else "text"
        if isinstance(first, os.PathLike) or isinstance(first, np.ndarray):
            return "image"
        if type(first).__module__.startswith("PIL"):
            return "image"
    raise TransferkitError(
        f"cannot tell what kind of input a {type(X).__name__} is",
        "pass a list of strings (text), image paths/arrays (image) or a 2-D array (tabular)",
    )


def item_digests(X: Any, modality: str) -> np.ndarray:
    """One hex sha256 per input (file bytes for image paths): feature-cache keys, (N,) S64."""
    if isinstance(X, np.ndarray) and X.dtype.kind in "US":
        X = X.tolist()  # strings: texts, or image paths keyed by their files' content
    if isinstance(X, np.ndarray) and X.dtype != object:
        arr = np.ascontiguousarray(X)
        head = f"{arr.dtype}:{arr.shape[1:]}".encode()
        return np.array(
            [hashlib.sha256(head + row.tobytes()).hexdigest() for row in arr], dtype="S64"
        )
    out = []
    for item in X:
        if modality == "image" and isinstance(item, str | os.PathLike):
            if not os.path.isfile(item):
                raise TransferkitError(f"image file not found: {item}", "check the path")
            out.append(file_digest(item))
        elif isinstance(item, str):
            out.append(sha256_hex("text", item))
        elif isinstance(item, np.ndarray):
            out.append(sha256_hex(str(item.dtype), str(item.shape), array_bytes(item)))
        elif type(item).__module__.startswith("PIL"):  # a palette changes the colours
            out.append(sha256_hex(item.mode, str(item.size), item.tobytes(),
                                  repr(item.getpalette()), repr(item.info.get("transparency"))))
        else:
            out.append(sha256_hex(repr(item)))
    return np.array(out, dtype="S64")

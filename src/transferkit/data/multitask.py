"""Multi-task data: the inputs plus one label column per task, named as the task.

* a table (``.csv``/``.tsv``/``.parquet``): a column per task (``digit``, ``parity``, ...)
  beside the text, image-path or numeric feature columns (the task columns are never
  features);
* ``.npz`` arrays: ``X`` plus one array ``y_<task>`` per task (``y_digit``, ``y_parity``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import TransferkitError
from .dataset import Dataset
from .loaders import _guess_columns, load_dataset, load_table

TABLE_SUFFIXES = (".csv", ".tsv", ".parquet", ".pq")


def load_multitask(path: str | os.PathLike, tasks: list[str], labelled: bool = True,
                   text_column: str | None = None, image_column: str | None = None,
                   split_column: str | None = "split") -> tuple[Dataset, dict[str, np.ndarray]]:
    """The inputs of ``path`` and each task's labels.

    Parameters
    ----------
    path : str or PathLike
        A table with one label column per task, or an ``.npz`` with ``y_<task>`` arrays.
    tasks : list of str
        The task names (the label columns).
    labelled : bool
        False (predict): label columns may be missing; those present are dropped, never
        read as features.
    text_column, image_column : str, optional
        As for single-task tables (guessed when not given).
    split_column : str, optional
        A column of given ``train``/``val``/``test`` splits.

    Returns
    -------
    (Dataset, dict)
        The dataset (``y`` is None; ``X`` ``(N, ...)``) and ``{task: labels (N,)}`` (empty
        when not ``labelled``)."""
    path = Path(path)
    if not path.exists():
        raise TransferkitError(f"data not found: {path}", "check the path")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return _load_npz(path, tasks, labelled)
    if suffix not in TABLE_SUFFIXES:
        raise TransferkitError(
            f"multi-task labels are read from a table or an .npz file, not from "
            f"'{path.name}'", "give a table with one label column per task, or an .npz with "
            "X and y_<task> arrays")
    import pandas as pd

    columns = _table(path, pd)
    missing = [t for t in tasks if t not in columns.columns]
    if missing and labelled:
        raise TransferkitError(
            f"{path.name} has no label column for task(s) {', '.join(map(repr, missing))} "
            f"(columns: {', '.join(map(str, columns.columns[:10]))})",
            "add one label column per task, named as the task in --tasks")
    labels = {} if not labelled else {t: columns[t].to_numpy() for t in tasks}
    for name, y in labels.items():
        if pd.isna(y).any():
            raise TransferkitError(
                f"{path.name}: task {name!r} has {int(pd.isna(y).sum())} sample(s) without a "
                f"label (first at data row {int(np.flatnonzero(pd.isna(y))[0]) + 1})",
                "fill or drop those rows")
    rest = columns.drop(columns=[c for c in (*tasks, split_column) if c in columns.columns])
    if text_column is None and image_column is None:
        text_column, image_column = _guess_columns(rest)
    features = None
    if text_column is None and image_column is None:
        features = [c for c in rest.columns if pd.api.types.is_numeric_dtype(rest[c])]
        if not features:
            raise TransferkitError(f"{path.name} has no numeric feature columns beside the "
                                   "task columns", "name a text column (--text-column) or an "
                                   "image-path column (--image-column)")
    data = load_table(path, label_column=None, text_column=text_column,
                      image_column=image_column, feature_columns=features,
                      split_column=split_column, labelled=False)
    return data, labels


def _table(path: Path, pd: Any) -> Any:
    """The table at ``path`` as a DataFrame (one line when it cannot be read)."""
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            return pd.read_parquet(path)
        return pd.read_csv(path, sep="\t" if path.suffix.lower() == ".tsv" else ",")
    except ImportError as exc:
        raise TransferkitError(f"reading {path.name} needs pyarrow",
                               "pip install transferkit[parquet]") from exc
    except Exception as exc:
        raise TransferkitError(f"cannot parse {path}: {exc}", "check the file format") from exc


def _load_npz(path: Path, tasks: list[str], labelled: bool
              ) -> tuple[Dataset, dict[str, np.ndarray]]:
    data = load_dataset(path, labelled=False)
    if not labelled:
        return data, {}
    with np.load(path, allow_pickle=False) as arrays:
        keys = list(arrays.files)
        missing = [t for t in tasks if f"y_{t}" not in keys]
        if missing:
            raise TransferkitError(
                f"{path.name} has no labels for task(s) {', '.join(map(repr, missing))} "
                f"(arrays: {', '.join(keys[:10])})",
                "save one array y_<task> per task (e.g. np.savez(path, X=X, y_digit=...))")
        labels = {t: np.asarray(arrays[f"y_{t}"]).ravel() for t in tasks}
    for name, y in labels.items():
        if len(y) != len(data):
            raise TransferkitError(f"{path.name}: y_{name} holds {len(y)} labels for "
                                   f"{len(data)} samples", "give one label per sample")
    return data, labels

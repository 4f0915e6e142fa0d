"""Load a dataset from disk: a folder of class sub-folders, a CSV/TSV/Parquet table, or
``.npz`` / ``.mat`` feature arrays. Loaders are registered by suffix."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import TransferkitError
from ..registry import Registry
from .dataset import Dataset
from .images import IMAGE_SUFFIXES

SPLIT_NAMES = ("train", "val", "test")
_LOADERS: Registry[Callable[..., Dataset]] = Registry("data format")
register_loader = _LOADERS.register


def load_dataset(path: str | os.PathLike, labelled: bool = True, **options: Any) -> Dataset:
    """Load ``path``; ``options`` go to the format's loader (e.g. ``label_column``).

    ``labelled=False`` (unlabelled target data): any labels are dropped unchecked, a table
    may lack the label column and an image folder may hold images at any depth."""
    path = Path(path)
    if not path.exists():
        raise TransferkitError(f"data not found: {path}", "check the path")
    key = "<dir>" if path.is_dir() else path.suffix.lower()
    if key not in _LOADERS:
        raise TransferkitError(
            f"don't know how to read '{path.name}' ({key or 'no suffix'})",
            "use a folder of class sub-folders, .csv/.tsv/.parquet, .npz or .mat",
        )
    ds = _LOADERS[key](path, labelled=labelled, **options)
    if not labelled:
        ds = dataclasses.replace(ds, y=None)
    validate_labels(ds)
    return ds


def validate_labels(ds: Dataset) -> None:
    """At least two classes, no missing labels."""
    if len(ds) == 0:
        raise TransferkitError(f"{ds.name} holds no samples", "add data")
    if ds.y is None or np.ndim(ds.y) == 2:  # 0/1 label columns: checked as they are read
        return
    if any(v is None or (isinstance(v, float) and np.isnan(v)) for v in ds.y.tolist()):
        raise TransferkitError(f"{ds.name} has samples without a label", "fill or drop them")
    classes = np.unique(ds.y)
    if len(classes) < 2:
        raise TransferkitError(
            f"{ds.name} has only one class ({classes.tolist()[0]!r})",
            "a classifier needs at least two classes of labelled samples",
        )


MAX_TEXT_CHARS = 1_000_000  # a backbone reads a few hundred tokens of a text at most


def check_text_sizes(texts: list[str], where: str) -> None:
    """One line for a text longer than :data:`MAX_TEXT_CHARS` (tokenising it would take
    gigabytes of memory for nothing: the backbone keeps only its first tokens)."""
    sizes = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
    if len(sizes) and sizes.max() > MAX_TEXT_CHARS:
        row = int(sizes.argmax())
        raise TransferkitError(
            f"{where} holds a text of {sizes[row]:,} characters (row {row + 1}; the limit is "
            f"{MAX_TEXT_CHARS:,})", "shorten or split it: a backbone reads only its first few "
            "hundred tokens")


@register_loader("<dir>")
def load_image_folder(path: Path, labelled: bool = True, **_: Any) -> Dataset:
    """``root/<class>/<image>``, or ``root/{train,val,test}/<class>/<image>`` for given splits;
    unlabelled (``labelled=False``): every image below ``root``, at any depth."""
    if not labelled:
        files = sorted(str(f) for f in path.rglob("*")
                       if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise TransferkitError(f"no images found under {path}",
                                   "point at a folder of images (sub-folders are read too)")
        return Dataset(X=files, y=None, modality="image", name=path.name)
    subdirs = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    given = [d for d in subdirs if d.name in SPLIT_NAMES]
    parts = [(d.name, d) for d in given] if given else [(None, path)]
    files, labels, splits = [], [], []
    for split_name, root in parts:
        for class_dir in sorted(p for p in root.iterdir()
                                if p.is_dir() and not p.name.startswith(".")):  # .ipynb_…
            for f in sorted(class_dir.rglob("*")):
                if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES:
                    files.append(str(f))
                    labels.append(class_dir.name)
                    splits.append(split_name)
    if not files:
        raise TransferkitError(
            f"no images found under {path}",
            "put images in one sub-folder per class (root/cat/1.jpg, root/dog/2.jpg)",
        )
    return Dataset(
        X=files,
        y=np.asarray(labels),
        modality="image",
        name=path.name,
        split=np.asarray(splits) if given else None,
    )


@register_loader(".csv", ".tsv", ".parquet", ".pq")
def load_table(
    path: Path,
    label_column: str | None = "label",
    text_column: str | None = None,
    image_column: str | None = None,
    feature_columns: list[str] | None = None,
    split_column: str | None = "split",
    labelled: bool = True,
    label_columns: list[str] | None = None,
    drop_columns: list[str] | None = None,
    mixed: bool = False,
    **_: Any,
) -> Dataset:
    """A table with a label column and either a text column, an image-path column (paths
    relative to the table's folder), or numeric feature columns (all numeric by default).

    ``label_columns`` (multi-label): one 0/1 column per label instead of ``label_column``;
    the labels are then an int array ``(N, L)`` and ``meta["label_columns"]`` names its
    columns (a missing column or a value other than 0/1 is one line).
    ``drop_columns`` are removed first (e.g. an ``ID`` column; one that is not there -> one
    line). ``mixed=True`` (for the tabular backbone, whose column schema encodes numbers,
    categories and missing cells): every other column is a feature, text-valued ones and
    empty cells included; ``X`` is then an object array ``(N, n_columns)`` holding the
    cells as read (ints stay ints, empty cells are NaN) and ``feature_names`` names its
    columns."""
    import pandas as pd

    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            df = pd.read_parquet(path)
        else:
            df = pd.read_csv(path, sep="\t" if path.suffix.lower() == ".tsv" else ",")
    except ImportError as exc:
        raise TransferkitError(
            f"reading {path.name} needs pyarrow", "pip install transferkit[parquet]"
        ) from exc
    except Exception as exc:
        raise TransferkitError(f"cannot parse {path}: {exc}", "check the file format") from exc
    if drop_columns:
        absent = [c for c in drop_columns if c not in df.columns]
        if absent:
            raise TransferkitError(
                f"{path.name} has no column(s) {', '.join(map(str, absent[:5]))} to drop "
                f"(columns: {', '.join(map(str, df.columns[:10]))})",
                "name columns of the table in --drop-columns")
        if labelled and label_column in drop_columns:
            raise TransferkitError(f"--drop-columns names the label column '{label_column}'",
                                   "drop only feature columns (the label is set by "
                                   "--label-column)")
        df = df.drop(columns=list(drop_columns))
    if label_columns or (not labelled and label_column not in df.columns):
        label_column = None
    if label_column is not None and label_column not in df.columns:
        raise TransferkitError(
            f"{path.name} has no label column '{label_column}' (columns: "
            f"{', '.join(map(str, df.columns[:10]))})",
            "name it with --label-column",
        )
    meta: dict[str, Any] = {}
    if label_columns:
        y, label_column = _indicator_columns(df, label_columns, path.name), None
        meta["label_columns"] = [str(c) for c in label_columns]
    else:
        y = None if label_column is None else df[label_column].to_numpy()
    split = None
    if split_column and split_column in df.columns:
        split = df[split_column].astype(str).str.lower().to_numpy()
    dropped = [label_column, split_column, *(label_columns or [])]
    rest = df.drop(columns=[c for c in dropped if c in df.columns])
    if mixed:
        if rest.shape[1] == 0:
            raise TransferkitError(f"{path.name} has no feature columns besides the label",
                                   "add feature columns to the table")
        return Dataset(rest.to_numpy(dtype=object), y, "tabular", name=path.stem, split=split,
                       feature_names=[str(c) for c in rest.columns], meta=meta)
    if text_column is None and image_column is None and feature_columns is None:
        text_column, image_column = _guess_columns(rest)
    for col in (text_column, image_column):
        if col is not None and col not in rest.columns:
            raise TransferkitError(f"{path.name} has no column '{col}'", "check the column name")
    if image_column is not None:
        X = [str((path.parent / str(p)).resolve()) for p in rest[image_column]]
        return Dataset(X, y, "image", name=path.stem, split=split, meta=meta)
    if text_column is not None:
        X = rest[text_column].fillna("").astype(str).tolist()
        check_text_sizes(X, f"{path.name}'s column {text_column!r}")
        return Dataset(X, y, "text", name=path.stem, split=split, meta=meta)
    cols = feature_columns or [c for c in rest.columns if pd.api.types.is_numeric_dtype(rest[c])]
    if feature_columns is None:  # a mostly numeric column is a feature with bad cells, not text
        for c in rest.columns.difference(cols, sort=False):
            numbers = pd.to_numeric(rest[c], errors="coerce")
            if numbers.notna().mean() > 0.5:
                bad = rest[c][numbers.isna() & rest[c].notna()]
                raise TransferkitError(
                    f"{path.name}: column '{c}' is numeric but data row {bad.index[0] + 1} "
                    f"holds {bad.iloc[0]!r}", "fix that cell, or drop the column")
    if not cols:
        raise TransferkitError(
            f"{path.name} has no numeric feature columns",
            "name a text column (--text-column) or an image-path column (--image-column)",
        )
    X = rest[cols].to_numpy(dtype=np.float64)
    return Dataset(check_finite(X, path.name), y, "tabular", name=path.stem, split=split,
                   feature_names=[str(c) for c in cols], meta=meta)


def _indicator_columns(df: Any, columns: list[str], where: str) -> np.ndarray:
    """The 0/1 label columns ``columns`` of the table ``df`` as int ``(N, L)``: one line for
    a missing column or a cell that is not 0 or 1."""
    import pandas as pd

    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise TransferkitError(f"{where} has no label column(s) {', '.join(map(repr, missing))} "
                               f"(columns: {', '.join(map(str, df.columns[:10]))})",
                               "name existing 0/1 columns in --label-columns")
    if len(set(columns)) < len(columns):
        raise TransferkitError("--label-columns names a column twice", "name each label once")
    out = np.zeros((len(df), len(columns)), dtype=np.int64)
    for j, c in enumerate(columns):
        values = pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=np.float64)
        bad = np.flatnonzero(~np.isin(values, (0.0, 1.0)))
        if len(bad):
            cell = str(df[c].iloc[bad[0]])
            raise TransferkitError(f"{where}: label column '{c}' holds {cell!r} at data row "
                                   f"{bad[0] + 1} ({len(bad)} cell(s) not 0 or 1)",
                                   "--label-columns takes 0/1 columns, one per label")
        out[:, j] = values.astype(np.int64)
    return out


def _guess_columns(df: Any) -> tuple[str | None, str | None]:
    lower = {str(c).lower(): c for c in df.columns}
    for name in ("image", "image_path", "path", "filepath", "file", "filename"):
        if name in lower:
            return None, lower[name]
    for name in ("text", "sentence", "sms", "review", "content"):
        if name in lower:
            return lower[name], None
    return None, None


@register_loader(".npz")
def load_npz(path: Path, **_: Any) -> Dataset:
    """Arrays ``X`` (N, D) and ``y`` (N,); also accepts ``features``/``labels``."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except ValueError as exc:  # object arrays need pickle, which is never loaded
        raise TransferkitError(
            f"{path.name} holds Python objects (an object array, e.g. labels mixing types "
            "or None)", "save numbers or strings (e.g. y=np.asarray(y, dtype=str))") from exc
    except (OSError, EOFError) as exc:
        raise TransferkitError(f"cannot read {path} ({exc})", "check it is a .npz file") \
            from exc
    return _arrays_to_dataset(arrays, path)


@register_loader(".mat")
def load_mat(path: Path, **_: Any) -> Dataset:
    """MATLAB files with ``X``/``fts``/``features`` and ``y``/``labels`` (Office-Caltech style)."""
    from scipy.io import loadmat

    try:
        arrays = {k: v for k, v in loadmat(str(path)).items() if not k.startswith("__")}
    except Exception as exc:
        raise TransferkitError(f"cannot read {path} ({exc})", "check it is a MATLAB v5 file") \
            from exc
    return _arrays_to_dataset(arrays, path)


def _arrays_to_dataset(arrays: dict[str, np.ndarray], path: Path) -> Dataset:
    """Features ``X (N, D)`` -> tabular; images ``X (N, H, W[, C])`` -> image (scaled to
    uint8, see :func:`transferkit.data.images.to_uint8`). Labels are optional (unlabelled
    target data for domain adaptation)."""
    xk = next((k for k in ("X", "x", "fts", "features", "Xs", "Xt") if k in arrays), None)
    yk = next((k for k in ("y", "Y", "labels", "label", "Ys", "Yt") if k in arrays), None)
    if xk is None:
        raise TransferkitError(
            f"{path.name} holds {sorted(arrays)}; expected a feature or image array",
            "save arrays named X (and y for labels)",
        )
    X = np.asarray(arrays[xk])
    y = None if yk is None else np.asarray(arrays[yk]).ravel()
    if X.ndim not in (2, 3, 4) or (y is not None and X.shape[0] != y.shape[0]):
        raise TransferkitError(
            f"{path.name}: {xk} has shape {X.shape}"
            + ("" if y is None else f" but {yk} has {y.shape[0]} labels"),
            "X must be (n_samples, n_features) or images (n_samples, H, W[, C]), with one "
            "label per row",
        )
    if X.ndim > 2:
        from .images import to_uint8

        return Dataset(to_uint8(X), y, "image", name=path.stem)
    X = X.astype(np.float64)
    return Dataset(check_finite(X, path.name), y, "tabular", name=path.stem)


def check_finite(X: np.ndarray, name: str) -> np.ndarray:
    if not np.isfinite(X).all():
        rows = int((~np.isfinite(X)).any(axis=1).sum())
        raise TransferkitError(
            f"{name} has NaN or infinite values in {rows} rows",
            "impute or drop those rows before fitting",
        )
    return X

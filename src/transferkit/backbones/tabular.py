"""The tabular backbone: an MLP over a table's column schema.

A :class:`ColumnSchema` is fitted on a training table and turns any table with the same
columns into tensors, vectorised (numpy/pandas column operations, no per-row Python):

* numeric columns are standardised with the training mean and standard deviation;
* categorical columns become codes: ``0`` is the reserved *unknown* code (a category never
  seen in training maps there, which is not an error), ``1..K`` the training categories in
  sorted order and ``K + 1`` the *missing* category (only for columns with missing values
  in training). Columns with at most ``onehot_max`` categories are one-hot encoded (unknown =
  all zeros); the others are embedded (unknown = the zero vector, never trained);
* missing numeric values are imputed with the training mean and, for columns with missing
  values in training, flagged in an indicator column (1 = was missing).

:class:`TabularMLP` is the :class:`~transferkit.backbones.base.Backbone` over that encoding:
``prepare(rows) -> {"numeric": (N, d) float32, "categories": (N, n_embedded) int64}``, then
``[embeddings] -> (Linear -> ReLU -> Dropout) x len(hidden)`` -> ``(N, hidden[-1])``.

Items (what ``prepare`` takes) are table rows in the schema's column order: a 2-D array
``(N, n_columns)`` (float when every column holds numbers, else object), a sequence of its
1-D rows (what the training loop hands over), or a pandas DataFrame (columns by name, extra
columns ignored). :meth:`ColumnSchema.rows` turns a DataFrame into that array.

>>> import pandas as pd
>>> df = pd.DataFrame({"age": [30.0, None, 50.0], "city": ["a", "b", "a"]})
>>> schema = ColumnSchema.fit(df)
>>> schema.output_names()
['age', 'age=missing', 'city=a', 'city=b']
>>> bb = TabularMLP(schema, hidden=(8,))
>>> tuple(bb(**bb.prepare(schema.rows(df))).shape)
(3, 8)
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..errors import TransferkitError, check, check_int
from .base import Backbone, LayerGroup, Preprocessing

SCHEMA_VERSION = 1
UNKNOWN = 0  #: the code of a category not seen in training
#: Categorical columns with at most this many categories are one-hot encoded, others embedded.
ONEHOT_MAX = 16
#: Integer columns with at most this many distinct values are inferred categorical (12: the
#: credit-default table's SEX, EDUCATION, MARRIAGE and PAY_* codes, 2-11 values, are; its
#: AGE, 56 values, is not).
INT_CATEGORIES_MAX = 12
#: Embedded columns get ``min(MAX_EMBED_DIM, round(1.6 * n_codes ** 0.56))`` dimensions.
MAX_EMBED_DIM = 32
#: Integer categories spanning fewer values than this are looked up in one dense table.
DENSE_SPAN = 4096
#: A categorical column with at least this many categories is embedded with a warning.
HIGH_CARDINALITY = 10_000


@dataclass
class ColumnSpec:
    """One column of a :class:`ColumnSchema` (JSON-serialisable).

    ``kind`` is ``"numeric"`` or ``"categorical"``; ``missing`` whether the training column
    had missing values (numeric: an indicator column; categorical: a *missing* code).
    Numeric: ``mean``/``std`` standardise it. Categorical: ``values`` says whether the
    categories are numbers (``"number"``) or text (``"string"``), ``categories`` holds them
    sorted (codes ``1..K``), ``encoding`` is ``"onehot"`` or ``"embedding"`` (``embed_dim``
    dimensions)."""

    name: str
    kind: str
    missing: bool = False
    mean: float = 0.0
    std: float = 1.0
    values: str = "number"
    categories: list[Any] = field(default_factory=list)
    encoding: str = "onehot"
    embed_dim: int = 0

    @property
    def n_codes(self) -> int:
        """Codes of a categorical column: unknown, the categories, missing (if any)."""
        return 1 + len(self.categories) + int(self.missing)

    @property
    def onehot_width(self) -> int:
        """One-hot columns of a one-hot column (unknown has none: it is all zeros)."""
        return len(self.categories) + int(self.missing)


class ColumnSchema:
    """The columns of a training table and how each becomes model input.

    Build it with :meth:`fit`, rebuild a saved one with :meth:`from_dict`. :meth:`encode`
    gives the tensors; :meth:`output_names` names the columns of ``encode(...)["numeric"]``
    (standardised numeric columns, then missing indicators, then one-hot blocks).
    """

    def __init__(self, columns: Sequence[ColumnSpec]):
        check(len(columns) > 0, "a column schema needs at least one column",
              "fit it on a table with feature columns")
        names = [c.name for c in columns]
        dupes = sorted({n for n in names if names.count(n) > 1})
        check(not dupes, f"the schema names column(s) {', '.join(dupes[:5])} more than once",
              "give every column a distinct name")
        self.columns = list(columns)
        self.names = names
        self._numeric = [i for i, c in enumerate(columns) if c.kind == "numeric"]
        self._indicators = [j for j, i in enumerate(self._numeric) if columns[i].missing]
        self._onehot = [i for i, c in enumerate(columns)
                        if c.kind == "categorical" and c.encoding == "onehot"]
        self._embedded = [i for i, c in enumerate(columns)
                          if c.kind == "categorical" and c.encoding == "embedding"]
        self._mean = np.array([columns[i].mean for i in self._numeric], dtype=np.float64)
        self._std = np.array([columns[i].std for i in self._numeric], dtype=np.float64)
        widths = [columns[i].onehot_width for i in self._onehot]
        start = len(self._numeric) + len(self._indicators)
        widths_arr = np.asarray(widths, dtype=np.int64)
        self._onehot_offset = start + np.cumsum(widths_arr) - widths_arr
        self.numeric_dim = start + int(sum(widths))
        self._categorical = [i for i, c in enumerate(columns) if c.kind == "categorical"]
        slot = {i: j for j, i in enumerate(self._categorical)}
        self._onehot_slots = [slot[i] for i in self._onehot]
        self._embedded_slots = [slot[i] for i in self._embedded]
        self._lookup: dict[int, Any] = {}  # column position -> sorted floats / pandas Index
        dense: list[int] = []  # integer categories of a small range: one code table for all
        for i in self._categorical:
            c = columns[i]
            if c.values == "string":
                self._lookup[i] = pd.Index(np.asarray(c.categories, dtype=object))
                continue
            self._lookup[i] = np.asarray(c.categories, dtype=np.float64)
            cats = self._lookup[i]
            if len(cats) and (cats == np.round(cats)).all() and (
                    cats[-1] - cats[0] < DENSE_SPAN):
                dense.append(i)
        self._sparse = [(slot[i], i) for i in self._categorical if i not in dense]
        self._dense = _DenseCodes(dense, [slot[i] for i in dense],
                                  [columns[i] for i in dense], [self._lookup[i] for i in dense])
        # every column holds numbers: rows can be one float array (fast to stack and slice)
        self.all_numbers = all(c.kind == "numeric" or c.values == "number" for c in columns)

    # ------------------------------------------------------------------ fitting
    @classmethod
    def fit(cls, table: Any, columns: Sequence[str] | None = None,
            categorical: Sequence[str] | None = None, onehot_max: int = ONEHOT_MAX,
            int_categories_max: int = INT_CATEGORIES_MAX,
            max_embed_dim: int = MAX_EMBED_DIM) -> ColumnSchema:
        """The schema of a training table.

        Parameters
        ----------
        table : pandas DataFrame, or 2-D array ``(N, D)`` with ``columns`` naming its columns
            The training rows (feature columns only: drop the label and ID columns first).
        columns : list of str, optional
            Column names of an array ``table`` (a DataFrame's own names are used otherwise).
        categorical : list of str, optional
            The categorical columns. By default they are inferred: text, bool and
            ``category`` columns, and integer-dtype columns with at most
            ``int_categories_max`` distinct values (a float column is numeric: integer
            codes read with empty cells become floats, so name those here). When given,
            exactly these columns (plus any non-numeric column, which cannot be
            standardised) are categorical.
        onehot_max : int
            Categorical columns with at most this many categories are one-hot encoded; the
            others are embedded.
        int_categories_max : int
            The inference threshold for integer columns (see ``categorical``).
        max_embed_dim : int
            The largest embedding dimension.

        Returns
        -------
        ColumnSchema
            One :class:`ColumnSpec` per column, in the table's column order. A categorical
            column with >= 10,000 categories warns (an ``AdaptWarning``): it is embedded, but
            is probably an identifier.
        """
        check_int("onehot_max", onehot_max, 0, ONEHOT_MAX)
        check_int("int_categories_max", int_categories_max, 0, INT_CATEGORIES_MAX)
        check_int("max_embed_dim", max_embed_dim, 1, MAX_EMBED_DIM)
        frame = _as_frame(table, columns)
        check(len(frame) > 0, "the training table has no rows", "fit the schema on data")
        check(frame.shape[1] > 0, "the training table has no columns",
              "fit the schema on a table with feature columns")
        if categorical is not None:
            unknown = [c for c in categorical if c not in frame.columns]
            check(not unknown, f"categorical column(s) {', '.join(map(str, unknown[:5]))} are "
                  "not in the table", f"use columns of the table ({_some(frame.columns)})")
        specs = []
        for name in frame.columns:
            col = frame[name]
            if _is_categorical(col, categorical, name, int_categories_max):
                specs.append(_fit_categorical(str(name), col, onehot_max, max_embed_dim))
            else:
                specs.append(_fit_numeric(str(name), col))
        return cls(specs)

    # ------------------------------------------------------------------ encoding
    def encode(self, table: Any) -> dict[str, torch.Tensor]:
        """The model inputs of ``table``.

        Parameters
        ----------
        table : pandas DataFrame, 2-D array ``(N, n_columns)`` or sequence of 1-D rows
            A DataFrame is read by column name (extra columns are ignored; a missing one is
            an error naming it); arrays and rows must hold the schema's columns in order.

        Returns
        -------
        dict
            ``"numeric"``: float32 ``(N, numeric_dim)`` (see :meth:`output_names`);
            ``"categories"``: int64 ``(N, n_embedded)``, the codes of the embedded columns.
        """
        cols, arr = self._columns(table)
        n = len(cols[0])
        out = np.zeros((n, self.numeric_dim), dtype=np.float32)
        if self._numeric:
            block = arr[:, self._numeric] if arr is not None else np.column_stack(
                [self._to_float(cols[i], i) for i in self._numeric])
            nan = np.isnan(block)
            if np.isinf(block).any():
                j = int(np.isinf(block).any(axis=0).argmax())
                raise TransferkitError(
                    f"column '{self.names[self._numeric[j]]}' holds an infinite value",
                    "replace it by a number or leave the cell empty (missing)")
            std = (np.where(nan, self._mean, block) - self._mean) / self._std
            k = len(self._numeric)
            out[:, :k] = std
            if self._indicators:
                out[:, k:k + len(self._indicators)] = nan[:, self._indicators]
        codes = self._category_codes(cols, arr)  # (N, n_categorical)
        if self._onehot:
            oh = codes[:, self._onehot_slots]
            rows, which = np.nonzero(oh != UNKNOWN)
            out[rows, self._onehot_offset[which] + oh[rows, which] - 1] = 1.0
        cats = np.ascontiguousarray(codes[:, self._embedded_slots])
        return {"numeric": torch.from_numpy(out), "categories": torch.from_numpy(cats)}

    def rows(self, table: Any) -> np.ndarray:
        """``table`` as the items :class:`TabularMLP` takes: ``(N, n_columns)`` in schema
        order, float64 when every schema column holds numbers, else object.

        Parameters
        ----------
        table : pandas DataFrame or 2-D array
            A DataFrame needs every schema column (extra columns are ignored).

        Returns
        -------
        numpy.ndarray
            ``(N, n_columns)``; its rows (``rows[i]``) are what the training loop batches.
        """
        if isinstance(table, pd.DataFrame):
            self.check_columns(table.columns)
            cols = [table[n].to_numpy() for n in self.names]
        else:
            arr = np.asarray(table)
            self._check_width(arr)
            if arr.dtype.kind == "f" or not self.all_numbers:
                return arr
            cols = list(arr.T)
        if not self.all_numbers:
            return np.column_stack([np.asarray(c, dtype=object) for c in cols])
        floats = []
        for i, col in enumerate(cols):
            if self.columns[i].kind == "numeric":
                floats.append(self._to_float(col, i))
                continue
            values = _coerce_float(col)
            if (np.isnan(values) & ~_isna(col)).any():  # a text value: not a float
                return np.column_stack([np.asarray(c, dtype=object) for c in cols])
            floats.append(values)
        return np.column_stack(floats)

    def values_and_codes(self, table: Any) -> tuple[np.ndarray, np.ndarray]:
        """The columns as they are, split by kind (what a tree model takes: no scaling).

        Parameters
        ----------
        table : pandas DataFrame, 2-D array ``(N, n_columns)`` or sequence of 1-D rows
            As for :meth:`encode`.

        Returns
        -------
        values : numpy.ndarray
            float64 ``(N, n_numeric)``: the numeric columns, unstandardised (NaN = missing).
        codes : numpy.ndarray
            int64 ``(N, n_categorical)``: the categorical columns' codes (0 unknown,
            ``1..K`` the categories, ``K + 1`` missing), in schema order.
        """
        cols, arr = self._columns(table)
        n = len(cols[0])
        if not self._numeric:
            values = np.zeros((n, 0), dtype=np.float64)
        elif arr is not None:
            values = arr[:, self._numeric].astype(np.float64)
        else:
            values = np.column_stack([self._to_float(cols[i], i) for i in self._numeric])
        return values, self._category_codes(cols, arr)

    @property
    def categorical(self) -> list[ColumnSpec]:
        """The categorical columns, in the order of :meth:`values_and_codes`' codes."""
        return [self.columns[i] for i in self._categorical]

    @property
    def numeric(self) -> list[ColumnSpec]:
        """The numeric columns, in the order of :meth:`values_and_codes`' values."""
        return [self.columns[i] for i in self._numeric]

    def output_names(self) -> list[str]:
        """Names of the ``numeric_dim`` columns of ``encode(...)["numeric"]``: numeric
        columns, ``<col>=missing`` indicators, then ``<col>=<category>`` one-hot columns."""
        numeric = [self.names[i] for i in self._numeric]
        indicators = [f"{numeric[j]}=missing" for j in self._indicators]
        onehot = []
        for i in self._onehot:
            c = self.columns[i]
            onehot += [f"{c.name}={v}" for v in c.categories]
            onehot += [f"{c.name}=missing"] if c.missing else []
        return numeric + indicators + onehot

    @property
    def embedded(self) -> list[ColumnSpec]:
        """The embedded columns, in the order of ``encode(...)["categories"]``'s columns."""
        return [self.columns[i] for i in self._embedded]

    # ------------------------------------------------------------------ persistence
    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable description; :meth:`from_dict` rebuilds the schema from it."""
        return {"version": SCHEMA_VERSION, "columns": [asdict(c) for c in self.columns]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ColumnSchema:
        """The schema described by :meth:`to_dict`'s output."""
        version = data.get("version", 0) if isinstance(data, Mapping) else 0
        check(isinstance(data, Mapping) and isinstance(data.get("columns"), list),
              "not a column schema (expected a dict with a 'columns' list)",
              "pass ColumnSchema.to_dict()'s output")
        check(version <= SCHEMA_VERSION, "the column schema was written by a newer transferkit",
              "upgrade transferkit to load it")
        specs = [ColumnSpec(**c) for c in data["columns"]]
        for c in specs:
            check(c.kind in ("numeric", "categorical")
                  and c.encoding in ("onehot", "embedding")
                  and c.values in ("number", "string"),
                  f"column '{c.name}' of the schema has an unknown kind or encoding",
                  "pass ColumnSchema.to_dict()'s output")
        return cls(specs)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ColumnSchema) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        kinds = [c.kind[0] if c.kind == "numeric" else c.encoding[0] for c in self.columns]
        return (f"ColumnSchema({len(self.columns)} columns: {kinds.count('n')} numeric, "
                f"{kinds.count('o')} one-hot, {kinds.count('e')} embedded)")

    def check_columns(self, present: Any, table: str = "the table",
                      trained: str = "of the schema it was trained on") -> None:
        """Refuse, in one line, a table that lacks any of the schema's columns.

        Parameters
        ----------
        present : iterable of str
            The table's column names.
        table : str
            The table, as the error names it.
        trained : str
            What the columns belong to, as the error ends its problem.

        Raises
        ------
        TransferkitError
            Naming the missing columns (extra columns are no error).
        """
        have = set(present)
        missing = [n for n in self.names if n not in have]
        if missing:
            raise TransferkitError(
                f"{table} lacks column(s) {', '.join(missing[:5])}"
                f"{' ...' if len(missing) > 5 else ''} {trained}",
                f"give it every column of the source table ({_some(self.names)}); extra "
                "columns are ignored")

    # ------------------------------------------------------------------ internals

    def _check_width(self, arr: np.ndarray) -> None:
        if arr.ndim != 2 or arr.shape[1] != len(self.names):
            got = (f"have {arr.shape[1]} columns" if arr.ndim == 2
                   else f"are not a 2-D table (shape {arr.shape})")
            raise TransferkitError(
                f"the rows {got} but the schema has {len(self.names)} columns "
                f"({_some(self.names)})",
                "pass a DataFrame with those columns, or rows in schema order "
                "(ColumnSchema.rows)")

    def _columns(self, table: Any) -> tuple[list[np.ndarray], np.ndarray | None]:
        """One 1-D array per schema column, plus the whole input as a float array
        ``(N, n_columns)`` when it is one (the fast path), else None."""
        if isinstance(table, pd.DataFrame):
            self.check_columns(table.columns)
            return [table[n].to_numpy() for n in self.names], None
        if not isinstance(table, np.ndarray):
            table = _stack_rows(table, self.names)
        self._check_width(table)
        arr = table.astype(np.float64, copy=False) if table.dtype.kind in "fiub" else None
        return list(table.T), arr

    def _category_codes(self, cols: list[np.ndarray], arr: np.ndarray | None) -> np.ndarray:
        """Codes ``(N, n_categorical)`` int64 of the categorical columns, in schema order."""
        codes = np.empty((len(cols[0]), len(self._categorical)), dtype=np.int64)
        if self._dense.cols:
            codes[:, self._dense.slots] = self._dense.codes(cols, arr)
        for slot, i in self._sparse:
            codes[:, slot] = self._codes(cols, i)
        return codes

    def _to_float(self, col: np.ndarray, i: int) -> np.ndarray:
        """Numeric column ``i`` as float64 ``(N,)`` (NaN = missing; text -> one line)."""
        if col.dtype.kind in "fiub":
            return col.astype(np.float64)
        values = _coerce_float(col)
        bad = np.isnan(values) & ~_isna(col)
        if bad.any():
            raise TransferkitError(
                f"column '{self.names[i]}' is numeric but holds {col[bad.argmax()]!r}",
                "fix that value (an empty cell counts as missing), or fit the schema with "
                "the column in categorical=[...]")
        return values

    def _codes(self, cols: list[np.ndarray], i: int) -> np.ndarray:
        """Codes ``(N,)`` int64 of categorical column ``i``: 0 unknown, 1..K, K+1 missing."""
        spec, col, lookup = self.columns[i], cols[i], self._lookup[i]
        k = len(spec.categories)
        missing = _isna(col)
        if spec.values == "number":
            values = col.astype(np.float64) if col.dtype.kind in "fiub" else _coerce_float(col)
            pos = np.minimum(np.searchsorted(lookup, values), max(k - 1, 0))
            hit = lookup[pos] == values if k else np.zeros(len(values), bool)
            codes = np.where(hit, pos + 1, UNKNOWN).astype(np.int64)
        else:
            codes = lookup.get_indexer(_text_keys(col)).astype(np.int64) + 1  # -1 -> unknown
        if missing.any():
            codes[missing] = k + 1 if spec.missing else UNKNOWN
        return codes


class _DenseCodes:
    """Code lookup for integer categories of a small range (e.g. codes -2..8), all such
    columns at once: one table, ``(value - low) + base`` -> code, no per-column search."""

    def __init__(self, cols: list[int], slots: list[int], specs: list[ColumnSpec],
                 lookups: list[np.ndarray]):
        self.cols, self.slots = cols, slots
        self.low = np.array([c[0] for c in lookups], dtype=np.float64)
        self.span = np.array([c[-1] - c[0] + 1 for c in lookups], dtype=np.float64)
        self.base = (np.cumsum(self.span) - self.span).astype(np.int64)
        self.table = np.zeros(int(self.span.sum()), dtype=np.int64)  # UNKNOWN between codes
        for base, low, cats in zip(self.base, self.low, lookups, strict=True):
            self.table[base + (cats - low).astype(np.int64)] = np.arange(1, len(cats) + 1)
        self.missing_code = np.array([len(c.categories) + 1 if c.missing else UNKNOWN
                                      for c in specs], dtype=np.int64)

    def codes(self, cols: list[np.ndarray], arr: np.ndarray | None) -> np.ndarray:
        """Codes ``(N, len(cols))`` int64 (0 unknown, K+1 missing)."""
        if arr is not None:
            values = arr[:, self.cols]
            missing = np.isnan(values)
        else:
            values = np.column_stack([_coerce_float(cols[i]) for i in self.cols])
            missing = np.column_stack([_isna(cols[i]) for i in self.cols])
        offset = values - self.low
        known = (offset >= 0) & (offset < self.span) & (offset == np.floor(offset))
        codes = self.table[np.where(known, offset, 0).astype(np.int64) + self.base]
        codes = np.where(known, codes, UNKNOWN)
        return np.where(missing, self.missing_code, codes)


class FastDropout(nn.Dropout):
    """Inverted dropout (as :class:`torch.nn.Dropout`) whose mask comes from 16 random bits
    per unit, so ``p`` is rounded to a multiple of 1/65536: a quarter of the generator calls
    of ``nn.Dropout``'s per-unit draws, which dominate a small MLP's step on the CPU."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        n = x.numel()
        words = torch.randint(-2**63, 2**63 - 1, ((n + 3) // 4,), dtype=torch.int64,
                              device=x.device)
        bits = words.view(torch.int16)[:n].view(x.shape)  # uniform on [-32768, 32767]
        keep = bits >= round(self.p * 65536) - 32768  # P(keep) = 1 - p
        return x * keep.to(x.dtype).mul_(1 / (1 - self.p))


class TabularMLP(Backbone):
    """An MLP over a :class:`ColumnSchema`: table rows -> ``(N, hidden[-1])`` features.

    Parameters
    ----------
    schema : ColumnSchema or its ``to_dict()``
        The columns (fitted on the source table).
    hidden : sequence of int
        Width of each ``Linear -> ReLU -> Dropout`` block; the last is ``feature_dim``.
    dropout : float
        Dropout after each block (in training mode).
    seed : int
        Seed of the weight initialisation (independent of the global RNG).

    Notes
    -----
    Layer groups: ``input`` (the embeddings and the first block), then ``block1``, ...
    ``prepare(items)`` takes rows (see the module docstring) and returns
    ``{"numeric": (N, numeric_dim) float32, "categories": (N, n_embedded) int64}``.
    """

    name = "tabular_mlp"

    def __init__(self, schema: ColumnSchema | Mapping[str, Any],
                 hidden: Sequence[int] = (256, 256), dropout: float = 0.1, seed: int = 0):
        super().__init__()
        schema = schema if isinstance(schema, ColumnSchema) else ColumnSchema.from_dict(schema)
        hidden = tuple(hidden)
        check(len(hidden) > 0, "hidden must name at least one layer width",
              "use e.g. hidden=(256, 256)")
        for h in hidden:
            check_int("hidden", h, 1, 256)
        check(isinstance(dropout, int | float) and 0 <= dropout < 1,
              f"dropout must be in [0, 1), got {dropout!r}", "use e.g. dropout=0.1")
        check_int("seed", seed, 0, 0)
        self.schema, self.hidden, self.dropout, self.seed = schema, hidden, float(dropout), seed
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            self.embeddings = nn.ModuleList(
                nn.Embedding(c.n_codes, c.embed_dim, padding_idx=UNKNOWN)
                for c in schema.embedded)
            width = schema.numeric_dim + sum(c.embed_dim for c in schema.embedded)
            blocks = []
            for h in hidden:
                blocks.append(nn.Sequential(nn.Linear(width, h), nn.ReLU(),
                                            FastDropout(self.dropout)))
                width = h
            self.blocks = nn.ModuleList(blocks)
        self.feature_dim = hidden[-1]
        self.preprocessing = Preprocessing(modality="tabular",
                                           extra={"schema": schema.to_dict()})

    def init_config(self) -> dict[str, Any]:
        """What ``TabularMLP(**config)`` (and ``load_backbone("tabular_mlp", config)``)
        rebuilds this architecture from: the schema, the widths, dropout and seed."""
        return {"schema": self.schema.to_dict(), "hidden": list(self.hidden),
                "dropout": self.dropout, "seed": self.seed}

    def prepare(self, items: Any) -> dict[str, torch.Tensor]:
        """Rows -> ``{"numeric": (N, numeric_dim) float32, "categories": (N, n_embedded)
        int64}`` (see :meth:`ColumnSchema.encode`)."""
        return self.schema.encode(items)

    def forward(self, numeric: torch.Tensor, categories: torch.Tensor) -> torch.Tensor:
        """``numeric (N, numeric_dim)``, ``categories (N, n_embedded)`` -> ``(N, hidden[-1])``."""
        x = numeric
        if len(self.embeddings):
            x = torch.cat([x] + [emb(categories[:, j]) for j, emb in enumerate(self.embeddings)],
                          dim=1)
        for block in self.blocks:
            x = block(x)
        return x

    def layer_groups(self) -> list[LayerGroup]:
        groups = [LayerGroup("input", [self.embeddings, self.blocks[0]])]
        return groups + [LayerGroup(f"block{i}", [b]) for i, b in enumerate(self.blocks[1:], 1)]


# ---------------------------------------------------------------------- helpers
def _some(names: Sequence[Any], n: int = 8) -> str:
    names = [str(x) for x in names]
    return ", ".join(names[:n]) + (" ..." if len(names) > n else "")


def _as_frame(table: Any, columns: Sequence[str] | None) -> pd.DataFrame:
    if isinstance(table, pd.DataFrame):
        frame = table if columns is None else table[list(columns)]
    else:
        arr = np.asarray(table)
        check(arr.ndim == 2, f"a table must be 2-D (rows x columns), got shape {arr.shape}",
              "pass a DataFrame, or a 2-D array with columns=[...]")
        check(columns is not None and len(columns) == arr.shape[1],
              f"a {arr.shape[1]}-column array needs {arr.shape[1]} column names",
              "pass columns=[...] (or a DataFrame)")
        frame = pd.DataFrame(arr, columns=list(columns)).infer_objects()
    names = [str(c) for c in frame.columns]
    check(len(set(names)) == len(names), "the table has duplicate column names",
          "give every column a distinct name")
    return frame.set_axis(names, axis=1)


def _is_categorical(col: pd.Series, categorical: Sequence[str] | None, name: str,
                    int_max: int) -> bool:
    if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
        return True  # text, bool, category (or mixed) columns cannot be standardised
    if categorical is not None:
        return name in categorical
    return pd.api.types.is_integer_dtype(col) and col.nunique(dropna=True) <= int_max


def _fit_numeric(name: str, col: pd.Series) -> ColumnSpec:
    values = col.to_numpy(dtype=np.float64, na_value=np.nan)
    if np.isinf(values).any():
        raise TransferkitError(f"training column '{name}' holds an infinite value",
                               "replace it by a number or leave the cell empty (missing)")
    missing = np.isnan(values)
    seen = values[~missing]
    mean = float(seen.mean()) if len(seen) else 0.0
    std = float(seen.std()) if len(seen) else 0.0
    return ColumnSpec(name, "numeric", missing=bool(missing.any()), mean=mean,
                      std=std if std > 0 and math.isfinite(std) else 1.0)


def _fit_categorical(name: str, col: pd.Series, onehot_max: int,
                     max_embed_dim: int) -> ColumnSpec:
    raw = col.to_numpy(dtype=object) if isinstance(col.dtype, pd.CategoricalDtype) \
        else col.to_numpy()
    missing = _isna(raw)
    seen = raw[~missing]
    if raw.dtype.kind in "fiub" or pd.api.types.infer_dtype(seen, skipna=True) in (
            "integer", "floating", "mixed-integer-float", "boolean", "decimal"):
        uniq = np.unique(seen.astype(np.float64))
        categories: list[Any] = [int(v) if v == round(v) and abs(v) < 2**53 else float(v)
                                 for v in uniq.tolist()]
        values = "number"
    else:  # text (or mixed text and numbers): categories are the values' text
        categories = sorted(set(_text_keys(seen).tolist()))
        values = "string"
    k = len(categories)
    spec = ColumnSpec(name, "categorical", missing=bool(missing.any()), values=values,
                      categories=categories)
    if k > onehot_max:
        spec.encoding = "embedding"
        spec.embed_dim = min(max_embed_dim, max(2, round(1.6 * spec.n_codes ** 0.56)))
    if k >= HIGH_CARDINALITY:
        from ..adapt.base import AdaptWarning  # the one-line warning the CLI prints

        warnings.warn(f"categorical column '{name}' has {k:,} distinct values: it is embedded "
                      f"({spec.embed_dim}-d), unseen values map to 'unknown' -- if it is an "
                      "identifier, drop it from the table", AdaptWarning, stacklevel=3)
    return spec


def _text_keys(col: np.ndarray) -> np.ndarray:
    """Category keys ``(N,)`` of a text column's values (integral floats written as ints,
    so 3.0 read from a float row is the category "3"; missing cells are overwritten later)."""
    if col.dtype.kind == "f":
        finite = np.isfinite(col)
        if (col[finite] == np.round(col[finite])).all():
            return np.where(finite, col, 0).astype(np.int64).astype(str)
        return col.astype(str)
    if col.dtype.kind in "iub":
        return col.astype(str)
    return np.asarray(col, dtype=object).astype(str)


def _isna(col: np.ndarray) -> np.ndarray:
    """Missing cells ``(N,)`` bool: NaN, None, pd.NA, NaT."""
    if col.dtype.kind == "f":
        return np.isnan(col)
    if col.dtype.kind in "iub":
        return np.zeros(len(col), dtype=bool)
    return np.asarray(pd.isna(col), dtype=bool)


def _coerce_float(col: np.ndarray) -> np.ndarray:
    """Numbers as float64 ``(N,)``; missing and non-numeric cells -> NaN."""
    if col.dtype.kind in "fiub":
        return col.astype(np.float64)
    return pd.to_numeric(pd.Series(col, dtype=object), errors="coerce").to_numpy(
        dtype=np.float64, na_value=np.nan)


def _stack_rows(items: Any, names: Sequence[str]) -> np.ndarray:
    """A sequence of rows (1-D arrays, lists, pandas Series or mappings) -> ``(N, D)``."""
    items = items if isinstance(items, list) else list(items)
    if not items:
        return np.zeros((0, len(names)), dtype=np.float64)
    first = items[0]
    if isinstance(first, Mapping):
        frame = pd.DataFrame(items)
        missing = [n for n in names if n not in frame.columns]
        if missing:
            raise TransferkitError(f"the rows lack column(s) {', '.join(missing[:5])} of the "
                                   "schema", f"give every row the columns {_some(names)}")
        return frame[list(names)].to_numpy(dtype=object)
    try:
        if isinstance(first, np.ndarray) and first.dtype.kind in "fiub":
            return np.array(items)  # the loop's rows of a float array (4x np.stack's speed)
        return np.array([np.asarray(r, dtype=object) for r in items], dtype=object)
    except ValueError as exc:
        raise TransferkitError(f"the rows are not all {len(names)} values long",
                               "pass rows in schema order (ColumnSchema.rows)") from exc

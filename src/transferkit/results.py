"""One versioned results schema for every run kind (``fit``, shallow and deep ``adapt``,
``tune``): what ``metrics.json`` holds, so a report or a script can read any run.

Examples
--------
>>> doc = results_document("fit", [("transfer", {"accuracy": (0.9, 0.01)})], "protocol")
>>> doc["rows"][0]["metrics"]["accuracy"]
{'mean': 0.9, 'sd': 0.01}
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ._io import read_json
from .errors import TransferkitError

SCHEMA = "transferkit.results"
SCHEMA_VERSION = 1
RUN_KINDS = ("fit", "adapt-shallow", "adapt-deep", "tune", "audit")


def metric_value(value: Any) -> dict[str, float | None]:
    """A metric as ``{"mean": m, "sd": s}``: from a (mean, sd) pair, or one value (sd None)."""
    if isinstance(value, list | tuple):
        return {"mean": float(value[0]), "sd": float(value[1])}
    return {"mean": float(value), "sd": None}


def results_document(kind: str, rows: Sequence[tuple[str, Mapping[str, Any]]], protocol: str,
                     per_seed: Mapping[str, Any] | None = None,
                     history: Mapping[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """The ``metrics.json`` of a run.

    Parameters
    ----------
    kind
        One of :data:`RUN_KINDS`.
    rows
        ``(model name, {metric: value or (mean, sd)})`` per compared model, in table order;
        non-numeric entries (a confusion matrix) are left out of the rows.
    protocol
        How the data were split and what was chosen on what, in words.
    per_seed, history
        Each model's metrics per seed; per-epoch training records by model.
    extra
        Further top-level fields of the run kind (e.g. the method and its parameters).

    Returns
    -------
    dict
        ``{"schema", "schema_version", "kind", "protocol", "rows": [{"name", "metrics":
        {metric: {"mean", "sd"}}}], "per_seed", "history", **extra}``.
    """
    if kind not in RUN_KINDS:
        raise ValueError(f"unknown run kind {kind!r}")
    return {
        "schema": SCHEMA, "schema_version": SCHEMA_VERSION, "kind": kind, "protocol": protocol,
        "rows": [{"name": name, "metrics": {k: metric_value(v) for k, v in metrics.items()
                                            if _is_number(v)}} for name, metrics in rows],
        "per_seed": dict(per_seed or {}), "history": dict(history or {}), **extra,
    }


#: the metric each run's comparison is judged on, first found wins; lower is better for those
#: in :data:`LOWER_IS_BETTER`
PRIMARY_METRICS = ("accuracy", "f1_micro", "r2", "rmse")
LOWER_IS_BETTER = frozenset({"mae", "rmse", "hamming_loss"})


def negative_transfer(doc: Mapping[str, Any]) -> str | None:
    """A one-sentence warning when the first row of a results document (transfer, or
    adaptation) is worse than the second (from scratch, or source only) beyond the seed
    spread: its mean + sd falls short of the other's mean - sd (the directions of
    :data:`LOWER_IS_BETTER` metrics flipped). With one seed there is no spread: a loss is
    then named as such, with the advice to run more seeds. None when transfer does not lose.

    Parameters
    ----------
    doc
        A results document (:func:`results_document`), e.g. a run's ``metrics.json``.

    Returns
    -------
    str or None
    """
    rows = doc.get("rows", [])
    if len(rows) < 2:
        return None
    mine, other = rows[0]["metrics"], rows[1]["metrics"]
    metric = next((m for m in PRIMARY_METRICS if m in mine and m in other), None)
    if metric is None:
        return None
    sign = -1.0 if metric in LOWER_IS_BETTER else 1.0
    a, b = mine[metric], other[metric]
    gap = sign * (a["mean"] - b["mean"])
    if gap >= 0:
        return None
    names = f"{rows[0]['name']} vs {rows[1]['name']}"
    if a["sd"] is None or b["sd"] is None:
        return (f"transfer is below the baseline on {metric} ({a['mean']:.4g} vs "
                f"{b['mean']:.4g}; {names}) on one seed, which gives no spread to judge it "
                "by: run more seeds (e.g. --seeds 0,1,2) before trusting either")
    if -gap <= a["sd"] + b["sd"]:
        return None
    return (f"negative transfer: {metric} {a['mean']:.4g} ± {a['sd']:.2g} is worse than the "
            f"baseline's {b['mean']:.4g} ± {b['sd']:.2g} beyond the seed spread ({names}); "
            "the pretrained features hurt here")


def read_results(path: str | os.PathLike) -> dict[str, Any]:
    """A run's results document (``path``: the run dir or its ``metrics.json``)."""
    path = Path(path)
    if path.is_dir():
        path = path / "metrics.json"
    if not path.is_file():
        raise TransferkitError(f"{path} not found", "pass a run dir written by transferkit")
    doc = read_json(path)
    if doc.get("schema") != SCHEMA:
        raise TransferkitError(f"{path} is not a transferkit results file (no schema)",
                               "re-run the command that wrote it with this transferkit")
    if doc.get("schema_version", 0) > SCHEMA_VERSION:
        raise TransferkitError(f"{path} was written by a newer transferkit",
                               "upgrade transferkit to read it")
    return doc


def _is_number(value: Any) -> bool:
    if isinstance(value, list | tuple):
        return len(value) == 2 and all(isinstance(v, int | float) for v in value)
    return isinstance(value, int | float) and not isinstance(value, bool)

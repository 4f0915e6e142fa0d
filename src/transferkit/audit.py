"""``transferkit audit``: flag training examples whose given label is likely wrong.

Confident learning (Northcutt et al., 2021) as cleanlab implements it, on out-of-fold
predicted probabilities: a logistic head (standardised features, L2, fixed ``C``) is
trained on the frozen backbone's cached features ``folds`` times by scikit-learn's
``cross_val_predict`` (stratified, seeded folds), so each example's probabilities come from
a head that never saw its label; ``cleanlab.filter.find_label_issues`` then flags the
examples whose given label disagrees with them (``prune_by_noise_rate``), ranked by
cleanlab's label-quality score (self-confidence: the out-of-fold probability of the given
label, lowest first). Nothing is re-implemented here: the head is scikit-learn's, the
flagging and the scores are cleanlab's.

:func:`flag_label_issues` works on any feature matrix (raw pixels, TF-IDF, features of a
backbone); :func:`audit_labels` extracts (or reads from the cache) a backbone's features of a
:class:`~transferkit.data.Dataset` first. :func:`audit_document` is what ``audit.json``
holds, :func:`read_flagged` what ``fit --drop-flagged`` reads back.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> X = np.concatenate([rng.normal(-3, 1, (60, 2)), rng.normal(3, 1, (60, 2))])
>>> y = np.repeat(["a", "b"], 60)
>>> y[:3] = "b"  # three wrong labels
>>> result = flag_label_issues(X, y, folds=5, seed=0)
>>> sorted(result.indices.tolist())
[0, 1, 2]
"""

from __future__ import annotations

import csv
import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .backbones import DEFAULT_BACKBONES, check_modality
from .base import shared_backbone
from .data.dataset import Dataset, take
from .errors import TransferkitError, check_int
from .evaluation import png_data_uri
from .features import extract_features
from .metrics import text_table
from .results import results_document

#: the files ``transferkit audit --out DIR`` writes
FLAGGED = "flagged.csv"
AUDIT = "audit.json"
#: flagged examples ``audit.json`` shows (lowest label quality first)
MAX_EXAMPLES = 48
#: longest side of an image example's thumbnail in ``audit.json`` (pixels; never enlarged)
THUMBNAIL_SIDE = 96
#: characters of a text example kept in ``audit.json``
TEXT_CHARS = 1000
#: inverse L2 strength of the logistic head on standardised features: strong, so the head
#: does not learn the wrong labels of its training folds (benchmarks/audit.py shows the
#: effect of C on the flagged set)
LOGISTIC_C = 0.01
#: L-BFGS iterations and tolerance of the logistic head per fold (1e-3: a third of the
#: iterations of scikit-learn's 1e-4, the same flagged set within a few examples)
MAX_ITER = 500
TOL = 1e-3
#: cleanlab's filter and its ranking of the flagged examples
FILTER_BY = "prune_by_noise_rate"
RANKED_BY = "self_confidence"


@dataclass
class AuditResult:
    """What an audit found.

    Attributes
    ----------
    indices : numpy.ndarray of int, shape (F,)
        Positions (into the audited data) of the flagged examples, lowest label quality
        first.
    given, suggested : numpy.ndarray, shape (F,)
        Their given labels, and the class the out-of-fold head puts most probability on.
    scores : numpy.ndarray of float, shape (F,)
        Their label-quality scores in [0, 1] (cleanlab's self-confidence: the out-of-fold
        probability of the given label; low = likely wrong).
    n_samples : int
        How many examples were audited (N).
    classes : numpy.ndarray, shape (K,)
        The sorted distinct labels (the columns of ``pred_probs``).
    pred_probs : numpy.ndarray of float, shape (N, K)
        Out-of-fold predicted probabilities of every example.
    quality : numpy.ndarray of float, shape (N,)
        The label-quality score of every example.
    protocol : str
        How the probabilities were obtained and the examples flagged, in words.
    backbone : str or None
        The backbone whose features were audited (None: the features as given).
    """

    indices: np.ndarray
    given: np.ndarray
    suggested: np.ndarray
    scores: np.ndarray
    n_samples: int
    classes: np.ndarray
    pred_probs: np.ndarray
    quality: np.ndarray
    protocol: str
    backbone: str | None = None

    @property
    def n_flagged(self) -> int:
        """How many examples were flagged (F)."""
        return len(self.indices)

    def table(self, inputs: list[str] | None = None, limit: int = 10) -> str:
        """The first ``limit`` flagged examples as a plain-text table.

        Parameters
        ----------
        inputs : list of str, optional
            What to show for each audited example (N entries: paths, texts, row numbers);
            no column when it is None or only row numbers.
        limit : int
            Rows shown at most.

        Returns
        -------
        str
        """
        named = inputs is not None and any(x != str(j) for j, x in enumerate(inputs))
        rows = []
        for rank, i in enumerate(self.indices[:limit]):
            shown = [_shown(inputs[i])] if named else []  # paths or texts
            rows.append([str(rank + 1), str(i), *shown, str(self.given[rank]),
                         str(self.suggested[rank]), f"{self.scores[rank]:.3f}"])
        return text_table(["#", "index", *(["input"] if named else []), "given", "suggested",
                           "score"], rows)


def _shown(item: str, n: int = 50) -> str:
    """An input as a table cell: a file path keeps its end (the file name), a text its
    start."""
    if len(item) > n and os.path.exists(item):
        return "..." + item[-(n - 3):]
    return _short(item, n)


def _short(text: str, n: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 3] + "..."


def logistic_head(sparse: bool = False) -> Any:
    """The head whose out-of-fold probabilities the audit uses: standardised features (a
    sparse matrix is scaled, not centred) and L2 logistic regression (``C`` =
    :data:`LOGISTIC_C`, lbfgs, tolerance :data:`TOL`).

    Parameters
    ----------
    sparse : bool
        Whether the features are a scipy sparse matrix.

    Returns
    -------
    sklearn.pipeline.Pipeline
        An unfitted scikit-learn classifier with ``predict_proba``.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(with_mean=not sparse),
                         LogisticRegression(C=LOGISTIC_C, max_iter=MAX_ITER, tol=TOL))


def check_audit_labels(labels: Any, folds: int) -> tuple[np.ndarray, np.ndarray]:
    """One line unless ``labels`` are class labels an audit with ``folds`` folds can use:
    one label per example, at least two classes, each with at least ``folds`` examples.

    Parameters
    ----------
    labels : array-like, shape (N,)
        The given labels (any values: strings, integers).
    folds : int
        Cross-validation folds (>= 2).

    Returns
    -------
    tuple of numpy.ndarray
        ``(classes (K,), codes (N,))``: the sorted distinct labels and each example's
        position among them.

    Raises
    ------
    TransferkitError
        For one class, a class with fewer examples than folds, or labels that are not one
        per example.
    """
    check_int("folds", folds, 2, 5)
    y = np.asarray(labels)
    if y.ndim != 1:
        raise TransferkitError(f"the audit takes one class label per example, got labels of "
                               f"shape {y.shape}", "audit a single-label classification "
                               "dataset (multi-label and multi-task data are not audited)")
    classes, codes, counts = np.unique(y, return_inverse=True, return_counts=True)
    if len(classes) < 2:
        raise TransferkitError(
            f"every example has the label {_plain(classes[0])!r}" if len(classes)
            else "no labels",
            "an audit compares each label with the other classes: give data of at least "
            "two classes")
    if counts.min() < folds:
        few = _plain(classes[counts.argmin()])
        raise TransferkitError(
            f"class {few!r} has {counts.min()} example(s), fewer than the {folds} folds: "
            "each fold needs one of every class", f"use --folds {max(counts.min(), 2)} or "
            f"fewer (at least 2), or add examples of class {few!r}" if counts.min() >= 2
            else f"add examples of class {few!r} (a class needs at least 2), or drop it")
    return classes, codes


def flag_label_issues(features: Any, labels: Any, folds: int = 5, seed: int = 0,
                      model: Any = None) -> AuditResult:
    """Flag the examples whose label is likely wrong, from any feature matrix.

    Parameters
    ----------
    features : array-like or scipy sparse matrix, shape (N, D)
        One row per example: a backbone's features, raw pixels, TF-IDF, table columns.
    labels : array-like, shape (N,)
        The given labels.
    folds : int
        Folds of the stratified, seeded cross-validation that gives each example
        probabilities from a head that never saw it (>= 2; every class needs ``folds``
        examples).
    seed : int
        Seeds the folds.
    model : scikit-learn classifier, optional
        The head (anything with ``predict_proba``); default :func:`logistic_head`.

    Returns
    -------
    AuditResult
        The flagged examples (lowest label quality first), with every example's
        out-of-fold probabilities and score.

    Raises
    ------
    TransferkitError
        For labels an audit cannot use (:func:`check_audit_labels`), or features that are
        not one row per label.
    """
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from threadpoolctl import threadpool_limits

    classes, codes = check_audit_labels(labels, folds)
    sparse = hasattr(features, "tocsr")
    X = features.tocsr() if sparse else np.asarray(features)
    if X.ndim != 2 or X.shape[0] != len(codes):
        raise TransferkitError(f"features of shape {X.shape} for {len(codes)} labels",
                               "pass one feature row (N, D) per label")
    if not sparse and not np.isfinite(X).all():
        raise TransferkitError("the features hold NaN or infinite values",
                               "impute or drop them before the audit")
    head = logistic_head(sparse) if model is None else model
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    # one BLAS/OpenMP thread: the solves are small, and on a busy machine threads spinning
    # against each other made them ~10x slower (measured on 2 shared cores)
    with warnings.catch_warnings(), threadpool_limits(limits=1):
        warnings.simplefilter("ignore", ConvergenceWarning)  # the probabilities are needed
        pred_probs = cross_val_predict(head, X, codes, cv=cv, method="predict_proba")
    pred_probs = np.asarray(pred_probs, dtype=np.float64)
    indices = np.asarray(find_label_issues(codes, pred_probs, filter_by=FILTER_BY,
                                           return_indices_ranked_by=RANKED_BY), dtype=int)
    quality = get_label_quality_scores(codes, pred_probs, method=RANKED_BY)
    how = ("a logistic head (standardised features, L2, C "
           f"{LOGISTIC_C:g})" if model is None else type(model).__name__)
    protocol = (f"out-of-fold predicted probabilities from {how} by {folds}-fold stratified "
                f"cross-validation (seed {seed}): each example's probabilities come from a "
                "head that never saw it; flagged by cleanlab.filter.find_label_issues "
                f"(filter_by='{FILTER_BY}'), ranked by cleanlab's label-quality score "
                f"('{RANKED_BY}': the out-of-fold probability of the given label, lowest "
                "first)")
    return AuditResult(
        indices=indices, given=classes[codes[indices]],
        suggested=classes[pred_probs[indices].argmax(axis=1)], scores=quality[indices],
        n_samples=len(codes), classes=classes, pred_probs=pred_probs, quality=quality,
        protocol=protocol)


def audit_labels(data: Dataset, backbone: str | None = None, folds: int = 5, seed: int = 0,
                 batch_size: int | None = None, engine: str = "auto", cache: bool = True,
                 progress: bool | None = None) -> AuditResult:
    """Flag the likely mislabelled examples of ``data`` on a frozen backbone's features.

    Parameters
    ----------
    data : Dataset
        Labelled image, text or tabular data (N examples, one class label each).
    backbone : str, optional
        A backbone name (see ``transferkit backbones``); default
        :data:`transferkit.backbones.DEFAULT_BACKBONES` by modality. Tabular features are
        audited as given (no backbone reads them).
    folds, seed
        See :func:`flag_label_issues`.
    batch_size, engine, cache, progress
        Of the feature extraction (:func:`transferkit.features.extract_features`): the
        features are read from the cache when a run has extracted them before.

    Returns
    -------
    AuditResult
        ``indices`` are positions into ``data``; ``backbone`` names the features.

    Raises
    ------
    TransferkitError
        For unusable labels (checked before any feature is extracted), or a backbone of
        another modality.
    """
    if data.y is None:
        raise TransferkitError(f"{data.name} has no labels", "an audit checks given labels: "
                               "pass labelled data")
    check_audit_labels(data.y, folds)  # before the extraction, which can take minutes
    if data.modality == "tabular":
        if backbone is not None:
            raise TransferkitError(f"{data.name} holds tabular features; no backbone reads "
                                   "those", "drop --backbone: the features are audited as "
                                   "given")
        features = data.X
    else:
        backbone = backbone or DEFAULT_BACKBONES.get(data.modality)
        bb = shared_backbone(backbone)
        check_modality(bb, data.modality)
        features = extract_features(bb, data.X, batch_size=batch_size, engine=engine,
                                    cache=cache, progress=progress)
    result = flag_label_issues(features, data.y, folds=folds, seed=seed)
    result.backbone = backbone
    what = f"frozen {backbone} features" if backbone else "the features as given"
    result.protocol = f"{what}; {result.protocol}"
    return result


def input_names(data: Dataset) -> list[str]:
    """What identifies each example of ``data`` in ``flagged.csv``: its file path or text
    when the inputs are strings, else its row number.

    Parameters
    ----------
    data : Dataset
        N examples.

    Returns
    -------
    list of str
        N entries.
    """
    X = data.X
    if not isinstance(X, np.ndarray) or X.dtype.kind in "OUS":
        items = list(X)
        if items and all(isinstance(x, str | os.PathLike) for x in items):
            return [str(x) for x in items]
    return [str(i) for i in range(len(data))]


def flagged_csv(result: AuditResult, inputs: list[str]) -> str:
    """``flagged.csv``: one row per flagged example, lowest label quality first.

    Parameters
    ----------
    result : AuditResult
        The audit.
    inputs : list of str
        :func:`input_names` of the audited data (N entries).

    Returns
    -------
    str
        CSV text with the columns ``index`` (position in the data as loaded), ``input``
        (path, text or row number), ``given_label``, ``suggested_label``, ``score``.
    """
    table = io.StringIO()
    writer = csv.writer(table, lineterminator="\n")
    writer.writerow(["index", "input", "given_label", "suggested_label", "score"])
    for rank, i in enumerate(result.indices):
        writer.writerow([int(i), inputs[i], result.given[rank], result.suggested[rank],
                         f"{result.scores[rank]:.6f}"])
    return table.getvalue()


def audit_document(result: AuditResult, data: Dataset, source: str,
                   limit: int = MAX_EXAMPLES) -> dict[str, Any]:
    """``audit.json``: the results schema (:func:`transferkit.results.results_document`,
    kind ``audit``) with the counts, the protocol and the first flagged examples.

    Parameters
    ----------
    result : AuditResult
        The audit of ``data``.
    data : Dataset
        The audited data (for the examples' thumbnails or texts).
    source : str
        Where the data came from (its path), recorded as ``data``.
    limit : int
        Flagged examples kept in ``examples`` at most (lowest score first).

    Returns
    -------
    dict
        ``{"schema", "schema_version", "kind": "audit", "protocol", "data", "n_samples",
        "n_flagged", "backbone", "folds"..., "classes", "examples": [{"index", "input",
        "given", "suggested", "score", "image" (a PNG data URI, image data) or "text"
        (text data)}]}``.
    """
    inputs = input_names(data)
    examples = []
    for rank, i in enumerate(result.indices[:limit]):
        example: dict[str, Any] = {
            "index": int(i),
            "input": _short(inputs[i], TEXT_CHARS) if data.modality == "text" else inputs[i],
            "given": _plain(result.given[rank]), "suggested": _plain(result.suggested[rank]),
            "score": round(float(result.scores[rank]), 6)}
        if data.modality == "image":
            example["image"] = png_data_uri(take(data.X, np.array([i]))[0], THUMBNAIL_SIDE)
        elif data.modality == "text":
            example["text"] = str(data.X[i])[:TEXT_CHARS]
        examples.append(example)
    counts = {str(c): int(n) for c, n in zip(result.classes, np.bincount(
        np.searchsorted(result.classes, result.given), minlength=len(result.classes)),
        strict=True)}
    return results_document(
        "audit", [], result.protocol, data=str(source), modality=data.modality,
        n_samples=result.n_samples, n_flagged=result.n_flagged,
        backbone=result.backbone or "none (the features as given)",
        classes=[_plain(c) for c in result.classes], flagged_per_given_class=counts,
        examples=examples)


def _plain(value: Any) -> Any:
    """A label as a JSON value (numpy scalars as Python ones)."""
    return value.item() if isinstance(value, np.generic) else value


def read_flagged(path: str | os.PathLike, data: Dataset) -> np.ndarray:
    """The flagged indices of an audit of ``data``, for ``fit --drop-flagged``.

    Parameters
    ----------
    path : str or os.PathLike
        An audit's ``--out`` folder (its ``flagged.csv`` and ``audit.json``), or a
        ``flagged.csv`` itself.
    data : Dataset
        The data as ``fit`` loaded it: it must be the audited data (same size; each
        flagged example's given label is checked against it).

    Returns
    -------
    numpy.ndarray of int, shape (F,)
        Positions into ``data``.

    Raises
    ------
    TransferkitError
        One line when the file is missing or damaged, or was written for other data.
    """
    from ._io import read_json

    path = Path(path)
    table = path / FLAGGED if path.is_dir() else path
    if not table.is_file():
        raise TransferkitError(f"{table} not found", "pass the --out folder of `transferkit "
                               "audit` (it holds flagged.csv)")
    try:
        with open(table, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        indices = np.array([int(r["index"]) for r in rows], dtype=int)
        given = [r["given_label"] for r in rows]
    except (KeyError, ValueError, TypeError, UnicodeDecodeError) as exc:
        raise TransferkitError(f"{table} is not a flagged.csv written by transferkit audit "
                               f"({exc})", "re-run `transferkit audit DATA --out DIR`") from exc
    doc_path = table.parent / AUDIT
    n = read_json(doc_path).get("n_samples") if doc_path.is_file() else None
    other = "re-run `transferkit audit` on the data you fit, and pass its --out folder"
    if n is not None and n != len(data):
        raise TransferkitError(f"{table} flags examples of an audit of {n} examples, but "
                               f"{data.name} has {len(data)}", other)
    if len(indices) and (indices.min() < 0 or indices.max() >= len(data)):
        raise TransferkitError(f"{table} flags index {indices.max()}, beyond the "
                               f"{len(data)} examples of {data.name}", other)
    wrong = [int(i) for i, g in zip(indices, given, strict=True) if str(data.y[i]) != g]
    if wrong:
        raise TransferkitError(f"{len(wrong)} flagged example(s) of {table} (e.g. index "
                               f"{wrong[0]}) have another label in {data.name}", other)
    return indices

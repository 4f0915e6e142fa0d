"""Which source dataset to transfer from: distances between domains and a source-trained head.

Every function takes features that one fixed backbone extracted from each dataset (rows are
samples, the columns must match) and is label-free on the target except
:func:`source_head_score`:

* :func:`mmd` -- squared maximum mean discrepancy with an RBF kernel (lower = closer);
* :func:`proxy_a_distance` -- Ben-David et al.'s proxy A-distance of a linear domain
  classifier (lower = closer);
* :func:`source_head_score` -- target accuracy of a linear classifier trained on the source
  (higher = better), which needs a few labelled target samples;
* :func:`rank_sources` -- all three for every candidate source, with their times and the
  order each one gives.

Distances rank how far the target's features lie from a source's, not how well a model will
do: ``benchmarks/source_ranking.py`` measures how often the top pick is the best source.

Give the distances every dataset's features through **one** transform (the backbone's, and at
most one common scaling). Standardising each dataset on its own removes the mean and scale
shift the distances measure and makes the rows of a domain dependent (they sum to zero):
the unbiased MMD then drifts by a term of order ``-1/n`` per domain, so the smallest source looks
closest, and the domain classifier's cross-validated error rises above chance (a negative
proxy A-distance). :func:`rank_sources` warns (:class:`RankingWarning`) when every dataset it
gets is centred column by column.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from scipy.stats import rankdata
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression

from transferkit.adapt.base import as_features, as_labels, domain_target_probability
from transferkit.adapt.kernels import kernel_matrix, median_gamma
from transferkit.errors import TransferkitError, check, check_int, is_finite_number


class RankingWarning(UserWarning):
    """The input can be ranked, but the ranking is likely misleading."""


#: each score's name and which way is better: distances ``lower``, the head score ``higher``
SCORES: dict[str, str] = {"mmd": "lower", "proxy_a_distance": "lower",
                          "source_head_score": "higher"}


# --------------------------------------------------------------------------- input checks


def check_pair(Xs: Any, Xt: Any, source: str = "source", target: str = "target",
               ) -> tuple[np.ndarray, np.ndarray]:
    """``(Xs (ns, d), Xt (nt, d))`` as finite float64 arrays with the same columns and at
    least 2 rows each; otherwise a :class:`~transferkit.errors.TransferkitError`."""
    Xs = as_features(Xs, f"{source} features")
    Xt = as_features(Xt, f"{target} features")
    check(Xs.shape[1] == Xt.shape[1],
          f"{source} has {Xs.shape[1]} feature columns but {target} has {Xt.shape[1]}",
          "extract every dataset with the same backbone so the columns match")
    for name, X in ((source, Xs), (target, Xt)):
        check(X.shape[0] >= 2, f"{name} has {X.shape[0]} sample(s); a domain needs at least 2",
              "give at least 2 samples per dataset (statistics of one sample are undefined)")
    return Xs, Xt


def _centred(X: np.ndarray) -> bool:
    """Whether every column of ``X (n, d)`` has mean ~0 (as after per-dataset standardising)."""
    return bool(np.abs(X.mean(0)).max() <= 1e-8 * max(float(X.std(0).max()), 1e-300))


def _subsample(X: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """At most ``size`` rows of ``X``, drawn without replacement (all of it when it fits)."""
    if X.shape[0] <= size:
        return X
    return X[np.sort(rng.choice(X.shape[0], size, replace=False))]


# --------------------------------------------------------------------------- distances


def mmd_gamma(*domains: np.ndarray, max_samples: int = 1000, seed: int = 0) -> float:
    """RBF ``gamma`` by the median heuristic (:func:`~transferkit.adapt.kernels.median_gamma`)
    on one pooled sample of ``domains`` (each ``(n_i, d)``): at most ``max_samples`` rows
    drawn uniformly (seeded) from their union, which is never stacked whole."""
    sizes = [X.shape[0] for X in domains]
    total = int(sum(sizes))
    idx = np.sort(np.random.default_rng(seed).choice(total, min(max_samples, total),
                                                     replace=False))
    bounds = np.cumsum([0, *sizes])
    pooled = np.vstack([X[idx[(idx >= lo) & (idx < hi)] - lo]
                        for X, lo, hi in zip(domains, bounds[:-1], bounds[1:], strict=True)])
    return median_gamma(pooled, max_samples, seed)


def mmd(Xs: Any, Xt: Any, gamma: float | None = None, max_samples: int = 2000,
        seed: int = 0) -> float:
    """Squared MMD between source ``Xs (ns, d)`` and target ``Xt (nt, d)``, RBF kernel.

    The **unbiased** estimator (Gretton et al., JMLR 2012, eq. 3)::

        MMD_u^2 = mean_{i != j} k(xs_i, xs_j) + mean_{i != j} k(xt_i, xt_j)
                  - 2 mean_{i, j} k(xs_i, xt_j)

    so it is ~0 (and can be slightly negative) when both samples come from one distribution.
    ``k(x, y) = exp(-gamma ||x - y||^2)``; ``gamma=None`` takes the median heuristic on the
    pooled sample (:func:`mmd_gamma`). A domain with more than ``max_samples`` rows is
    subsampled to ``max_samples`` (seeded by ``seed``) so the cost stays
    ``O(max_samples^2 d)``. The rows must be independent draws: after standardising each
    domain on its own they are not, and the value drifts by a term of order ``-1/n``
    per domain.
    """
    Xs, Xt = check_pair(Xs, Xt)
    check_int("max_samples", max_samples, 2, 2000)
    rng = np.random.default_rng(seed)
    Xs, Xt = _subsample(Xs, max_samples, rng), _subsample(Xt, max_samples, rng)
    if gamma is None:
        gamma = mmd_gamma(Xs, Xt, seed=seed)
    check(is_finite_number(gamma) and gamma > 0, f"gamma must be a finite number > 0, got {gamma}",
          "leave gamma=None for the median heuristic")
    ns, nt = Xs.shape[0], Xt.shape[0]

    def mean_off_diagonal(X: np.ndarray) -> float:
        K = kernel_matrix(X, X, "rbf", gamma)
        return float((K.sum() - np.trace(K)) / (X.shape[0] * (X.shape[0] - 1)))

    cross = float(kernel_matrix(Xs, Xt, "rbf", gamma).sum() / (ns * nt))
    return mean_off_diagonal(Xs) + mean_off_diagonal(Xt) - 2.0 * cross


def proxy_a_distance(Xs: Any, Xt: Any, seed: int = 0, classifier: Any = None,
                     cv: int = 5) -> float:
    """Proxy A-distance ``2 (1 - 2 err)`` (Ben-David et al., NIPS 2006) of ``Xs (ns, d)`` and
    ``Xt (nt, d)``.

    ``err`` is the ``cv``-fold cross-validated error of a linear domain classifier
    (``LogisticRegression(C=1)`` unless ``classifier`` is given) told to separate source from
    target rows, on balanced samples: both domains are subsampled (seeded) to
    ``min(ns, nt)`` rows. 0 means indistinguishable domains, 2 perfectly separable ones; it is
    not clipped, so chance-level errors just above 0.5 give values slightly below 0 (and
    domains standardised each on its own, far below 0: see the module's note).
    """
    Xs, Xt = check_pair(Xs, Xt)
    n = min(Xs.shape[0], Xt.shape[0])
    rng = np.random.default_rng(seed)
    Xs, Xt = _subsample(Xs, n, rng), _subsample(Xt, n, rng)
    clf = LogisticRegression(C=1.0, max_iter=2000) if classifier is None else classifier
    p_s, p_t = domain_target_probability(Xs, Xt, clf, cv=cv, random_state=seed)
    err = 0.5 * (float(np.mean(p_s >= 0.5)) + float(np.mean(p_t < 0.5)))
    return 2.0 * (1.0 - 2.0 * err)


# --------------------------------------------------------------------------- source head


def _missing_classes(ys: np.ndarray, yt: np.ndarray) -> list[Any]:
    return sorted(set(np.unique(yt).tolist()) - set(np.unique(ys).tolist()), key=str)


def source_head_score(Xs: Any, ys: Any, Xt: Any, yt: Any, estimator: Any = None) -> float:
    """Accuracy on labelled target samples ``Xt (nt, d), yt (nt,)`` of a linear classifier
    trained on the source ``Xs (ns, d), ys (ns,)`` only (``LogisticRegression(C=1)`` unless
    ``estimator`` is given).

    Source and target must share one label set: a target class the source lacks is
    **refused** (a :class:`~transferkit.errors.TransferkitError` naming it), since the head
    could never predict it and the score would silently mix "far domain" with "missing
    class". Source classes absent from the target's labelled samples are fine.
    """
    Xs, Xt = check_pair(Xs, Xt)
    ys = as_labels(ys, Xs.shape[0], "source labels")
    yt = as_labels(yt, Xt.shape[0], "target labels")
    check(np.unique(ys).size >= 2, f"the source has {np.unique(ys).size} class; a classifier "
          "needs at least 2", "give source samples of at least two classes")
    missing = _missing_classes(ys, yt)
    if missing:
        shown = ", ".join(map(repr, missing[:5])) + (" ..." if len(missing) > 5 else "")
        raise TransferkitError(
            f"the target has {len(missing)} class(es) the source lacks ({shown}), so a head "
            "trained on the source cannot predict them",
            "rank only sources with the target's label set, or drop those target samples")
    clf = LogisticRegression(C=1.0, max_iter=2000) if estimator is None else clone(estimator)
    return float(np.mean(clf.fit(Xs, ys).predict(Xt) == yt))


# --------------------------------------------------------------------------- ranking


def _timed(fn: Callable[[], float]) -> tuple[float, float]:
    t0 = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - t0


def rank_sources(sources: Mapping[str, tuple[Any, Any]], target_X: Any, target_y: Any = None,
                 *, labelled_rows: Any = None, scores: Sequence[str] = tuple(SCORES),
                 gamma: float | None = None, max_samples: int = 2000, seed: int = 0,
                 ) -> list[dict[str, Any]]:
    """Score every candidate source against one target; one row per source, in input order.

    ``sources``: ``{name: (X (n_i, d), y (n_i,))}``; ``target_X (nt, d)``: all target
    features (unlabelled: the distances use every row); ``target_y``: labels of the rows
    ``labelled_rows`` of ``target_X`` (indices or a boolean mask; default all rows), needed
    only for the head score.

    Each row holds ``source``, ``n_samples`` and, for every score asked for in ``scores``
    (default all of :data:`SCORES`: ``mmd``, ``proxy_a_distance``, ``source_head_score``):
    its value, ``<score>_seconds`` (the time it took), ``<score>_rank`` (1 = best: lowest
    distance, highest head score; ties share the lower rank) and ``<score>_note``. A score
    that cannot be computed is ``None`` with its reason in the note (the head score without
    target labels, or for a source that lacks some of the target's classes or has only one)
    and no rank.

    The MMD of every source uses one RBF bandwidth, the median heuristic on a pooled sample
    of the target and all sources (or ``gamma``), so the distances are on one scale; each is
    computed on at most ``max_samples`` rows per domain.
    """
    scores = [scores] if isinstance(scores, str) else list(scores)
    unknown = [s for s in scores if s not in SCORES]
    check(bool(scores) and not unknown, f"unknown score(s) {unknown or scores!r}",
          f"choose from {', '.join(SCORES)}")
    check(isinstance(sources, Mapping) and len(sources) > 0,
          "sources must be a non-empty mapping {name: (X, y)}",
          "pass e.g. {'webcam': (Xw, yw), 'dslr': (Xd, yd)}")
    Xt = as_features(target_X, "target features")
    data: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name, pair in sources.items():
        check(isinstance(pair, tuple | list) and len(pair) == 2,
              f"source {name!r} must be a pair (X, y)", "pass {name: (features, labels)}")
        Xs, Xt = check_pair(pair[0], Xt, f"source {name!r}", "the target")
        data[str(name)] = (Xs, as_labels(pair[1], Xs.shape[0], f"source {name!r} labels"))
    Xl = yl = None
    if target_y is not None:
        rows = np.arange(Xt.shape[0]) if labelled_rows is None else np.asarray(labelled_rows)
        if rows.dtype == bool:
            check(rows.shape == (Xt.shape[0],), f"the labelled_rows mask has shape "
                  f"{rows.shape} for {Xt.shape[0]} target rows", "give one flag per target row")
            rows = np.nonzero(rows)[0]
        check(rows.ndim == 1 and rows.dtype.kind in "iu" and rows.size > 0
              and rows.min() >= 0 and rows.max() < Xt.shape[0],
              f"labelled_rows must index the {Xt.shape[0]} target rows",
              "pass integer row indices (or a boolean mask) of the labelled target samples")
        Xl, yl = Xt[rows], as_labels(target_y, rows.size, "target labels")
    if _centred(Xt) and all(_centred(X) for X, _ in data.values()):
        warnings.warn(
            "every dataset's features are centred column by column, as if each was "
            "standardised on its own: that hides the shift between domains and biases the "
            "distances by sample size (small sources look closest) -- pass the features as "
            "the backbone gives them, or standardise all datasets with one common transform",
            RankingWarning, stacklevel=2)
    if gamma is None and "mmd" in scores:
        gamma = mmd_gamma(Xt, *(X for X, _ in data.values()), seed=seed)

    rows_out: list[dict[str, Any]] = []
    for name, (Xs, ys) in data.items():
        row: dict[str, Any] = {"source": name, "n_samples": int(Xs.shape[0])}
        for score in scores:
            row[score], row[f"{score}_seconds"], row[f"{score}_note"] = None, 0.0, None
        if "mmd" in scores:
            row["mmd"], row["mmd_seconds"] = _timed(
                lambda Xs=Xs: mmd(Xs, Xt, gamma, max_samples, seed))
        if "proxy_a_distance" in scores:
            row["proxy_a_distance"], row["proxy_a_distance_seconds"] = _timed(
                lambda Xs=Xs: proxy_a_distance(Xs, Xt, seed))
        if "source_head_score" in scores and yl is None:
            row["source_head_score_note"] = "n/a: needs target labels (target_y)"
        elif "source_head_score" in scores:
            try:
                row["source_head_score"], row["source_head_score_seconds"] = _timed(
                    lambda Xs=Xs, ys=ys: source_head_score(Xs, ys, Xl, yl))
            except TransferkitError as exc:  # this source's labels: a missing class, one class
                row["source_head_score_note"] = f"n/a: {exc.problem}"
        rows_out.append(row)

    for score in scores:
        better = SCORES[score]
        have = [r for r in rows_out if r[score] is not None]
        values = np.array([r[score] for r in have], dtype=float)
        ranks = rankdata(values if better == "lower" else -values, method="min")
        for r in rows_out:
            r[f"{score}_rank"] = None
        for r, rank in zip(have, ranks, strict=True):
            r[f"{score}_rank"] = int(rank)
    return rows_out

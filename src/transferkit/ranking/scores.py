"""Transferability scores: how well a candidate model's features (or its source head) fit
a target's labels, computed before any fine-tuning.

Feature-based (any backbone):

* :func:`logme` -- LogME (You et al., ICML 2021): the evidence (marginal likelihood) of a
  Bayesian linear model from the features to each target, its prior and noise precisions
  (alpha, beta) by the paper's fixed-point updates. One SVD of the features serves every
  target and every iteration; classification (one-hot targets) and regression.
* :func:`h_score` -- H-score (Bao et al., ICIP 2019): ``tr(cov(f)^+ cov(E[f|y]))``.
* :func:`shrinkage_h_score` -- the H-score with a Ledoit-Wolf shrunk feature covariance
  (Ibrahim, Ponomareva and Mazumder, "Newer is not always better", 2022): stable when the
  feature dimension is large for the sample size.

Source-head-based (a backbone with :meth:`~transferkit.backbones.Backbone.source_head`):

* :func:`nce` -- NCE (Tran et al., ICCV 2019): ``-H(Y | Z)`` with ``Z`` the source head's
  predicted class.
* :func:`leep` -- LEEP (Nguyen et al., ICML 2020): the log of the expected empirical
  prediction of the target label through the source head's probabilities.

Higher is better for every score. :data:`SCORES` lists them; :func:`score_candidate` runs
each one that applies, timing it, and says why the others are "n/a".
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import TransferkitError
from ..registry import Registry

__all__ = ["SCORES", "ScoreInfo", "h_score", "leep", "logme", "nce", "score_candidate",
           "shrinkage_h_score"]


def _check_features(features: np.ndarray, n: int | None = None) -> np.ndarray:
    F = np.asarray(features, dtype=np.float64)
    if F.ndim != 2 or len(F) < 2:
        raise TransferkitError(f"features must be a 2-D array of at least 2 rows, got shape "
                               f"{F.shape}", "pass features (N, D)")
    if not np.isfinite(F).all():
        raise TransferkitError("the features hold NaN or inf", "check the backbone's outputs")
    if n is not None and len(F) != n:
        raise TransferkitError(f"{len(F)} feature rows for {n} labels",
                               "give one label per row")
    return F


def _class_codes(labels: np.ndarray) -> tuple[np.ndarray, int]:
    """Labels ``(N,)`` as codes 0..K-1 and K (at least 2 classes)."""
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise TransferkitError(f"labels must be 1-D, got shape {labels.shape}",
                               "give one class label per sample")
    classes, codes = np.unique(labels, return_inverse=True)
    if len(classes) < 2:
        raise TransferkitError("the labels hold one class: a transferability score compares "
                               "classes", "score on data with at least two classes")
    return codes, len(classes)


def _spectrum(F: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The squared singular values ``sigma (r,)`` of ``F (N, D)`` and the targets'
    coordinates ``z = U^T Y (r, K)`` on its left singular vectors, from the eigenvectors of
    the smaller Gram matrix (``F^T F`` when N > D, as the LogME paper does, else
    ``F F^T``): one ``min(N, D)``-square eigendecomposition instead of a full SVD. Directions
    with a negligible eigenvalue (rank deficiency) are dropped."""
    if len(F) > F.shape[1]:
        sigma, V = np.linalg.eigh(F.T @ F)
        keep = sigma > sigma.max() * 1e-12
        sigma, V = sigma[keep], V[:, keep]
        z = (V.T @ (F.T @ Y)) / np.sqrt(sigma)[:, None]  # U = F V / s
    else:
        sigma, U = np.linalg.eigh(F @ F.T)
        keep = sigma > sigma.max() * 1e-12
        sigma, U = sigma[keep], U[:, keep]
        z = U.T @ Y
    return sigma, z


def logme(features: np.ndarray, targets: np.ndarray, regression: bool = False,
          max_iter: int = 1000, tol: float = 1e-10) -> float:
    """LogME: the mean per-sample log evidence of a Bayesian linear model (You et al. 2021).

    For each target column ``y`` (one-hot class indicators, or the regression targets):
    ``y = F w + e``, ``w ~ N(0, I / alpha)``, ``e ~ N(0, 1 / beta)``, with ``alpha`` and
    ``beta`` at the fixed point of ``gamma = sum_i beta s_i^2 / (alpha + beta s_i^2)``,
    ``alpha = gamma / |m|^2``, ``beta = (N - gamma) / |F m - y|^2``, where ``m`` is the
    posterior mean of ``w`` and ``s_i`` the singular values of ``F``. The log evidence

    ``N/2 log beta + D/2 log alpha - N/2 log 2 pi - beta/2 |F m - y|^2 - alpha/2 |m|^2
    - 1/2 log det(alpha I + beta F^T F)``

    is divided by ``N`` and averaged over the target columns. Everything after the one SVD
    works on the ``min(N, D)`` singular values and the projections ``U^T y``, for all
    targets at once (the singular values come from the smaller Gram matrix's
    eigendecomposition: :func:`_spectrum`).

    Parameters
    ----------
    features : array-like, shape (N, D)
    targets : array-like, shape (N,) or (N, K)
        Class labels (``regression=False``) or numbers.
    regression : bool
        Whether ``targets`` are numbers (each column one target) rather than classes.
    max_iter, tol : int, float
        The fixed-point iteration stops when alpha and beta change by less than ``tol``
        (relative) or after ``max_iter`` updates.

    Returns
    -------
    float
        The mean per-sample log evidence (higher: the features fit the targets better).
    """
    F = _check_features(features)
    if regression:
        Y = np.asarray(targets, dtype=np.float64)
        Y = Y[:, None] if Y.ndim == 1 else Y
        if Y.ndim != 2 or len(Y) != len(F) or not np.isfinite(Y).all():
            raise TransferkitError("regression targets must be finite numbers, one row per "
                                   "feature row", "check the target column")
    else:
        codes, k = _class_codes(targets)
        _check_features(F, len(codes))
        Y = np.eye(k)[codes]
    n, d = F.shape
    sigma, z = _spectrum(F, Y)
    outside = (Y**2).sum(0) - (z**2).sum(0)  # |y|^2 outside that space, per target
    outside = np.maximum(outside, 0.0)
    z2 = z**2
    alpha = np.ones(Y.shape[1])
    beta = np.ones(Y.shape[1])
    for _ in range(max_iter):
        denom = alpha[None] + beta[None] * sigma[:, None]  # (r, K)
        gamma = (beta[None] * sigma[:, None] / denom).sum(0)
        m2 = (beta[None] ** 2 * sigma[:, None] * z2 / denom**2).sum(0)  # |m|^2
        res2 = ((alpha[None] * z / denom) ** 2).sum(0) + outside  # |F m - y|^2
        new_alpha = gamma / np.maximum(m2, 1e-300)
        new_beta = (n - gamma) / np.maximum(res2, 1e-300)
        done = (np.abs(new_alpha - alpha) <= tol * np.abs(new_alpha)).all() and (
            np.abs(new_beta - beta) <= tol * np.abs(new_beta)).all()
        alpha, beta = new_alpha, new_beta
        if done:
            break
    denom = alpha[None] + beta[None] * sigma[:, None]
    m2 = (beta[None] ** 2 * sigma[:, None] * z2 / denom**2).sum(0)
    res2 = ((alpha[None] * z / denom) ** 2).sum(0) + outside
    logdet = np.log(denom).sum(0) + (d - len(sigma)) * np.log(alpha)
    evidence = (n / 2 * np.log(beta) + d / 2 * np.log(alpha) - n / 2 * np.log(2 * np.pi)
                - beta / 2 * res2 - alpha / 2 * m2 - logdet / 2)
    return float(np.mean(evidence / n))


def _between_class(F: np.ndarray, codes: np.ndarray, k: int) -> np.ndarray:
    """``W (K, D)`` with ``W^T W`` the covariance of ``E[f | y]`` over the samples (each row
    replaced by its class mean), of centred features: the class means weighted by the
    square roots of the class shares."""
    means = np.zeros((k, F.shape[1]))
    np.add.at(means, codes, F)
    counts = np.bincount(codes, minlength=k)
    means /= counts[:, None]
    return means * np.sqrt(counts / len(F))[:, None]


def _centred_between(features: np.ndarray, labels: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Checked, centred features ``(N, D)`` and their :func:`_between_class` ``W (K, D)``."""
    codes, k = _class_codes(labels)
    F = _check_features(features, len(codes))
    F = F - F.mean(0)
    return F, _between_class(F, codes, k)


def h_score(features: np.ndarray, labels: np.ndarray) -> float:
    """H-score (Bao et al. 2019): ``tr(cov(f)^+ cov(E[f | y]))``.

    Parameters
    ----------
    features : array-like, shape (N, D)
    labels : array-like, shape (N,)

    Returns
    -------
    float
        At most ``K - 1`` for ``K`` classes; higher: classes better separated.
    """
    F, W = _centred_between(features, labels)
    # tr(C^+ W^T W) = |Lambda^+1/2 Q^T W^T|^2 with C = Q Lambda Q^T (a pseudo-inverse as
    # numpy's pinv with rcond 1e-15)
    lam, Q = np.linalg.eigh(F.T @ F / len(F))
    keep = lam > max(lam.max(), 0.0) * 1e-15
    proj = Q[:, keep].T @ W.T
    return float(((proj**2) / lam[keep][:, None]).sum())


def shrinkage_h_score(features: np.ndarray, labels: np.ndarray) -> float:
    """The H-score with a Ledoit-Wolf shrunk covariance (Ibrahim et al. 2022):
    ``tr(S^-1 (1 - a) cov(E[f | y]))``, ``S = (1 - a) cov(f) + a mu I`` the Ledoit-Wolf
    estimate and ``a`` its shrinkage.

    Parameters
    ----------
    features : array-like, shape (N, D)
    labels : array-like, shape (N,)

    Returns
    -------
    float
    """
    from sklearn.covariance import ledoit_wolf

    F, W = _centred_between(features, labels)  # tr(S^-1 W^T W) = tr(W S^-1 W^T)
    shrunk, shrinkage = ledoit_wolf(F, assume_centered=True)
    return float((1.0 - shrinkage) * np.sum(W.T * np.linalg.solve(shrunk, W.T)))


def _source_classes(source: np.ndarray, n: int) -> np.ndarray:
    """Source predictions as hard codes ``(N,)`` (probabilities ``(N, C)`` -> argmax)."""
    source = np.asarray(source)
    if source.ndim == 2:
        source = source.argmax(1)
    if source.ndim != 1 or len(source) != n:
        raise TransferkitError(f"source predictions of shape {source.shape} for {n} labels",
                               "give one source prediction (or probability row) per sample")
    return np.unique(source, return_inverse=True)[1]


def nce(source_predictions: np.ndarray, labels: np.ndarray) -> float:
    """NCE (Tran et al. 2019): the negative conditional entropy ``-H(Y | Z)`` of the target
    labels ``Y`` given the source head's predicted classes ``Z``.

    Parameters
    ----------
    source_predictions : array-like, shape (N,) or (N, C_source)
        Source classes, or source probabilities (their argmax is taken).
    labels : array-like, shape (N,)

    Returns
    -------
    float
        At most 0 (the source classes determine the target's).
    """
    codes, k = _class_codes(labels)
    z = _source_classes(source_predictions, len(codes))
    joint = np.zeros((z.max() + 1, k))
    np.add.at(joint, (z, codes), 1.0)
    joint /= len(codes)
    p_z = joint.sum(1, keepdims=True)
    nz = joint > 0
    return float((joint[nz] * np.log((joint / p_z)[nz])).sum())


def leep(source_probabilities: np.ndarray, labels: np.ndarray) -> float:
    """LEEP (Nguyen et al. 2020): ``mean_i log sum_z P(y_i | z) theta(x_i)_z``, with the
    empirical conditional ``P(y | z)`` of the target labels given the source classes,
    weighted by the source head's probabilities ``theta``.

    Parameters
    ----------
    source_probabilities : array-like, shape (N, C_source)
        The source head's softmax outputs.
    labels : array-like, shape (N,)

    Returns
    -------
    float
        At most 0; higher: the source head's outputs predict the target labels better.
    """
    codes, k = _class_codes(labels)
    theta = np.asarray(source_probabilities, dtype=np.float64)
    if theta.ndim != 2 or len(theta) != len(codes) or not np.isfinite(theta).all():
        raise TransferkitError(f"source probabilities of shape {theta.shape} for "
                               f"{len(codes)} labels", "give one probability row per sample")
    joint = np.zeros((k, theta.shape[1]))
    np.add.at(joint, codes, theta)
    joint /= len(codes)  # P(y, z)
    conditional = joint / np.maximum(joint.sum(0, keepdims=True), 1e-300)  # P(y | z)
    expected = (theta * conditional[codes]).sum(1)
    return float(np.mean(np.log(np.maximum(expected, 1e-300))))


@dataclass(frozen=True)
class ScoreInfo:
    """A registered score.

    Attributes
    ----------
    name : str
    function : callable
        ``function(inputs, labels) -> float``.
    needs : str
        ``"features"`` or ``"source_probabilities"`` (what ``inputs`` is).
    regression : bool
        Whether it also scores numeric targets.
    """

    name: str
    function: Callable[..., float]
    needs: str
    regression: bool = False


#: every score, in the order tables show them
SCORES: Registry[ScoreInfo] = Registry("score")
for _info in (ScoreInfo("logme", logme, "features", regression=True),
              ScoreInfo("h_score", h_score, "features"),
              ScoreInfo("shrinkage_h_score", shrinkage_h_score, "features"),
              ScoreInfo("nce", nce, "source_probabilities"),
              ScoreInfo("leep", leep, "source_probabilities")):
    SCORES.register(_info.name)(_info)


def score_candidate(features: np.ndarray, labels: np.ndarray,
                    source_probabilities: np.ndarray | None = None,
                    regression: bool = False
                    ) -> dict[str, tuple[float | None, str | None, float]]:
    """Every score of :data:`SCORES` that applies, each timed.

    Parameters
    ----------
    features : array-like, shape (N, D)
    labels : array-like, shape (N,)
        Classes, or numbers with ``regression``.
    source_probabilities : array-like, shape (N, C_source), or None
        The candidate's source head outputs; None: the source-head scores are "n/a".
    regression : bool

    Returns
    -------
    dict of str to tuple
        Score name -> ``(value or None, why it is n/a or None, seconds)``.
    """
    out: dict[str, tuple[float | None, str | None, float]] = {}
    for name, info in SCORES.items():
        if regression and not info.regression:
            out[name] = (None, f"{name} scores class labels, not numbers", 0.0)
            continue
        if info.needs == "source_probabilities" and source_probabilities is None:
            out[name] = (None, f"{name} needs a source classifier, which this candidate does "
                         "not carry (a pretrain run or efficientnet_lite0 does)", 0.0)
            continue
        inputs = features if info.needs == "features" else source_probabilities
        t0 = time.perf_counter()
        if info.regression:
            value = info.function(inputs, labels, regression=regression)
        else:
            value = info.function(inputs, labels)
        out[name] = (value, None, time.perf_counter() - t0)
    return out

"""Shared helpers for the transferkit.adapt tests: real data (skipped when absent), toy data."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
from conftest import shared_path
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression

from transferkit.adapt import datasets


def data_root() -> Path:
    """``../shared/data``, or skip the calling test when it is absent."""
    return shared_path("published").parent


@cache
def surf(domain: str) -> tuple[np.ndarray, np.ndarray]:
    shared_path("office_caltech10_surf_gfk_original")
    return datasets.load_surf(data_root(), domain)


@cache
def digits(source: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    shared_path("mnist_usps_jda")
    return datasets.load_mnist_usps(data_root(), source)


@cache
def amazon(domain: str) -> tuple[np.ndarray, np.ndarray]:
    shared_path("amazon_review_400")
    return datasets.load_amazon(data_root(), domain)


def surf_task(task: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``Xs, ys, Xt, yt`` of a SURF task such as ``'DW'``."""
    return (*surf(task[0]), *surf(task[1]))


@cache
def covariate_shift_digits(seed: int = 0, n_dims: int = 10, slope: float = 2.0):
    """Covariate shift built from real digits: a biased subsample of MNIST (JDA release).

    The 2000 digits are reduced to ``n_dims`` PCA dimensions; a sample joins the source with
    probability ``sigmoid(slope * z)`` (``z``: standardised first principal component), the
    rest form the target. ``p(y | x)`` is unchanged, only ``p(x)`` differs.
    """
    X, y, _, _ = digits("MNIST")
    Z = PCA(n_dims, random_state=0).fit_transform(X)
    z = (Z[:, 0] - Z[:, 0].mean()) / Z[:, 0].std()
    chosen = np.random.default_rng(seed).random(len(z)) < 1.0 / (1.0 + np.exp(-slope * z))
    return Z[chosen], y[chosen], Z[~chosen], y[~chosen]


def toy_shift(n_source: int = 200, n_target: int = 150, n_features: int = 5, seed: int = 0,
              shift: float = 1.5):
    """Two gaussian classes 3 apart along feature 0; the target is shifted by ``shift`` along
    every other feature, so the shift is orthogonal to the class direction."""
    rng = np.random.default_rng(seed)

    def draw(n: int, offset: float) -> tuple[np.ndarray, np.ndarray]:
        y = rng.integers(0, 2, size=n)
        X = rng.normal(size=(n, n_features))
        X[:, 0] += 3.0 * y
        X[:, 1:] += offset
        return X, y

    Xs, ys = draw(n_source, 0.0)
    Xt, yt = draw(n_target, shift)
    return Xs, ys, Xt, yt


class SpyClassifier(ClassifierMixin, BaseEstimator):
    """Predicts the majority class; records every ``sample_weight`` it is fitted with.

    ``clone`` makes fresh instances, so the record lives on the class: ``SpyClassifier.calls``.
    """

    calls: list[np.ndarray | None] = []

    def fit(self, X, y, sample_weight=None) -> SpyClassifier:
        SpyClassifier.calls.append(None if sample_weight is None else np.array(sample_weight))
        self.classes_, counts = np.unique(y, return_counts=True)
        self.majority_ = self.classes_[np.argmax(counts)]
        return self

    def predict(self, X):
        return np.full(len(X), self.majority_)


def related_tasks(n_source: int = 2000, n_target: int = 400, n_features: int = 10,
                  n_classes: int = 3, angle: float = 0.6, seed: int = 0):
    """Two related labelling rules on the same inputs: ``y = argmax(x @ M)`` with the target's
    ``M`` the source's rotated by ``angle`` radians in the plane of features 0 and 1 (a
    concept shift, for the methods that get a few labelled target samples)."""
    rng = np.random.default_rng(seed)
    M = rng.normal(size=(n_features, n_classes))
    c, s = np.cos(angle), np.sin(angle)
    R = np.eye(n_features)
    R[:2, :2] = [[c, -s], [s, c]]
    Xs, Xt = rng.normal(size=(n_source, n_features)), rng.normal(size=(n_target, n_features))
    return Xs, np.argmax(Xs @ M, 1), Xt, np.argmax(Xt @ (R @ M), 1)


def few_labels(y: np.ndarray, per_class: int, seed: int = 0) -> np.ndarray:
    """Boolean mask ``(n,)`` of ``per_class`` random samples of each class of ``y``."""
    rng = np.random.default_rng(seed)
    mask = np.zeros(len(y), dtype=bool)
    for c in np.unique(y):
        mask[rng.choice(np.nonzero(y == c)[0], per_class, replace=False)] = True
    return mask


def few_label_baselines(Xs, ys, Xl, yl, Xu, yu) -> dict[str, float]:
    """Accuracy on ``Xu`` of logistic regression trained on the source alone, on the labelled
    target samples ``Xl`` alone, and on both pooled."""
    lr = LogisticRegression(max_iter=1000)
    return {"source only": lr.fit(Xs, ys).score(Xu, yu),
            "target only": lr.fit(Xl, yl).score(Xu, yu),
            "pooled": lr.fit(np.vstack([Xs, Xl]), np.r_[ys, yl]).score(Xu, yu)}

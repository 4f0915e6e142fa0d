"""Kernels and their scalable approximations."""

from __future__ import annotations

import numpy as np
import pytest

from transferkit.adapt.kernels import (
    KernelFeatures,
    kernel_matrix,
    median_gamma,
    source_target_gram,
)
from transferkit.errors import TransferkitError


def blobs(n: int, d: int = 6, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)) + rng.integers(0, 3, size=(n, 1))


def test_rbf_kernel_matches_its_definition():
    X, Y = blobs(7), blobs(5, seed=1)
    K = kernel_matrix(X, Y, "rbf", 0.3)
    i, j = 3, 4
    assert K[i, j] == pytest.approx(np.exp(-0.3 * np.sum((X[i] - Y[j]) ** 2)))


@pytest.mark.parametrize("approx, tol", [("nystroem", 0.02), ("rff", 0.08)])
def test_approximate_features_reproduce_the_kernel(approx, tol):
    X = blobs(1500)
    fmap = KernelFeatures("rbf", approx=approx, n_components=400).fit(X)
    F = fmap.transform(X[:300])
    exact = kernel_matrix(X[:300], X[:300], "rbf", fmap.gamma_)
    assert np.abs(F @ F.T - exact).mean() < tol


def test_auto_switches_to_nystroem_above_max_exact():
    X = blobs(600)
    assert KernelFeatures("rbf", max_exact=1000).fit(X).mode_ == "exact"
    small = KernelFeatures("rbf", max_exact=500, n_components=50).fit(X)
    assert small.mode_ == "nystroem" and small.transform(X).shape == (600, 50)


def test_source_target_gram_low_rank_matches_exact():
    Xs, Xt = blobs(400), blobs(300, seed=2) + 0.5
    g = median_gamma(np.vstack([Xs, Xt]))
    dense, k_dense, mode = source_target_gram(Xs, Xt, gamma=g)
    low, k_low, low_mode = source_target_gram(Xs, Xt, gamma=g, max_exact=100, n_components=300)
    assert (mode, low_mode) == ("exact", "nystroem") and low.dense is None
    v = np.random.default_rng(0).normal(size=400)
    rel = np.linalg.norm(low.matvec(v) - dense.matvec(v)) / np.linalg.norm(dense.matvec(v))
    assert rel < 0.05
    np.testing.assert_allclose(k_low, k_dense, atol=0.02)
    assert low.max_eigenvalue() == pytest.approx(dense.max_eigenvalue(), rel=0.05)


def test_median_heuristic_refuses_identical_samples():
    with pytest.raises(TransferkitError, match="identical"):
        median_gamma(np.ones((10, 3)))

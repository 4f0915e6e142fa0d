"""MEDA: manifold embedded distribution alignment (Wang et al., ACM MM 2018)."""

from __future__ import annotations

import numpy as np
import pytest
from adapt_testdata import data_root, surf_task, toy_shift
from scipy import sparse

from transferkit.adapt import MEDA
from transferkit.adapt.datasets import published_benchmark
from transferkit.adapt.feature.meda import knn_laplacian, proxy_a_distance
from transferkit.adapt.feature.tca import l2_normalise_rows, mmd_vectors
from transferkit.adapt.kernels import kernel_matrix
from transferkit.errors import TransferkitError


def test_primal_solution_equals_the_reference_dual_system():
    """One round with fixed mu: ``f = K beta``, ``((E + lam M + rho L) K + eta I) beta = E Y``."""
    Xs, ys, Xt, _ = toy_shift(n_source=80, n_target=60, n_features=6)
    model = MEDA(n_components=3, n_iter=1, mu=0.4).fit(Xs, ys, Xt)
    U = l2_normalise_rows(np.vstack([model.transform(Xs, "source"), model.transform(Xt)]))
    ns, n = len(Xs), len(U)
    K = kernel_matrix(U, U, "rbf", 0.5)
    from sklearn.neighbors import KNeighborsClassifier

    pseudo = KNeighborsClassifier(1).fit(U[:ns], ys).predict(U[ns:])
    rows = mmd_vectors(ns, len(Xt), ys, pseudo, 0.4)
    M = rows.T @ rows
    L = knn_laplacian(U, 10).toarray()
    E = np.diag(np.r_[np.ones(ns), np.zeros(len(Xt))])
    Y = np.vstack([np.eye(2)[ys], np.zeros((len(Xt), 2))])
    beta = np.linalg.solve((E + 10 * M + 1.0 * L) @ K + 0.1 * np.eye(n), E @ Y)
    F = K @ beta
    np.testing.assert_allclose(model.decision_function(Xt), F[ns:], atol=1e-6)
    np.testing.assert_array_equal(model.predict(Xt), model.target_pseudo_labels_)


def test_laplacian_is_symmetric_psd_with_the_degree_vector_in_its_null_space():
    Z = l2_normalise_rows(np.random.default_rng(0).normal(size=(200, 5)))
    L = knn_laplacian(Z, 10)
    assert sparse.issparse(L) and L.nnz <= 200 * 22
    dense = L.toarray()
    np.testing.assert_allclose(dense, dense.T)
    eig = np.linalg.eigvalsh(dense)
    assert abs(eig[0]) < 1e-9 and eig[-1] < 2 + 1e-9  # normalised Laplacian spectrum in [0, 2]


def test_a_distance_is_small_for_one_distribution_and_two_for_separated_ones():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(300, 5)), rng.normal(size=(300, 5))
    assert proxy_a_distance(a, b) < 0.5
    assert proxy_a_distance(a, b + 10.0) == pytest.approx(2.0)
    assert proxy_a_distance(a, b[:0]) == 2.0


def test_mu_fixed_or_estimated():
    Xs, ys, Xt, _ = toy_shift()
    assert MEDA(n_components=2, n_iter=3, mu=0.25).fit(Xs, ys, Xt).mu_history_ == [0.25] * 3
    mus = MEDA(n_components=2, n_iter=3).fit(Xs, ys, Xt).mu_history_
    assert len(mus) == 3 and all(0 <= m <= 1 for m in mus)


def test_large_data_uses_landmarks_not_the_n_by_n_kernel():
    Xs, ys, Xt, yt = toy_shift(n_source=400, n_target=300)
    model = MEDA(n_components=2, n_iter=2, max_exact=200, n_landmarks=50).fit(Xs, ys, Xt)
    assert model.estimator_.coef.shape[0] <= 50
    assert model.score(Xt, yt) > 0.8


@pytest.mark.parametrize("params", [{"mu": 2.0}, {"mu": "fast"}, {"ridge": 0.0}, {"n_iter": 0},
                                    {"kernel": "poly"}])
def test_bad_parameters_are_one_line_errors(params):
    Xs, ys, Xt, _ = toy_shift()
    with pytest.raises(TransferkitError) as exc:
        MEDA(n_components=2, **params).fit(Xs, ys, Xt)
    assert "\n" not in str(exc.value)


# small tasks (fast); the paper's defaults fixed in advance: d=20, lambda=10, rho=1, eta=0.1
@pytest.mark.parametrize("task", ["DW", "WD", "CD"])
def test_reproduces_the_published_surf_numbers(task):
    pub = published_benchmark(data_root())["MEDA"][task]
    Xs, ys, Xt, yt = surf_task(task)
    assert 100 * MEDA().fit(Xs, ys, Xt).score(Xt, yt) == pytest.approx(pub, abs=0.1)

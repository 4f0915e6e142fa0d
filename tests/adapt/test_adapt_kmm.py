"""KMM, kernel mean matching (Huang et al., NIPS 2006)."""

from __future__ import annotations

import numpy as np
import pytest
from adapt_testdata import covariate_shift_digits, toy_shift
from scipy.optimize import minimize
from sklearn.linear_model import LogisticRegression

from transferkit.adapt import KMM
from transferkit.adapt.instance.kmm import project_box_sum, solve_kmm_qp
from transferkit.adapt.kernels import GramOperator, kernel_matrix


def test_projection_lands_in_the_feasible_set_and_is_closest():
    rng = np.random.default_rng(0)
    v = rng.normal(2.0, 3.0, size=50)
    b = project_box_sum(v, upper=4.0, lo=40.0, hi=60.0)
    assert b.min() >= 0 and b.max() <= 4.0 and 40.0 - 1e-6 <= b.sum() <= 60.0 + 1e-6
    for _ in range(20):  # no random feasible point is closer to v
        other = project_box_sum(v + rng.normal(size=50), 4.0, 40.0, 60.0)
        assert np.linalg.norm(v - b) <= np.linalg.norm(v - other) + 1e-9


def test_qp_solver_matches_a_generic_solver():
    rng = np.random.default_rng(1)
    Xs, Xt = rng.normal(size=(40, 2)), rng.normal(0.7, 1.0, size=(30, 2))
    K = kernel_matrix(Xs, Xs, "rbf", 0.5)
    kappa = 40 / 30 * kernel_matrix(Xs, Xt, "rbf", 0.5).sum(1)
    lo, hi, upper = 40 * 0.9, 40 * 1.1, 5.0
    beta, _ = solve_kmm_qp(GramOperator(dense=K), kappa, upper, lo, hi, max_iter=5000,
                           tol=1e-10)
    ref = minimize(lambda b: 0.5 * b @ K @ b - kappa @ b, np.ones(40),
                   jac=lambda b: K @ b - kappa, bounds=[(0, upper)] * 40, method="SLSQP",
                   constraints=[{"type": "ineq", "fun": lambda b: b.sum() - lo},
                                {"type": "ineq", "fun": lambda b: hi - b.sum()}],
                   options={"maxiter": 500, "ftol": 1e-12})
    ours, theirs = 0.5 * beta @ K @ beta - kappa @ beta, ref.fun
    assert ours <= theirs + 1e-4 * abs(theirs)


def test_weights_respect_the_constraints_and_favour_target_like_samples():
    Xs, ys, Xt, _ = toy_shift(n_features=3, shift=1.0)
    model = KMM(B=5.0, eps=0.05).fit(Xs, ys, Xt)
    w = model.weights_
    assert w.min() >= 0 and w.max() <= 5.0 + 1e-9
    assert abs(w.sum() - len(Xs)) <= 0.05 * len(Xs) + 1e-6
    toward_target = Xs[:, 1:].sum(1)  # the target lies at +1 in features 1..2
    assert np.corrcoef(w, toward_target)[0, 1] > 0.5


def test_low_rank_path_agrees_with_the_exact_one():
    Xs, ys, Xt, _ = toy_shift(n_source=900, n_target=700, n_features=3, shift=1.0)
    exact = KMM(B=10.0).fit(Xs, ys, Xt)
    approx = KMM(B=10.0, max_exact=1000, n_landmarks=200).fit(Xs, ys, Xt)
    assert (exact.kernel_mode_, approx.kernel_mode_) == ("exact", "nystroem")
    assert np.corrcoef(exact.weights_, approx.weights_)[0, 1] > 0.9


@pytest.mark.parametrize("seed", [0, 1])
def test_weights_help_under_real_covariate_shift(seed):
    Xs, ys, Xt, yt = covariate_shift_digits(seed)
    clf = LogisticRegression(max_iter=3000)
    plain = clf.fit(Xs, ys).score(Xt, yt)
    assert KMM(clf).fit(Xs, ys, Xt).score(Xt, yt) > plain + 0.05

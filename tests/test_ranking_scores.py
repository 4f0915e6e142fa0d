"""Transferability scores: LogME against a direct implementation of the paper's fixed-point
updates (random data and real features), the H-scores, NCE and LEEP on cases whose answer
is known, and bad input."""

import numpy as np
import pytest
from conftest import SHARED_DATA as SHARED
from sklearn.datasets import load_digits

from transferkit.errors import TransferkitError
from transferkit.ranking.scores import (
    SCORES,
    h_score,
    leep,
    logme,
    nce,
    score_candidate,
    shrinkage_h_score,
)


def logme_direct(F, Y):
    """The paper's Algorithm 1, slowly: per target column, explicit (D, D) matrices, a
    linear solve per update, the log-determinant from slogdet."""
    n, d = F.shape
    FtF = F.T @ F
    eig = np.linalg.eigvalsh(FtF).clip(min=0)
    evidences = []
    for y in Y.T:
        alpha, beta = 1.0, 1.0
        for _ in range(1000):
            A = alpha * np.eye(d) + beta * FtF
            m = beta * np.linalg.solve(A, F.T @ y)
            gamma = float(np.sum(beta * eig / (alpha + beta * eig)))
            new_alpha = gamma / float(m @ m)
            new_beta = (n - gamma) / float(np.sum((F @ m - y) ** 2))
            converged = (abs(new_alpha - alpha) <= 1e-10 * abs(new_alpha)
                         and abs(new_beta - beta) <= 1e-10 * abs(new_beta))
            alpha, beta = new_alpha, new_beta
            if converged:
                break
        A = alpha * np.eye(d) + beta * FtF
        m = beta * np.linalg.solve(A, F.T @ y)
        evidence = (n / 2 * np.log(beta) + d / 2 * np.log(alpha) - n / 2 * np.log(2 * np.pi)
                    - beta / 2 * np.sum((F @ m - y) ** 2) - alpha / 2 * m @ m
                    - np.linalg.slogdet(A)[1] / 2)
        evidences.append(evidence / n)
    return float(np.mean(evidences))


def one_hot(y):
    return np.eye(len(np.unique(y)))[np.unique(y, return_inverse=True)[1]]


@pytest.mark.parametrize("n, d", [(200, 20), (30, 60)])
def test_logme_equals_the_direct_fixed_point(n, d):
    rng = np.random.default_rng(n)
    y = rng.integers(0, 4, n)
    F = rng.normal(size=(n, d)) + 0.8 * one_hot(y) @ rng.normal(size=(4, d))
    assert logme(F, y) == pytest.approx(logme_direct(F, one_hot(y)), abs=1e-6)


def test_logme_regression_equals_the_direct_fixed_point():
    rng = np.random.default_rng(3)
    F = rng.normal(size=(150, 12))
    Y = F @ rng.normal(size=(12, 2)) + 0.5 * rng.normal(size=(150, 2))
    assert logme(F, Y, regression=True) == pytest.approx(logme_direct(F, Y), abs=1e-6)
    assert logme(F, Y[:, 0], regression=True) == pytest.approx(logme_direct(F, Y[:, :1]),
                                                               abs=1e-6)


def test_logme_on_real_features():
    digits = load_digits()
    F, y = digits.data[:600] / 16.0, digits.target[:600]
    assert logme(F, y) == pytest.approx(logme_direct(F, one_hot(y)), abs=1e-6)


def test_logme_on_office_caltech_surf():
    path = SHARED / "office_caltech10_surf_zscore" / "webcam_zscore_SURF_L10.mat"
    if not path.is_file():
        pytest.skip(f"{path} is absent (../shared/data)")
    from scipy.io import loadmat

    mat = loadmat(path)
    F, y = mat["Xt"][:, :200], mat["Yt"].ravel()
    assert logme(F, y) == pytest.approx(logme_direct(F, one_hot(y)), abs=1e-6)


def test_informative_features_score_higher_than_noise():
    digits = load_digits()
    F, y = digits.data / 16.0, digits.target
    noise = np.random.default_rng(0).normal(size=F.shape)
    for score in (logme, h_score, shrinkage_h_score):
        assert score(F, y) > score(noise, y), score.__name__


def test_h_score_of_a_hand_checkable_case():
    # one feature, two classes at -1 and +1, no spread inside a class: cov(f) = 1 and the
    # class means carry all of it, so tr(cov^-1 cov(E[f|y])) = 1
    F = np.array([[-1.0], [-1.0], [1.0], [1.0]])
    y = np.array([0, 0, 1, 1])
    assert h_score(F, y) == pytest.approx(1.0)
    # spread inside the classes halves it: f = -1.5, -0.5, 0.5, 1.5 -> var 1.25, between 1
    F2 = np.array([[-1.5], [-0.5], [0.5], [1.5]])
    assert h_score(F2, y) == pytest.approx(1.0 / 1.25)


def test_nce_and_leep_prefer_a_source_that_maps_onto_the_target():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 5, 500)
    mapped = np.eye(8)[(y + 3) % 8] * 0.9 + 0.1 / 8  # a source class per target class
    random = rng.dirichlet(np.ones(8), size=500)
    assert nce(mapped, y) == pytest.approx(0.0, abs=1e-12)  # Z determines Y
    assert nce(mapped, y) > nce(random, y)
    assert leep(mapped, y) > leep(random, y)
    assert leep(mapped, y) <= 0 and nce(random, y) <= 0


def test_score_candidate_times_each_and_says_why_n_a():
    digits = load_digits()
    F, y = digits.data[:300] / 16.0, digits.target[:300]
    out = score_candidate(F, y)
    assert set(out) == {name for name, _ in SCORES.items()}
    assert out["logme"][0] is not None and out["logme"][2] >= 0
    assert out["leep"][0] is None and "source classifier" in out["leep"][1]
    reg = score_candidate(F, y.astype(float), regression=True)
    assert reg["logme"][0] is not None and reg["h_score"][0] is None


@pytest.mark.parametrize("call, message", [
    (lambda: logme(np.ones(5), [0, 1, 0, 1, 0]), "2-D"),
    (lambda: logme(np.full((4, 2), np.nan), [0, 1, 0, 1]), "NaN"),
    (lambda: h_score(np.ones((4, 2)), [0, 0, 0, 0]), "one class"),
    (lambda: leep(np.ones((3, 2)) / 2, [0, 1, 0, 1]), "source probabilities"),
    (lambda: logme(np.ones((4, 2)), [0, 1, 0]), "feature rows"),
])
def test_bad_input_is_one_line(call, message):
    with pytest.raises(TransferkitError, match=message):
        call()

"""KLIEP (Sugiyama et al., NIPS 2007)."""

from __future__ import annotations

import numpy as np
import pytest
from adapt_testdata import covariate_shift_digits
from scipy.stats import multivariate_normal, spearmanr
from sklearn.linear_model import LogisticRegression

from transferkit.adapt import KLIEP


def gaussian_pair(seed: int = 0):
    rng = np.random.default_rng(seed)
    Xs = rng.normal(0.0, 1.0, size=(500, 2))
    Xt = rng.normal(0.8, 0.6, size=(400, 2))
    ratio = (multivariate_normal([0.8, 0.8], 0.36 * np.eye(2)).pdf(Xs)
             / multivariate_normal([0, 0], np.eye(2)).pdf(Xs))
    return Xs, (Xs[:, 0] > 0).astype(int), Xt, ratio


def test_importance_tracks_the_true_density_ratio():
    Xs, ys, Xt, ratio = gaussian_pair()
    model = KLIEP().fit(Xs, ys, Xt)
    assert spearmanr(model.weights_, ratio).statistic > 0.9
    assert model.weights_.mean() == pytest.approx(1.0, abs=0.05)  # the KLIEP constraint
    np.testing.assert_allclose(model.importance(Xs), model.weights_)


def test_likelihood_cross_validation_chooses_from_the_grid():
    Xs, ys, Xt, _ = gaussian_pair(1)
    model = KLIEP(cv=3).fit(Xs, ys, Xt)
    assert len(model.lcv_scores_) == 5 and np.isfinite(model.lcv_scores_).all()
    fixed = KLIEP(gamma=model.gamma_).fit(Xs, ys, Xt)
    np.testing.assert_allclose(fixed.weights_, model.weights_)


@pytest.mark.parametrize("seed", [0, 1])
def test_weights_help_under_real_covariate_shift(seed):
    Xs, ys, Xt, yt = covariate_shift_digits(seed)
    clf = LogisticRegression(max_iter=3000)
    plain = clf.fit(Xs, ys).score(Xt, yt)
    assert KLIEP(clf).fit(Xs, ys, Xt).score(Xt, yt) > plain + 0.05

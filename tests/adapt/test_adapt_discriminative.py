"""Importance weights from a domain classifier."""

from __future__ import annotations

import numpy as np
import pytest
from adapt_testdata import covariate_shift_digits
from scipy.stats import spearmanr
from sklearn.linear_model import LogisticRegression

from transferkit.adapt import DiscriminativeWeighting
from transferkit.adapt.base import cap_weights


def test_weights_follow_the_density_ratio_and_are_clipped():
    rng = np.random.default_rng(0)
    Xs = rng.normal(0.0, 1.0, size=(600, 3))
    Xt = rng.normal(0.7, 1.0, size=(300, 3))
    true_log_ratio = Xs @ np.full(3, 0.7)  # equal covariances: log p_t/p_s is linear
    ys = (Xs[:, 0] > 0).astype(int)
    model = DiscriminativeWeighting(clip=3.0).fit(Xs, ys, Xt)
    assert spearmanr(model.weights_, true_log_ratio).statistic > 0.9
    assert model.weights_.mean() == pytest.approx(1.0)
    assert model.weights_.max() == pytest.approx(3.0)  # capped, and the cap binds
    unclipped = DiscriminativeWeighting(clip=None).fit(Xs, ys, Xt)
    assert unclipped.weights_.max() > 3.0


def test_cap_keeps_the_mean_and_spreads_the_mass():
    w = cap_weights(np.r_[np.full(99, 0.01), 1000.0], 10.0)
    assert w.mean() == pytest.approx(1.0) and w.max() == pytest.approx(10.0)
    assert w[:99].min() > 0.5  # the many small ratios regain weight instead of ~0


@pytest.mark.parametrize("seed", [0, 1])
def test_weights_help_under_real_covariate_shift(seed):
    Xs, ys, Xt, yt = covariate_shift_digits(seed)
    clf = LogisticRegression(max_iter=3000)
    plain = clf.fit(Xs, ys).score(Xt, yt)
    assert DiscriminativeWeighting(clf).fit(Xs, ys, Xt).score(Xt, yt) > plain + 0.05
